"""The SageMaker control plane against a real server: the server's controllers run the job for real.

Until the HTTP dispatch lands, the operations are called through ``handle`` on a Platform opened on
the server's own home (same database, same encrypted store); the server runs what they create.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator

import httpx
import pytest

from slipway.compat import object_key
from slipway.services import Platform
from slipway.settings import Settings
from tests.support.sagemaker import (
    ROLE,
    SKLEARN_IMAGE,
    XGBOOST_IMAGE,
    call,
    put_object,
    training_request,
    tuning_request,
    upload_training_inputs,
    wait,
)
from tests.support.servers import SlipwayServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.warm_spare  # deploys endpoints: keep the warm spare replica (tests/conftest.py)


@pytest.fixture
def server(sqlite_server: SlipwayServer) -> SlipwayServer:
    return sqlite_server


@pytest.fixture
def sm(server: SlipwayServer) -> Iterator[Platform]:
    p = Platform(Settings.load(env={}, home=server.home, port=8080))
    yield p
    p.close()


def test_train_deploy_update_delete(sm: Platform, server: SlipwayServer) -> None:
    upload_training_inputs(sm, "sm-sklearn")
    call(sm, "CreateTrainingJob", training_request("sm-sklearn"))
    upload_training_inputs(sm, "sm-tune")
    call(sm, "CreateHyperParameterTuningJob", tuning_request("sm-tune"))  # its trials run beside the rest
    rows = "".join(f"{int(i % 7 > 3)},{i % 7},{(i * 3) % 5}\n" for i in range(60))  # headerless, target first
    put_object(sm, "s3://sm-bucket/xgb/train/part-0.csv", rows.encode())
    call(sm, "CreateTrainingJob", training_request(
        "sm-xgb", AlgorithmSpecification={"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"num_round": "5", "objective": "binary:logistic", "max_depth": "3"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://sm-bucket/xgb/train"}}}]))
    wait(sm, "TrainingJobCompletedOrStopped", TrainingJobName="sm-sklearn")
    d = call(sm, "DescribeTrainingJob", {"TrainingJobName": "sm-sklearn"})
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert [t["Status"] for t in d["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert {m["MetricName"] for m in d["FinalMetricDataList"]} >= {"train:accuracy"}
    uri = d["ModelArtifacts"]["S3ModelArtifacts"]
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    with tarfile.open(fileobj=io.BytesIO(sm.store.read_bytes(object_key(bucket, key)))) as tar:
        assert "model.joblib" in tar.getnames()

    # the job's model serves behind an endpoint; an update to another model drops no request
    for model in ("sm-model-1", "sm-model-2"):
        call(sm, "CreateModel", {"ModelName": model, "ExecutionRoleArn": ROLE, "PrimaryContainer": {
            "Image": SKLEARN_IMAGE, "ModelDataUrl": uri,
            "Environment": {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": d["HyperParameters"][
                "sagemaker_submit_directory"].strip('"')}}})
        call(sm, "CreateEndpointConfig", {"EndpointConfigName": f"{model}-cfg", "ProductionVariants": [
            {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 3 - int(model[-1]),
             "InstanceType": "ml.m5.large"}]})  # the first model on 2 instances, the second on 1
    assert sm.registry.get("sm-model-1:1").lineage["job"] == "sm-sklearn"
    call(sm, "CreateEndpoint", {"EndpointName": "sm-ep", "EndpointConfigName": "sm-model-1-cfg"})
    wait(sm, "EndpointInService", EndpointName="sm-ep")
    # InitialInstanceCount 2: two replicas serve, and Describe counts the ready ones
    d = call(sm, "DescribeEndpoint", {"EndpointName": "sm-ep"})
    assert d["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    assert d["ProductionVariants"][0]["DesiredInstanceCount"] == 2
    assert sum(r.status == "Ready" for r in sm.endpoints.get("sm-ep").replicas) == 2
    with server.http() as http:
        def invoke() -> httpx.Response:
            return http.post("/endpoints/sm-ep/invocations", content=b"[[1, 2], [6, 0]]",
                             headers={"Content-Type": "application/json", "Accept": "application/json"})

        r = invoke()
        assert r.status_code == 200 and len(r.json()) == 2, r.text
        call(sm, "UpdateEndpoint", {"EndpointName": "sm-ep", "EndpointConfigName": "sm-model-2-cfg"})
        assert call(sm, "DescribeEndpoint", {"EndpointName": "sm-ep"})["EndpointStatus"] == "Updating"
        statuses = []
        while call(sm, "DescribeEndpoint", {"EndpointName": "sm-ep"})["EndpointStatus"] == "Updating":
            statuses.append(invoke().status_code)
        assert statuses and set(statuses) == {200}
    d = call(sm, "DescribeEndpoint", {"EndpointName": "sm-ep"})
    assert d["EndpointStatus"] == "InService" and d["EndpointConfigName"] == "sm-model-2-cfg"
    assert sm.endpoints.get("sm-ep").live["variants"][0]["model"] == "sm-model-2:1"
    assert d["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    call(sm, "UpdateEndpointWeightsAndCapacities", {"EndpointName": "sm-ep", "DesiredWeightsAndCapacities": [
        {"VariantName": "AllTraffic", "DesiredInstanceCount": 2}]})
    d = call(sm, "DescribeEndpoint", {"EndpointName": "sm-ep"})
    assert d["EndpointStatus"] == "Updating" and d["ProductionVariants"][0]["DesiredInstanceCount"] == 2
    assert sm.endpoints.get("sm-ep").desired["variants"][0]["model"] == "sm-model-2:1"  # the same model
    call(sm, "DeleteEndpoint", {"EndpointName": "sm-ep"})
    wait(sm, "EndpointDeleted", EndpointName="sm-ep")

    # SageMaker's XGBoost image ran as Slipway's built-in xgboost
    wait(sm, "TrainingJobCompletedOrStopped", TrainingJobName="sm-xgb")
    d = call(sm, "DescribeTrainingJob", {"TrainingJobName": "sm-xgb"})
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    bucket, _, key = d["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").partition("/")
    assert sm.store.exists(object_key(bucket, key))

    # the tuning job's trials are training jobs, listed per trial with their objective
    def tuned() -> bool:
        d = call(sm, "DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": "sm-tune"})
        return d["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped")

    wait_for(tuned, timeout=300, what="the tuning job to end")
    d = call(sm, "DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": "sm-tune"})
    assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
    assert d["TrainingJobStatusCounters"]["Completed"] == 4 and d["ObjectiveStatusCounters"]["Succeeded"] == 4
    trials = call(sm, "ListTrainingJobsForHyperParameterTuningJob", {
        "HyperParameterTuningJobName": "sm-tune", "SortBy": "FinalObjectiveMetricValue"})["TrainingJobSummaries"]
    assert len(trials) == 4 and {t["TrainingJobStatus"] for t in trials} == {"Completed"}
    assert d["BestTrainingJob"]["TrainingJobName"] == trials[0]["TrainingJobName"]
    assert float(trials[0]["TunedHyperParameters"]["C"]) > 0
    # a trial describes as the SDK's attach() needs it (the definition with the trial's values) and deploys
    best = call(sm, "DescribeTrainingJob", {"TrainingJobName": trials[0]["TrainingJobName"]})
    assert best["HyperParameters"]["sagemaker_program"] == '"train.py"' and "C" in best["HyperParameters"]
    assert best["RoleArn"] == ROLE and best["AlgorithmSpecification"]["TrainingImage"] == SKLEARN_IMAGE
    trial_uri = best["ModelArtifacts"]["S3ModelArtifacts"]
    assert trial_uri == f"s3://sm-bucket/output/{best['TrainingJobName']}/output/model.tar.gz"
    call(sm, "CreateModel", {"ModelName": "sm-best", "ExecutionRoleArn": ROLE,
                             "PrimaryContainer": {"Image": SKLEARN_IMAGE, "ModelDataUrl": trial_uri}})
    assert sm.registry.get("sm-best:1").lineage["job"] == best["TrainingJobName"]
