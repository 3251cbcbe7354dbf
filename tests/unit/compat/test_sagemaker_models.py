"""SageMaker models, endpoint configs and endpoints through ``handle`` on a real platform.

Replicas run in tests/integration/test_sagemaker.py; here: what each operation records in Slipway's
registry and endpoints, what it answers, and the bad input SageMaker refuses.
"""

from __future__ import annotations

import io
import tarfile

from slipway.services import Platform
from tests.support.sagemaker import ROLE, SKLEARN_IMAGE, call, model_archive, put_object, refused, sourcedir

INFERENCE = '''\
import os
import joblib

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

if __name__ == "__main__":
    raise SystemExit("training code must not run at serving")
'''


def _create_model(platform: Platform, name: str) -> None:
    call(platform, "CreateModel", {
        "ModelName": name, "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": SKLEARN_IMAGE, "ModelDataUrl": "s3://b/m/model.tar.gz",
                             "Environment": {"SAGEMAKER_PROGRAM": "train.py",
                                             "SAGEMAKER_SUBMIT_DIRECTORY": "s3://b/m/sourcedir.tar.gz"}},
        "Tags": [{"Key": "team", "Value": "ml"}]})


def test_model_endpoint_config_and_endpoint_map_onto_slipway(platform: Platform) -> None:
    put_object(platform, "s3://b/m/model.tar.gz", model_archive())
    put_object(platform, "s3://b/m/sourcedir.tar.gz", sourcedir({"train.py": INFERENCE}))
    _create_model(platform, "sk-model")
    version = platform.registry.get("sk-model:1")
    assert version.framework == "sklearn" and version.source["model_data_url"] == "s3://b/m/model.tar.gz"
    _, key = platform.registry.artifact("sk-model:1")
    with tarfile.open(fileobj=io.BytesIO(platform.store.read_bytes(key))) as tar:
        assert {"model.joblib", "code/train.py", "code/inference.py"} <= set(tar.getnames())
    d = call(platform, "DescribeModel", {"ModelName": "sk-model"})
    assert d["ModelArn"].endswith(":model/sk-model") and d["PrimaryContainer"]["Image"] == SKLEARN_IMAGE
    refused(platform, "CreateModel", {"ModelName": "sk-model", "ExecutionRoleArn": ROLE, "PrimaryContainer": {
        "Image": SKLEARN_IMAGE, "ModelDataUrl": "s3://b/m/model.tar.gz"}}, match="already existing")
    assert [m["ModelName"] for m in call(platform, "ListModels", {"NameContains": "sk-"})["Models"]] == ["sk-model"]

    call(platform, "CreateEndpointConfig", {"EndpointConfigName": "cfg-1", "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "sk-model", "InitialInstanceCount": 2, "InstanceType": "ml.m5.large",
         "InitialVariantWeight": 1.0}]})
    d = call(platform, "DescribeEndpointConfig", {"EndpointConfigName": "cfg-1"})
    assert d["ProductionVariants"][0]["ModelName"] == "sk-model"
    call(platform, "CreateEndpoint", {"EndpointName": "sk-ep", "EndpointConfigName": "cfg-1"})
    ep = platform.endpoints.get("sk-ep")
    assert ep.desired["variants"][0]["model"] == "sk-model:1" and ep.desired["variants"][0]["replicas"] == 2
    d = call(platform, "DescribeEndpoint", {"EndpointName": "sk-ep"})
    assert d["EndpointStatus"] == "Creating" and d["EndpointConfigName"] == "cfg-1"
    assert d["ProductionVariants"] == [{"VariantName": "AllTraffic", "CurrentWeight": 0.0, "DesiredWeight": 1.0,
                                        "CurrentInstanceCount": 0, "DesiredInstanceCount": 2}]
    refused(platform, "UpdateEndpoint", {"EndpointName": "sk-ep", "EndpointConfigName": "cfg-1"},
            match="in-progress")
    refused(platform, "UpdateEndpointWeightsAndCapacities", {"EndpointName": "sk-ep", "DesiredWeightsAndCapacities": [
        {"VariantName": "AllTraffic", "DesiredInstanceCount": 1}]}, match="in-progress")
    out = call(platform, "ListEndpoints", {"StatusEquals": "Creating"})
    assert [e["EndpointName"] for e in out["Endpoints"]] == ["sk-ep"]
    call(platform, "DeleteEndpoint", {"EndpointName": "sk-ep"})
    assert call(platform, "DescribeEndpoint", {"EndpointName": "sk-ep"})["EndpointStatus"] == "Deleting"
    call(platform, "DeleteEndpointConfig", {"EndpointConfigName": "cfg-1"})
    refused(platform, "DescribeEndpointConfig", {"EndpointConfigName": "cfg-1"}, match="Could not find")


def test_bad_model_and_endpoint_requests(platform: Platform) -> None:
    refused(platform, "CreateModel", {"ModelName": "m", "ExecutionRoleArn": ROLE, "PrimaryContainer": {
        "Image": SKLEARN_IMAGE, "ModelDataUrl": "s3://b/missing/model.tar.gz"}}, match="Could not access model data")
    refused(platform, "CreateModel", {"ModelName": "m", "ExecutionRoleArn": ROLE, "PrimaryContainer": {
        "Image": SKLEARN_IMAGE}}, match="ModelDataUrl is required")
    put_object(platform, "s3://b/bad/model.tar.gz", b"not a tar")
    refused(platform, "CreateModel", {"ModelName": "m", "ExecutionRoleArn": ROLE, "PrimaryContainer": {
        "Image": SKLEARN_IMAGE, "ModelDataUrl": "s3://b/bad/model.tar.gz"}}, match="not a model.tar.gz")
    refused(platform, "CreateModel", {"ModelName": "bad name", "PrimaryContainer": {"Image": SKLEARN_IMAGE}},
            match="regular expression")
    refused(platform, "DescribeModel", {"ModelName": "m"}, match="Could not find model")
    refused(platform, "CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [
        {"VariantName": "v", "ModelName": "nope", "InitialInstanceCount": 1}]}, match="Could not find model")
    refused(platform, "CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": []},
            match="ProductionVariants")
    for count in (65, 0):  # one replica per instance, within the platform's bound per variant
        refused(platform, "CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [
            {"VariantName": "v", "ModelName": "nope", "InitialInstanceCount": count}]},
            match="initialInstanceCount|InitialInstanceCount")
    refused(platform, "CreateEndpoint", {"EndpointName": "e", "EndpointConfigName": "nope"},
            match="Could not find endpoint configuration")
    refused(platform, "DescribeEndpoint", {"EndpointName": "nope"}, match="not found")
    refused(platform, "DeleteEndpoint", {"EndpointName": "nope"}, match="not found")


def test_serverless_config_is_a_scale_to_zero_endpoint_capped_at_max_concurrency(platform: Platform) -> None:
    put_object(platform, "s3://b/m/model.tar.gz", model_archive())
    put_object(platform, "s3://b/m/sourcedir.tar.gz", sourcedir({"train.py": INFERENCE}))
    _create_model(platform, "sl-model")
    serverless = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    call(platform, "CreateEndpointConfig", {"EndpointConfigName": "sl-cfg", "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "sl-model", "ServerlessConfig": serverless}]})
    call(platform, "CreateEndpoint", {"EndpointName": "sl-ep", "EndpointConfigName": "sl-cfg"})
    scaling = platform.endpoints.get("sl-ep").desired["scaling"]
    assert scaling["serverless"] is True and scaling["min_replicas"] == 0 and scaling["max_concurrency"] == 5
    d = call(platform, "DescribeEndpoint", {"EndpointName": "sl-ep"})
    assert d["ProductionVariants"][0]["DesiredServerlessConfig"] == serverless
    # Bad updates are refused before the endpoint's state is looked at (it is still Creating here).
    for value in (0, 201):
        refused(platform, "UpdateEndpointWeightsAndCapacities", {"EndpointName": "sl-ep", "DesiredWeightsAndCapacities": [
            {"VariantName": "AllTraffic", "ServerlessUpdateConfig": {"MaxConcurrency": value}}]},
            match="(?i)desiredWeightsAndCapacities.*serverlessUpdateConfig.*maxConcurrency")

    # ProvisionedConcurrency: one replica kept warm (never cold), still capped.
    call(platform, "CreateEndpointConfig", {"EndpointConfigName": "pc-cfg", "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "sl-model",
         "ServerlessConfig": {**serverless, "ProvisionedConcurrency": 2}}]})
    call(platform, "CreateEndpoint", {"EndpointName": "pc-ep", "EndpointConfigName": "pc-cfg"})
    scaling = platform.endpoints.get("pc-ep").desired["scaling"]
    assert scaling["serverless"] is False and scaling["min_replicas"] == 1 and scaling["max_concurrency"] == 5

    def variant(**kw: object) -> dict[str, object]:
        return {"EndpointConfigName": "bad", "ProductionVariants": [{"VariantName": "v", "ModelName": "sl-model", **kw}]}

    refused(platform, "CreateEndpointConfig", variant(ServerlessConfig={"MemorySizeInMB": 2048, "MaxConcurrency": 201}),
            match="(?i)serverlessConfig.maxConcurrency' failed to satisfy constraint.* 200")
    refused(platform, "CreateEndpointConfig", variant(ServerlessConfig={"MemorySizeInMB": 512, "MaxConcurrency": 1}),
            match="(?i)serverlessConfig.memorySizeInMB")
    refused(platform, "CreateEndpointConfig", variant(ServerlessConfig=serverless, InitialInstanceCount=1),
            match="one or the other")
    refused(platform, "CreateEndpointConfig", variant(ServerlessConfig={**serverless, "ProvisionedConcurrency": 9}),
            match="must not exceed MaxConcurrency")
    refused(platform, "CreateEndpointConfig", {"EndpointConfigName": "bad", "ProductionVariants": [
        {"VariantName": "a", "ModelName": "sl-model", "ServerlessConfig": serverless},
        {"VariantName": "b", "ModelName": "sl-model", "InitialInstanceCount": 1}]}, match="got a mix")
    refused(platform, "CreateEndpointConfig", variant(ServerlessConfig=serverless, ModelName="nope"),
            match="Could not find model")
    for name in ("sl-ep", "pc-ep"):
        call(platform, "DeleteEndpoint", {"EndpointName": name})
