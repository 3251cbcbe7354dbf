"""SageMaker training operations through ``handle`` on a real platform (SQLite, encrypted store).

The job itself runs in tests/integration/test_sagemaker.py; here: what Create writes, Describe,
List, Stop answer, and every kind of bad input refused as SageMaker refuses it.
"""

from __future__ import annotations

from slipway.compat import object_key
from slipway.compat.sagemaker.training import instance_gpus
from slipway.services import Platform
from tests.support.sagemaker import (
    XGBOOST_IMAGE,
    call,
    put_object,
    refused,
    training_request,
    upload_training_inputs,
)


def test_create_maps_script_mode_onto_a_slipway_job(platform: Platform) -> None:
    upload_training_inputs(platform, "sk-1")
    out = call(platform, "CreateTrainingJob", training_request("sk-1"))
    assert out["TrainingJobArn"] == "arn:aws:sagemaker:us-east-1:000000000000:training-job/sk-1"
    job = platform.training.get("sk-1")
    assert (job.kind, job.framework, job.entry_point) == ("script", "sklearn", "train.py")
    assert job.hyperparameters == {"C": 0.5}  # JSON-decoded, sagemaker_* kept out
    assert (job.cpus, job.gpus) == (None, None)  # ml.m5.large: a CPU instance; its vCPUs are not asked
    train = platform.datasets.get(job.inputs["train"])
    assert train.kind == "folder" and train.name == "sk-1-train"

    d = call(platform, "DescribeTrainingJob", {"TrainingJobName": "sk-1"})
    assert d["TrainingJobStatus"] == "InProgress" and d["SecondaryStatus"] == "Starting"
    assert d["ModelArtifacts"]["S3ModelArtifacts"] == "s3://sm-bucket/output/sk-1/output/model.tar.gz"
    assert d["HyperParameters"]["sagemaker_program"] == '"train.py"'
    assert d["SecondaryStatusTransitions"][0]["Status"] == "Starting"

    refused(platform, "CreateTrainingJob", training_request("sk-1"), "ResourceInUse", "already exists")
    call(platform, "StopTrainingJob", {"TrainingJobName": "sk-1"})
    d = call(platform, "DescribeTrainingJob", {"TrainingJobName": "sk-1"})
    assert d["TrainingJobStatus"] == "Stopped"
    refused(platform, "StopTrainingJob", {"TrainingJobName": "sk-1"}, match="already ended")


def test_a_gpu_instance_type_asks_its_gpus_and_no_instance_asks_its_vcpus(platform: Platform) -> None:
    assert [instance_gpus(t) for t in ("ml.g4dn.xlarge", "ml.g5.12xlarge", "ml.g5.48xlarge", "ml.p3.2xlarge",
                                       "ml.p3.16xlarge", "ml.p4d.24xlarge", "ml.m5.4xlarge", "ml.c5.xlarge",
                                       "local", "", None)] == [1, 4, 8, 1, 8, 8, 0, 0, 0, 0, 0]
    upload_training_inputs(platform, "sk-gpu")
    body = training_request("sk-gpu", ResourceConfig={"InstanceType": "ml.g5.12xlarge", "InstanceCount": 1,
                                                      "VolumeSizeInGB": 30})
    call(platform, "CreateTrainingJob", body)
    job = platform.training.get("sk-gpu")
    assert (job.cpus, job.gpus) == (None, 4)  # the local executor runs it here; Ray would place it on 4 GPUs
    d = call(platform, "DescribeTrainingJob", {"TrainingJobName": "sk-gpu"})
    assert d["ResourceConfig"]["InstanceType"] == "ml.g5.12xlarge"


def test_builtin_xgboost_image_maps_to_the_xgboost_algorithm(platform: Platform) -> None:
    rows = "".join(f"{int(i % 7 > 3)},{i % 7},{(i * 3) % 5}\n" for i in range(40))
    put_object(platform, "s3://b/xgb/train/train.csv", rows.encode())
    body = training_request("xgb-1", bucket="b", AlgorithmSpecification={"TrainingImage": XGBOOST_IMAGE,
                                                                          "TrainingInputMode": "File"},
                            HyperParameters={"num_round": "5", "objective": "binary:logistic", "max_depth": "3",
                                             "_tuning_objective_metric": '"validation:auc"'},
                            InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {
                                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/xgb/train"}}}])
    call(platform, "CreateTrainingJob", body)
    job = platform.training.get("xgb-1")
    assert (job.kind, job.algorithm) == ("algorithm", "xgboost")
    assert job.hyperparameters["num_round"] == 5
    assert (job.label, job.problem_type) == ("label", "binary_classification")
    train = platform.datasets.get(job.inputs["train"])  # headerless CSV, target first, as SageMaker's built-ins
    assert train.rows == 40 and [c.name for c in train.schema_] == ["label", "f1", "f2"]

    kmeans = dict(body, TrainingJobName="km-1", HyperParameters={"k": "3", "feature_dim": "3"},
                  AlgorithmSpecification={"TrainingImage": "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1",
                                          "TrainingInputMode": "File"})
    call(platform, "CreateTrainingJob", kmeans)
    job = platform.training.get("km-1")
    assert (job.algorithm, job.hyperparameters["n_clusters"], job.label) == ("kmeans", 3, None)

    put_object(platform, "s3://b/xgb/headed/train.csv", b"y,a,b\n" + rows.encode())
    headed = dict(body, TrainingJobName="xgb-2", InputDataConfig=[{"ChannelName": "train", "DataSource": {
        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/xgb/headed"}}}])
    refused(platform, "CreateTrainingJob", headed, match="headerless numeric CSV")
    libsvm = dict(body, TrainingJobName="xgb-2", InputDataConfig=[dict(body["InputDataConfig"][0],
                                                                       ContentType="text/libsvm")])
    refused(platform, "CreateTrainingJob", libsvm, match="text/libsvm")


def test_list_filters_sorts_and_pages(platform: Platform) -> None:
    for name in ("list-a", "list-b", "other-c"):
        upload_training_inputs(platform, name)
        call(platform, "CreateTrainingJob", training_request(name))
    call(platform, "StopTrainingJob", {"TrainingJobName": "list-b"})
    out = call(platform, "ListTrainingJobs", {"NameContains": "LIST", "SortBy": "Name", "SortOrder": "Ascending"})
    assert [j["TrainingJobName"] for j in out["TrainingJobSummaries"]] == ["list-a", "list-b"]
    out = call(platform, "ListTrainingJobs", {"StatusEquals": "Stopped"})
    assert [j["TrainingJobName"] for j in out["TrainingJobSummaries"]] == ["list-b"]
    first = call(platform, "ListTrainingJobs", {"MaxResults": 2, "SortBy": "Name", "SortOrder": "Ascending"})
    assert len(first["TrainingJobSummaries"]) == 2 and first["NextToken"]
    rest = call(platform, "ListTrainingJobs", {"MaxResults": 2, "SortBy": "Name", "SortOrder": "Ascending",
                                               "NextToken": first["NextToken"]})
    assert [j["TrainingJobName"] for j in rest["TrainingJobSummaries"]] == ["other-c"] and "NextToken" not in rest
    refused(platform, "ListTrainingJobs", {"NextToken": "nonsense"}, match="NextToken")
    refused(platform, "ListTrainingJobs", {"StatusEquals": "Running"}, match="enum value set")
    refused(platform, "ListTrainingJobs", {"MaxResults": 1000}, match="less than or equal to 100")


def test_bad_training_requests_are_validation_errors(platform: Platform) -> None:
    upload_training_inputs(platform, "bad")
    refused(platform, "CreateTrainingJob", training_request("bad_name"), match="regular expression pattern")
    refused(platform, "CreateTrainingJob", {"TrainingJobName": "bad"}, match="Missing required parameter")
    refused(platform, "CreateTrainingJob", training_request("bad", StoppingCondition={"MaxRuntimeInSeconds": "x"}),
            match="MaxRuntimeInSeconds")
    body = training_request("bad", AlgorithmSpecification={"TrainingImage": "123.dkr.ecr.us-east-1.amazonaws.com/"
                                                                           "blazingtext:1", "TrainingInputMode": "File"},
                            HyperParameters={})
    err = refused(platform, "CreateTrainingJob", body, match="blazingtext")
    assert "sagemaker-xgboost" in err.message and "linear-learner" in err.message
    hps = dict(training_request("bad")["HyperParameters"], sagemaker_submit_directory='"s3://sm-bucket/nope.tar.gz"')
    refused(platform, "CreateTrainingJob", training_request("bad", HyperParameters=hps), match="does not exist")
    channels = [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                                         "S3Uri": "s3://sm-bucket/empty/"}}}]
    refused(platform, "CreateTrainingJob", training_request("bad", InputDataConfig=channels), match="no objects")
    hps = dict(training_request("bad")["HyperParameters"], sagemaker_program='"missing.py"')
    refused(platform, "CreateTrainingJob", training_request("bad", HyperParameters=hps), match="missing.py")
    # nothing half-made is left behind: the name is still free
    call(platform, "CreateTrainingJob", training_request("bad"))
    refused(platform, "DescribeTrainingJob", {"TrainingJobName": "never"}, "ResourceNotFound", "not found")
    refused(platform, "SomethingElse", {}, "UnknownOperationException")
    assert platform.store.exists(object_key("sm-bucket", "bad/source/sourcedir.tar.gz"))
