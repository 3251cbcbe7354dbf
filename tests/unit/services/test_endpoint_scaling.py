"""Autoscaling settings in the endpoint service: rules across fields, bad input named, decisions kept bounded."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from slipway.errors import InvalidArgument, NotFound
from slipway.schemas import EndpointRequest, ScalingSpec, VariantSpec
from slipway.services import Platform
from slipway.services.endpoints import SCALING_EVENTS_KEPT

ONE = [VariantSpec(model="cancer:1")]


def test_min_above_max_is_refused_naming_the_field(platform: Platform) -> None:
    with pytest.raises(InvalidArgument, match="min_replicas 5 is above max_replicas 2") as e:
        platform.endpoints.create("ep", ONE, scaling=ScalingSpec(min_replicas=5, max_replicas=2))
    assert e.value.details["field"] == "min_replicas" and e.value.details["value"] == 5


def test_serverless_with_a_minimum_above_zero_is_refused(platform: Platform) -> None:
    with pytest.raises(InvalidArgument, match="serverless endpoint scales to zero") as e:
        platform.endpoints.create("ep", ONE, scaling=ScalingSpec(serverless=True, min_replicas=2))
    assert e.value.details["field"] == "min_replicas"


@pytest.mark.parametrize(("field", "value"), [("target_inflight", 0), ("target_inflight", -1), ("max_replicas", 0),
                                              ("min_replicas", -1), ("scale_in_after", 0), ("queue_timeout", 0),
                                              ("max_concurrency", 0), ("queue_size", 0)])
def test_out_of_range_settings_are_refused_by_the_schema(field: str, value: float) -> None:
    with pytest.raises(ValidationError) as e:
        EndpointRequest.model_validate({"variants": [{"model": "cancer:1"}], "scaling": {field: value}})
    assert e.value.errors()[0]["loc"] == ("scaling", field)


def test_update_with_nothing_to_change_and_scaling_of_a_missing_endpoint(platform: Platform) -> None:
    with pytest.raises(InvalidArgument, match="Nothing to change") as e:
        platform.endpoints.update("ep", None)
    assert e.value.details["field"] == "variants"
    with pytest.raises(InvalidArgument, match="not both"):
        platform.endpoints.update("ep", None, scaling=ScalingSpec(), fixed=True)
    with pytest.raises(NotFound, match="Endpoint 'ep' not found"):
        platform.endpoints.update("ep", None, scaling=ScalingSpec(max_replicas=3))


def test_scaling_events_are_kept_bounded_per_endpoint(platform: Platform) -> None:
    for i in range(SCALING_EVENTS_KEPT + 25):
        platform.endpoints.record_scaling("ep", i, i + 1, f"decision {i}", {"load": i})
    platform.endpoints.record_cold_start("other", "cancer:1", 1.5)
    assert platform.endpoints.scaling_events("ep") == SCALING_EVENTS_KEPT
    assert platform.endpoints.scaling_events("other") == 1
