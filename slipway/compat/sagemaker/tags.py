"""AddTags, ListTags, DeleteTags on any SageMaker resource by its ARN.

Tags live on the resource's ``sagemaker_resources`` row; a Slipway job, endpoint, tuning job or model
made outside the SageMaker API gets a row the first time it is tagged. SageMaker lower-cases names in
ARNs, so a name is looked up without regard to case.
"""

from __future__ import annotations

from typing import Any

from slipway.compat.errors import AwsError
from slipway.compat.sagemaker.context import Call
from slipway.compat.sagemaker.shapes import clean, page, parse_arn

MAX_TAGS = 50


def _slipway_name(call: Call, kind: str, lname: str) -> str | None:
    """The name of a Slipway object of ``kind`` whose lower-cased name is ``lname`` (made outside this API)."""
    from slipway.errors import NotFound

    p = call.platform
    getters = {"training-job": p.training.get, "endpoint": p.endpoints.get, "hyper-parameter-tuning-job": p.tuning.get,
               "transform-job": p.transforms.get}
    get = getters.get(kind)
    if get is None:
        return None
    try:
        return str(get(lname).name)
    except (NotFound, Exception):  # noqa: BLE001 - an invalid name is simply not found
        return None


def resource_name(call: Call, resource_arn: str) -> tuple[str, str]:
    kind, lname = parse_arn(resource_arn)
    for r in call.resources.list(kind):
        if r["name"].lower() == lname:
            return kind, r["name"]
    name = _slipway_name(call, kind, lname)
    if name is None:
        raise AwsError("ValidationException", f"Resource {resource_arn} does not exist.")
    call.resources.ensure(kind, name, name)
    return kind, name


def add_tags(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    kind, name = resource_name(call, body["ResourceArn"])
    tags = call.resources.get(kind, name)["tags"]
    tags.update({t["Key"]: t.get("Value", "") for t in body["Tags"]})
    if len(tags) > MAX_TAGS:
        raise AwsError("ResourceLimitExceeded", f"A resource can have at most {MAX_TAGS} tags; this would give it "
                                                f"{len(tags)}.")
    call.resources.update(kind, name, tags=tags)
    return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}


def delete_tags(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    kind, name = resource_name(call, body["ResourceArn"])
    tags = call.resources.get(kind, name)["tags"]
    for key in body["TagKeys"]:
        tags.pop(key, None)
    call.resources.update(kind, name, tags=tags)
    return {}


def list_tags(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    kind, name = resource_name(call, body["ResourceArn"])
    tags = [{"Key": k, "Value": v} for k, v in sorted(call.resources.get(kind, name)["tags"].items())]
    chunk, token = page(tags, body, default=50)
    return clean({"Tags": chunk, "NextToken": token})


OPERATIONS = {"AddTags": add_tags, "DeleteTags": delete_tags, "ListTags": list_tags}
