"""SageMaker tuning jobs and tags through ``handle`` on a real platform (trials run in the integration test)."""

from __future__ import annotations

from slipway.services import Platform
from tests.support.sagemaker import call, refused, training_request, tuning_request, upload_training_inputs


def test_tuning_job_maps_onto_a_slipway_tuning_job(platform: Platform) -> None:
    upload_training_inputs(platform, "tune-1")
    call(platform, "CreateHyperParameterTuningJob", tuning_request("tune-1"))
    view = platform.tuning.get("tune-1")
    assert (view.strategy, view.objective, view.maximize, view.max_trials, view.max_parallel) == (
        "random", "train:accuracy", True, 4, 2)
    assert view.ranges["C"].startswith("0.01") and "log" in view.ranges["C"]
    d = call(platform, "DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": "tune-1"})
    assert d["HyperParameterTuningJobStatus"] == "InProgress"
    assert d["TrainingJobDefinition"]["StaticHyperParameters"]["sagemaker_program"] == '"train.py"'
    out = call(platform, "ListHyperParameterTuningJobs", {"NameContains": "tune"})
    assert [j["HyperParameterTuningJobName"] for j in out["HyperParameterTuningJobSummaries"]] == ["tune-1"]
    out = call(platform, "ListTrainingJobsForHyperParameterTuningJob", {"HyperParameterTuningJobName": "tune-1"})
    assert out["TrainingJobSummaries"] == []
    call(platform, "StopHyperParameterTuningJob", {"HyperParameterTuningJobName": "tune-1"})
    d = call(platform, "DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": "tune-1"})
    assert d["HyperParameterTuningJobStatus"] == "Stopping"
    refused(platform, "CreateHyperParameterTuningJob", tuning_request("tune-1"), "ResourceInUse", "already exists")


def test_bad_tuning_requests(platform: Platform) -> None:
    upload_training_inputs(platform, "tune-bad")
    refused(platform, "CreateHyperParameterTuningJob", tuning_request("t" * 33), match="length less than")
    refused(platform, "CreateHyperParameterTuningJob", tuning_request("tune-bad", Strategy="Hyperband"),
            match="Hyperband")
    refused(platform, "CreateHyperParameterTuningJob",
            tuning_request("tune-bad", ParameterRanges={"ContinuousParameterRanges": [
                {"Name": "C", "MinValue": "10", "MaxValue": "1"}]}), match="C")
    body = tuning_request("tune-bad")
    body["TrainingJobDefinition"]["StaticHyperParameters"]["C"] = "1"
    refused(platform, "CreateHyperParameterTuningJob", body, match="both fixed")
    refused(platform, "DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": "nope"},
            "ResourceNotFound", "not found")
    refused(platform, "StopHyperParameterTuningJob", {"HyperParameterTuningJobName": "nope"}, "ResourceNotFound")


def test_tags_on_any_resource_by_arn(platform: Platform) -> None:
    upload_training_inputs(platform, "Tagged-Job")
    arn = call(platform, "CreateTrainingJob", training_request("Tagged-Job"))["TrainingJobArn"]
    assert arn.endswith(":training-job/tagged-job")  # SageMaker lower-cases names in ARNs
    assert call(platform, "ListTags", {"ResourceArn": arn})["Tags"] == [{"Key": "team", "Value": "ml"}]
    out = call(platform, "AddTags", {"ResourceArn": arn, "Tags": [{"Key": "stage", "Value": "dev"}]})
    assert {"Key": "stage", "Value": "dev"} in out["Tags"]
    call(platform, "DeleteTags", {"ResourceArn": arn, "TagKeys": ["team"]})
    assert call(platform, "ListTags", {"ResourceArn": arn})["Tags"] == [{"Key": "stage", "Value": "dev"}]
    refused(platform, "ListTags", {"ResourceArn": "arn:aws:sagemaker:us-east-1:000000000000:training-job/none"},
            match="does not exist")
    refused(platform, "ListTags", {"ResourceArn": "arn:aws:s3:::bucket"}, match="pattern|not a SageMaker ARN")
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    refused(platform, "AddTags", {"ResourceArn": arn, "Tags": many}, "ResourceLimitExceeded", "at most 50")
