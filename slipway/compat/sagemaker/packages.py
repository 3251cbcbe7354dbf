"""Model packages: CreateModelPackageGroup, Describe/ListModelPackageGroups, CreateModelPackage,
DescribeModelPackage, ListModelPackages, UpdateModelPackage.

A model package group is a Slipway registered model (a model group of the same name); each versioned
model package is one of its versions, registered from the package's container (as CreateModel does)
with its approval status; UpdateModelPackage's approval is Slipway's approve/reject. A CreateModel
whose container names a ModelPackageName serves that very version.
"""

from __future__ import annotations

import re
from typing import Any

from slipway.compat.errors import AwsError
from slipway.compat.sagemaker.context import Call
from slipway.compat.sagemaker.models import register_container
from slipway.compat.sagemaker.shapes import arn, clean, epoch, in_window, matches, page, sort_items

GROUP = "model-package-group"
KIND = "model-package"
_NAME = re.compile(r"^(?:arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:model-package/)?([a-zA-Z0-9-]+)(?:/([0-9]+))?$")


def _user(name: str) -> dict[str, str]:
    return {"UserProfileName": name or "slipway"}


def create_group(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    name = body["ModelPackageGroupName"]
    tags = {t["Key"]: t.get("Value", "") for t in body.get("Tags") or []}
    if call.resources.find(GROUP, name) is not None:
        raise AwsError("ValidationException", f"Model Package Group already exists: {arn(GROUP, name)}")
    call.resources.add(GROUP, name, name, body, tags, call.user)
    return {"ModelPackageGroupArn": arn(GROUP, name)}


def _group(call: Call, name: str) -> dict[str, Any]:
    found = call.resources.find(GROUP, name)
    if found is None:
        raise AwsError("ValidationException", f"Model Package Group {name!r} does not exist.")
    return found


def describe_group(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    g = _group(call, body["ModelPackageGroupName"])
    return clean({"ModelPackageGroupName": g["name"], "ModelPackageGroupArn": arn(GROUP, g["name"]),
                  "ModelPackageGroupDescription": g["spec"].get("ModelPackageGroupDescription"),
                  "CreationTime": epoch(g["created_at"]), "CreatedBy": _user(g["created_by"]),
                  "ModelPackageGroupStatus": "Completed"})


def list_groups(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    items = []
    for g in call.resources.list(GROUP):
        created = epoch(g["created_at"]) or 0.0
        if not matches(body, g["name"]) or not in_window(body, created):
            continue
        items.append(clean({"ModelPackageGroupName": g["name"], "ModelPackageGroupArn": arn(GROUP, g["name"]),
                            "ModelPackageGroupDescription": g["spec"].get("ModelPackageGroupDescription"),
                            "CreationTime": created, "ModelPackageGroupStatus": "Completed"}))
    items = sort_items(items, body, {"CreationTime": "CreationTime", "Name": "ModelPackageGroupName"})
    chunk, token = page(items, body)
    return clean({"ModelPackageGroupSummaryList": chunk, "NextToken": token})


def create_package(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    group = body.get("ModelPackageGroupName")
    if not group:
        raise AwsError("ValidationException", "Slipway keeps versioned model packages only: pass "
                                              "ModelPackageGroupName (unversioned packages are not supported).")
    _group(call, group)
    containers = (body.get("InferenceSpecification") or {}).get("Containers") or []
    if len(containers) != 1:
        raise AwsError("ValidationException", f"InferenceSpecification.Containers needs exactly one container on "
                                              f"Slipway; got {len(containers)}.")
    ref = register_container(call, group, containers[0], "InferenceSpecification.Containers[0]")
    version = int(ref.rsplit(":", 1)[1])
    status = body.get("ModelApprovalStatus") or "PendingManualApproval"
    if status != "PendingManualApproval":
        call.platform.registry.set_approval(ref, status, "set at CreateModelPackage", call.user)
    tags = {t["Key"]: t.get("Value", "") for t in body.get("Tags") or []}
    call.resources.add(KIND, f"{group}/{version}", ref, body, tags, call.user)
    return {"ModelPackageArn": arn(KIND, f"{group}/{version}")}


def _package(call: Call, value: str) -> dict[str, Any]:
    m = _NAME.match(value)
    if not m or m.group(2) is None:
        raise AwsError("ValidationException", f"Model package {value!r} is not a versioned model package. Expected "
                                              "GROUP/VERSION or its ARN.")
    group = next((r["name"] for r in call.resources.list(GROUP) if r["name"].lower() == m.group(1).lower()),
                 m.group(1))
    found = call.resources.find(KIND, f"{group}/{int(m.group(2))}")
    if found is None:
        raise AwsError("ValidationException", f"Model package {value!r} does not exist.")
    return found


def package_ref(call: Call, value: str) -> str:
    return str(_package(call, value)["target"])


def _describe(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    group, version = p["name"].rsplit("/", 1)
    view = call.platform.registry.get(str(p["target"]))
    spec = p["spec"]
    return clean({
        "ModelPackageName": group, "ModelPackageGroupName": group, "ModelPackageVersion": int(version),
        "ModelPackageArn": arn(KIND, p["name"]), "ModelPackageDescription": spec.get("ModelPackageDescription"),
        "CreationTime": epoch(p["created_at"]), "InferenceSpecification": spec.get("InferenceSpecification"),
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": [{"Name": group, "Status": "Completed"}]},
        "CertifyForMarketplace": False, "ModelApprovalStatus": view.approval,
        "ApprovalDescription": view.approval_reason or None, "CreatedBy": _user(p["created_by"]),
        "LastModifiedTime": epoch(view.approval_at or p["updated_at"]),
        "CustomerMetadataProperties": spec.get("CustomerMetadataProperties"),
    })


def describe_package(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    return _describe(call, _package(call, body["ModelPackageName"]))


def list_packages(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("ModelPackageType") == "Unversioned":
        return {"ModelPackageSummaryList": []}
    group = body.get("ModelPackageGroupName")
    items = []
    for p in call.resources.list(KIND):
        name, version = p["name"].rsplit("/", 1)
        created = epoch(p["created_at"]) or 0.0
        if group and name != group.rsplit("/", 1)[-1] or not matches(body, name) or not in_window(body, created):
            continue
        approval = call.platform.registry.get(str(p["target"])).approval
        if body.get("ModelApprovalStatus") and approval != body["ModelApprovalStatus"]:
            continue
        items.append(clean({"ModelPackageName": name, "ModelPackageGroupName": name,
                            "ModelPackageVersion": int(version), "ModelPackageArn": arn(KIND, p["name"]),
                            "ModelPackageDescription": p["spec"].get("ModelPackageDescription"),
                            "CreationTime": created, "ModelPackageStatus": "Completed",
                            "ModelApprovalStatus": approval}))
    items = sort_items(items, body, {"CreationTime": "CreationTime", "Name": "ModelPackageName"})
    chunk, token = page(items, body)
    return clean({"ModelPackageSummaryList": chunk, "NextToken": token})


def update_package(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    p = _package(call, body["ModelPackageArn"])
    unsupported = sorted(set(body) - {"ModelPackageArn", "ModelApprovalStatus", "ApprovalDescription"})
    if unsupported:
        raise AwsError("ValidationException", f"UpdateModelPackage on Slipway changes the approval only; "
                                              f"{', '.join(unsupported)} is not supported.")
    if body.get("ModelApprovalStatus"):
        call.platform.registry.set_approval(str(p["target"]), body["ModelApprovalStatus"],
                                            body.get("ApprovalDescription") or "", call.user)
    call.resources.update(KIND, p["name"])
    return {"ModelPackageArn": arn(KIND, p["name"])}


OPERATIONS = {
    "CreateModelPackageGroup": create_group,
    "DescribeModelPackageGroup": describe_group,
    "ListModelPackageGroups": list_groups,
    "CreateModelPackage": create_package,
    "DescribeModelPackage": describe_package,
    "ListModelPackages": list_packages,
    "UpdateModelPackage": update_package,
}
