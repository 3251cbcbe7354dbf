"""SageMaker model package groups and packages on Slipway's registry (versions, approval)."""

from __future__ import annotations

from slipway.services import Platform
from tests.support.sagemaker import ROLE, SKLEARN_IMAGE, call, model_archive, put_object, refused


def _package(group: str, status: str = "PendingManualApproval") -> dict[str, object]:
    return {"ModelPackageGroupName": group, "ModelApprovalStatus": status, "ModelPackageDescription": "lr",
            "InferenceSpecification": {"Containers": [{"Image": SKLEARN_IMAGE, "ModelDataUrl": "s3://b/p/model.tar.gz"}],
                                       "SupportedContentTypes": ["text/csv"],
                                       "SupportedResponseMIMETypes": ["application/json"]}}


def test_packages_are_registry_versions_with_approval(platform: Platform) -> None:
    put_object(platform, "s3://b/p/model.tar.gz", model_archive())
    call(platform, "CreateModelPackageGroup", {"ModelPackageGroupName": "churn", "ModelPackageGroupDescription": "x"})
    assert call(platform, "DescribeModelPackageGroup", {"ModelPackageGroupName": "churn"})["ModelPackageGroupStatus"] \
        == "Completed"
    first = call(platform, "CreateModelPackage", _package("churn"))["ModelPackageArn"]
    second = call(platform, "CreateModelPackage", _package("churn", "Approved"))["ModelPackageArn"]
    assert first.endswith(":model-package/churn/1") and second.endswith(":model-package/churn/2")
    assert platform.registry.get("churn:1").approval == "PendingManualApproval"
    assert platform.registry.get("churn:2").approval == "Approved"

    d = call(platform, "DescribeModelPackage", {"ModelPackageName": first})
    assert (d["ModelPackageGroupName"], d["ModelPackageVersion"], d["ModelApprovalStatus"]) == (
        "churn", 1, "PendingManualApproval")
    call(platform, "UpdateModelPackage", {"ModelPackageArn": first, "ModelApprovalStatus": "Rejected",
                                          "ApprovalDescription": "worse than v2"})
    assert platform.registry.get("churn:1").approval_reason == "worse than v2"
    d = call(platform, "DescribeModelPackage", {"ModelPackageName": "churn/1"})
    assert d["ModelApprovalStatus"] == "Rejected" and d["ApprovalDescription"] == "worse than v2"
    out = call(platform, "ListModelPackages", {"ModelPackageGroupName": "churn", "ModelApprovalStatus": "Approved"})
    assert [p["ModelPackageVersion"] for p in out["ModelPackageSummaryList"]] == [2]
    out = call(platform, "ListModelPackageGroups", {})
    assert [g["ModelPackageGroupName"] for g in out["ModelPackageGroupSummaryList"]] == ["churn"]

    # a Model made from a package serves that very version
    call(platform, "CreateModel", {"ModelName": "churn-live", "ExecutionRoleArn": ROLE,
                                   "PrimaryContainer": {"ModelPackageName": second}})
    call(platform, "CreateEndpointConfig", {"EndpointConfigName": "churn-cfg", "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "churn-live", "InitialInstanceCount": 1}]})
    call(platform, "CreateEndpoint", {"EndpointName": "churn-ep", "EndpointConfigName": "churn-cfg"})
    assert platform.endpoints.get("churn-ep").desired["variants"][0]["model"] == "churn:2"
    call(platform, "DeleteEndpoint", {"EndpointName": "churn-ep"})
    call(platform, "DeleteModel", {"ModelName": "churn-live"})
    assert call(platform, "DescribeModelPackage", {"ModelPackageName": second})["ModelApprovalStatus"] == "Approved"


def test_bad_package_requests(platform: Platform) -> None:
    refused(platform, "CreateModelPackage", _package("nope"), match="does not exist")
    call(platform, "CreateModelPackageGroup", {"ModelPackageGroupName": "g"})
    refused(platform, "CreateModelPackageGroup", {"ModelPackageGroupName": "g"}, match="already exists")
    refused(platform, "CreateModelPackage", _package("g", "Maybe"), match="enum value set")
    body = _package("g")
    body["InferenceSpecification"] = {"Containers": [], "SupportedContentTypes": [], "SupportedResponseMIMETypes": []}
    refused(platform, "CreateModelPackage", body, match="Containers")
    refused(platform, "DescribeModelPackage", {"ModelPackageName": "g/7"}, match="does not exist")
    refused(platform, "DescribeModelPackage", {"ModelPackageName": "g"}, match="not a versioned")
    refused(platform, "UpdateModelPackage", {"ModelPackageArn": "g/1", "ModelApprovalStatus": "Approved"},
            match="regular expression pattern")
    refused(platform, "UpdateModelPackage", {"ModelPackageArn": "arn:aws:sagemaker:us-east-1:000000000000:"
                                                                "model-package/g/1", "ModelApprovalStatus": "Approved"},
            match="does not exist")
