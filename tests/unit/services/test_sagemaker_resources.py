"""The SageMaker-only records service (``Platform.sagemaker_resources``) on a real SQLite file."""

from __future__ import annotations

import pytest

from slipway.errors import AlreadyExists, NotFound
from slipway.services import Platform


def test_records_add_find_update_delete_with_slipway_errors(platform: Platform) -> None:
    svc = platform.sagemaker_resources
    added = svc.add("model", "m1", "m1:1", {"ModelName": "m1"}, {"team": "a"}, user="admin")
    assert added["target"] == "m1:1" and added["created_by"] == "admin"
    with pytest.raises(AlreadyExists, match='Model "m1" already exists'):
        svc.add("model", "m1", None, {}, {})
    svc.add("endpoint-config", "m1", None, {}, {})  # the same name in another kind is another record
    svc.update("model", "m1", tags={"team": "b"}, target=None)
    got = svc.get("model", "m1")
    assert got["tags"] == {"team": "b"} and got["target"] is None and got["spec"] == {"ModelName": "m1"}
    with pytest.raises(NotFound, match='Could not find model "nope"'):
        svc.get("model", "nope")
    with pytest.raises(NotFound):
        svc.update("model", "nope", tags={})
    svc.ensure("endpoint", "e1", "e1")
    svc.ensure("endpoint", "e1", "e1")
    assert [r["name"] for r in svc.list("endpoint")] == ["e1"]
    svc.delete("model", "m1")
    svc.delete("model", "m1")
    assert svc.find("model", "m1") is None and svc.list("model") == []
