"""Training jobs: CreateTrainingJob, DescribeTrainingJob, ListTrainingJobs, StopTrainingJob.

A SageMaker training job is a Slipway job of the same name. Script mode (the
``sagemaker_submit_directory`` and ``sagemaker_program`` hyperparameters of every framework
estimator) runs the uploaded ``sourcedir.tar.gz``; SageMaker's built-in algorithm images map to
Slipway's built-ins. Each ``S3Uri`` input channel becomes a dataset version (the objects under the
prefix, read from the artifact store), so the job is visible with `slipway jobs` and `slipway data`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from slipway.compat import object_key
from slipway.compat.errors import AwsError
from slipway.compat.sagemaker.context import Call
from slipway.compat.sagemaker.shapes import arn, clean, epoch, every, in_window, matches, page, sort_items
from slipway.schemas import CreateJobRequest
from slipway.schemas.jobs import MetricDefinition
from slipway.services.buckets import BucketError
from slipway.services.dataset_bucket import DATASETS_BUCKET, ref_of_prefix

log = logging.getLogger("slipway.compat.sagemaker")

KIND = "training-job"
DEFAULT_OUTPUT = "s3://slipway-sagemaker/training"

# SageMaker's status for each Slipway job status (Pending jobs are InProgress/Starting to SageMaker).
STATUS = {"Pending": "InProgress", "InProgress": "InProgress", "Completed": "Completed", "Failed": "Failed",
          "Stopping": "Stopping", "Stopped": "Stopped"}
SECONDARY = {"Pending": "Starting"}
SLIPWAY_STATUS = {"InProgress": ("Pending", "InProgress")}

# Framework containers run script mode; the repository name says which framework.
FRAMEWORK_IMAGES = (("sagemaker-scikit-learn", "sklearn"), ("pytorch", "pytorch"), ("sagemaker-xgboost", "xgboost"),
                    ("tensorflow", "keras"), ("huggingface", "pytorch"))
# Built-in algorithm images Slipway runs with its own algorithms.
BUILTIN_IMAGES = ("sagemaker-xgboost", "xgboost", "linear-learner", "kmeans", "pca")
SUPPORTED = ("sagemaker-xgboost (built-in or script mode)", "linear-learner", "kmeans", "pca",
             "sagemaker-scikit-learn, pytorch-training, tensorflow-training (script mode)")
_S3 = re.compile(r"^s3://([^/]+)/?(.*)$")
_CONTENT_FORMATS = {"text/csv": "csv", "csv": "csv", "application/x-parquet": "parquet",
                    "application/jsonlines": "jsonl", "application/x-recordio-protobuf": None}


# GPUs of SageMaker's GPU instance types: sizes with more than one; every other size of a GPU family has one.
_GPU_FAMILY = re.compile(r"^ml\.(p\d+[a-z]*|g\d+[a-z]*)\.(\w+)$")
_MULTI_GPU = {("p2", "8xlarge"): 8, ("p2", "16xlarge"): 16, ("p3", "8xlarge"): 4, ("p3", "16xlarge"): 8,
              ("p3dn", "24xlarge"): 8, ("p4d", "24xlarge"): 8, ("p4de", "24xlarge"): 8, ("p5", "48xlarge"): 8,
              ("p5e", "48xlarge"): 8, ("p5en", "48xlarge"): 8, ("g4dn", "12xlarge"): 4, ("g4dn", "metal"): 8,
              ("g4ad", "16xlarge"): 4, ("g5", "12xlarge"): 4, ("g5", "24xlarge"): 4, ("g5", "48xlarge"): 8,
              ("g6", "12xlarge"): 4, ("g6", "24xlarge"): 4, ("g6", "48xlarge"): 8, ("g6e", "12xlarge"): 4,
              ("g6e", "24xlarge"): 4, ("g6e", "48xlarge"): 8}


def instance_gpus(instance_type: str | None) -> int:
    """The GPUs a job on ``instance_type`` asks: ml.g4dn.xlarge 1, ml.g5.12xlarge 4, ml.p3.16xlarge 8; 0 for
    CPU types (ml.m5, ml.c5, …). The instance's vCPUs are not asked: the job asks 1 CPU, so an unmodified
    script sized for ml.m5.4xlarge runs on a smaller node (docs/sagemaker.md)."""
    m = _GPU_FAMILY.match(instance_type or "")
    if m is None:
        return 0
    return _MULTI_GPU.get((m.group(1), m.group(2)), 1)


def parse_s3(uri: str, field: str) -> tuple[str, str]:
    m = _S3.match(uri or "")
    if not m:
        raise AwsError("ValidationException", f"Value {uri!r} at '{field}' is not an S3 URI. Expected s3://bucket/key.")
    return m.group(1), m.group(2)


def _repository(image: str) -> str:
    """``683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1`` -> ``sagemaker-xgboost``."""
    return image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0].lower()


def decode_hp(value: str) -> Any:
    """The SDK sends every hyperparameter JSON-encoded (``'"train.py"'``, ``'100'``); the toolkit decodes."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _plain(hps: dict[str, str]) -> dict[str, Any]:
    return {k: decode_hp(v) for k, v in hps.items()}


# -- mapping a request onto a Slipway job ---------------------------------------------------------

def _builtin(repo: str, hps: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Slipway algorithm and hyperparameters for a SageMaker built-in algorithm image."""
    if "xgboost" in repo:
        return "xgboost", hps
    if repo == "linear-learner":
        kind = str(hps.pop("predictor_type", "regressor"))
        hps.pop("feature_dim", None)
        hps.pop("mini_batch_size", None)
        return ("linear-regression" if kind == "regressor" else "logistic-regression"), {}
    if repo == "kmeans":
        out = {"n_clusters": hps["k"]} if "k" in hps else {}
        return "kmeans", out
    if repo == "pca":
        out = {"n_components": hps["num_components"]} if "num_components" in hps else {}
        return "pca", out
    raise AssertionError(repo)


def _image_plan(body: dict[str, Any], hps: dict[str, Any]) -> dict[str, Any]:
    spec = body["AlgorithmSpecification"]
    image = spec.get("TrainingImage")
    if not image:
        raise AwsError("ValidationException",
                       f"AlgorithmSpecification.AlgorithmName {spec.get('AlgorithmName')!r} is not supported by "
                       f"Slipway: pass a TrainingImage. Supported images: {'; '.join(SUPPORTED)}.")
    repo = _repository(image)
    script = "sagemaker_program" in hps or "sagemaker_submit_directory" in hps
    if script:
        framework = next((f for prefix, f in FRAMEWORK_IMAGES if prefix in repo), None)
        if framework is None:
            raise AwsError("ValidationException",
                           f"TrainingImage {image!r} is not a framework container Slipway can run in script mode. "
                           f"Supported images: {'; '.join(SUPPORTED)}.")
        for hp in ("sagemaker_program", "sagemaker_submit_directory"):
            if not isinstance(hps.get(hp), str) or not hps[hp]:
                raise AwsError("ValidationException",
                               f"Script mode needs the hyperparameter {hp!r} (got {hps.get(hp)!r}).")
        return {"mode": "script", "framework": framework, "image": image}
    if repo not in BUILTIN_IMAGES:
        raise AwsError("ValidationException",
                       f"TrainingImage {image!r} ({repo}) cannot run on Slipway. Supported images: "
                       f"{'; '.join(SUPPORTED)}. For your own code use a framework image in script mode "
                       "(hyperparameters sagemaker_program and sagemaker_submit_directory).")
    # the SDK adds sagemaker_* and, for tuning, _tuning_objective_metric: not the algorithm's
    algorithm, algo_hps = _builtin(repo, {k: v for k, v in hps.items() if not k.startswith(("sagemaker_", "_"))})
    return {"mode": "algorithm", "algorithm": algorithm, "hps": algo_hps, "image": image}


def _fetch_source(call: Call, uri: str) -> str:
    bucket, key = parse_s3(uri, "HyperParameters.sagemaker_submit_directory")
    store_key = object_key(bucket, key)
    if not call.platform.store.exists(store_key):
        raise AwsError("ValidationException",
                       f"sagemaker_submit_directory {uri!r} does not exist. Upload the sourcedir.tar.gz there first.")
    tmp = Path(tempfile.mkstemp(prefix="sm-source-", dir=call.platform.tmp_dir)[1])
    try:
        call.platform.store.get_file(store_key, tmp)
        sha = hashlib.sha256(tmp.read_bytes()).hexdigest()
        return call.platform.training.put_source(tmp, tmp.stat().st_size, sha)
    finally:
        tmp.unlink(missing_ok=True)


def _dataset_name(job: str, channel: str) -> str:
    name = f"{job}-{channel}"
    if len(name) > 63:
        name = f"{job[:40]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return name


BUILTIN_LABEL = "label"
UNSUPERVISED = ("kmeans", "pca")


def _builtin_csv(call: Call, keys: list[str], dest: Path, channel: str, supervised: bool) -> None:
    """A built-in's channel as one CSV with a header: SageMaker's built-ins read headerless CSV (the target
    first for supervised ones, every object of the channel), so ``label,f1,f2…`` (``f1,f2…`` for k-means
    and PCA) is written above the rows."""
    store = call.platform.store
    width = None
    with open(dest, "wb") as out:
        for k in keys:
            data = store.read_bytes(k)
            first = data.split(b"\n", 1)[0].strip()
            if not first:
                continue
            fields = first.split(b",")
            try:
                [float(f) for f in fields]
            except ValueError:
                raise AwsError("ValidationException",
                               f"Channel {channel!r}: {k.split('/', 2)[-1]!r} starts with {first[:60]!r}; SageMaker's "
                               "built-in algorithms take headerless numeric CSV with the target in the first "
                               "column.") from None
            if width is None:
                width = len(fields)
                names = [BUILTIN_LABEL] + [f"f{i}" for i in range(1, width)] if supervised else \
                    [f"f{i}" for i in range(1, width + 1)]
                out.write(",".join(names).encode() + b"\n")
            out.write(data if data.endswith(b"\n") else data + b"\n")
    if width is None:
        raise AwsError("ValidationException", f"Channel {channel!r} holds no rows.")


def _dataset_channel(call: Call, channel: str, uri: str, prefix: str, builtin: str | None) -> str:
    """A channel ``s3://slipway-datasets/<dataset>/<version>`` is that dataset version itself (no copy)."""
    ref = ref_of_prefix(prefix)
    if ref is None:
        raise AwsError("ValidationException", f"Value {uri!r} at 'InputDataConfig.{channel}.S3Uri' is not a whole "
                       f"dataset version. Expected s3://{DATASETS_BUCKET}/<dataset>/<version>/.")
    if builtin:
        raise AwsError("ValidationException", f"Channel {channel!r}: built-in algorithms read headerless CSV objects "
                       f"from a bucket, not a dataset version ({uri}); train with Slipway's own `slipway train "
                       f"--algorithm` on {ref}, or copy the CSV into a bucket.")
    call.platform.auth.authorize(call.principal, "datasets:Get", f"dataset/{ref.split(':')[0]}")
    return call.platform.datasets.get(ref).ref


def _fetch_channel(call: Call, job: str, channel: dict[str, Any], builtin: str | None = None) -> str:
    """Push the objects of one S3 channel as a dataset version; return its ref."""
    from slipway.data.folders import pack_folder

    name = channel["ChannelName"]
    source = channel["DataSource"].get("S3DataSource")
    if source is None:
        raise AwsError("ValidationException",
                       f"Channel {name!r}: only S3DataSource is supported (got {', '.join(channel['DataSource'])}).")
    if source.get("S3DataType", "S3Prefix") != "S3Prefix":
        raise AwsError("ValidationException",
                       f"Channel {name!r}: S3DataType {source['S3DataType']!r} is not supported. Expected S3Prefix.")
    bucket, prefix = parse_s3(source["S3Uri"], f"InputDataConfig.{name}.S3Uri")
    if bucket == DATASETS_BUCKET:
        return _dataset_channel(call, name, source["S3Uri"], prefix, builtin)
    store = call.platform.store
    base = object_key(bucket, prefix)
    listed = store.list(base.rstrip("/"))
    keys = listed if listed == [base] else [k for k in listed if k.startswith(base.rstrip("/") + "/")]
    if not keys:
        raise AwsError("ValidationException",
                       f"Channel {name!r}: no objects under {source['S3Uri']!r}. Upload the data first.")
    fmt = _CONTENT_FORMATS.get((channel.get("ContentType") or "").split(";")[0].strip().lower())
    work = Path(tempfile.mkdtemp(prefix="sm-channel-", dir=call.platform.tmp_dir))
    datasets = call.platform.datasets
    try:
        if builtin:
            if (channel.get("ContentType") or "text/csv").split(";")[0].strip().lower() not in ("text/csv", "csv"):
                raise AwsError("ValidationException",
                               f"Channel {name!r}: ContentType {channel.get('ContentType')!r} is not supported for "
                               "built-in algorithms on Slipway. Expected text/csv.")
            path = work / "upload.csv"
            supervised = builtin not in UNSUPERVISED
            _builtin_csv(call, keys, path, name, supervised)
            result = datasets.push(_dataset_name(job, name), path, filename=f"{name}.csv", kind="file", format="csv",
                                   label=BUILTIN_LABEL if supervised else None, user=call.user,
                                   description=f"SageMaker channel {name!r} of {job}: {source['S3Uri']}")
        elif len(keys) == 1:
            filename = PurePosixPath(keys[0]).name
            path = work / "upload"
            store.get_file(keys[0], path)
            result = datasets.push(_dataset_name(job, name), path, filename=filename, kind="file", format=fmt,
                                   description=f"SageMaker channel {name!r} of {job}: {source['S3Uri']}",
                                   user=call.user)
        else:
            folder = work / "folder"
            root = base.rstrip("/") + "/"
            for k in keys:
                dest = folder / k[len(root):]
                dest.parent.mkdir(parents=True, exist_ok=True)
                store.get_file(k, dest)
            path = work / "upload.tar"
            with open(path, "wb") as f:
                pack_folder(folder, f)
            result = datasets.push(_dataset_name(job, name), path, filename=name, kind="folder", format=None,
                                   description=f"SageMaker channel {name!r} of {job}: {source['S3Uri']}",
                                   user=call.user)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return result.version.ref


def prepare(call: Call, name: str, body: dict[str, Any], hyperparameters: dict[str, str]) -> tuple[Any, str]:
    """The Slipway job request for a SageMaker training job definition (channels fetched, source stored),
    and the image it names. Tuning calls it for its trial template."""
    hps = _plain(hyperparameters)
    plan = _image_plan(body, hps)
    inputs = {ch["ChannelName"]: _fetch_channel(call, name, ch, plan.get("algorithm"))
              for ch in body.get("InputDataConfig") or []}
    definitions = [MetricDefinition(name=d["Name"], regex=d["Regex"])
                   for d in body["AlgorithmSpecification"].get("MetricDefinitions") or []]
    runtime = (body.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    gpus = instance_gpus((body.get("ResourceConfig") or {}).get("InstanceType")) or None
    if plan["mode"] == "script":
        sha = _fetch_source(call, hps["sagemaker_submit_directory"])
        script_hps = {k: v for k, v in hps.items() if not k.startswith("sagemaker_")}
        req = CreateJobRequest(entry_point=hps["sagemaker_program"], source_sha256=sha, framework=plan["framework"],
                               inputs=inputs, hyperparameters=script_hps, metric_definitions=definitions,
                               max_runtime=runtime, gpus=gpus)
    else:
        req = CreateJobRequest(algorithm=plan["algorithm"], inputs=inputs, hyperparameters=plan["hps"],
                               label=BUILTIN_LABEL if plan["algorithm"] not in UNSUPERVISED else None, metric_definitions=definitions, max_runtime=runtime, gpus=gpus)
    return req, plan["image"]


def create_training_job(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    name = body["TrainingJobName"]
    if call.resources.find(KIND, name) is not None or _exists(call, name):
        raise AwsError("ResourceInUse", f"Training job names must be unique within an AWS account and region, and "
                                        f"a training job with this name already exists ({arn(KIND, name)}).")
    req, image = prepare(call, name, body, body.get("HyperParameters") or {})
    tags = {t["Key"]: t.get("Value", "") for t in body.get("Tags") or []}
    call.resources.add(KIND, name, name, {**body, "_image": image}, tags, call.user)
    try:
        call.platform.training.create(name, req, user=call.user)
    except BaseException:
        call.resources.delete(KIND, name)
        raise
    return {"TrainingJobArn": arn(KIND, name)}


def _exists(call: Call, name: str) -> bool:
    from slipway.errors import NotFound

    try:
        call.platform.training.get(name)
    except NotFound:
        return False
    return True


def model_uri(spec: dict[str, Any], name: str, what: str = "model") -> str:
    """Where SageMaker puts a job's artifact: ``<S3OutputPath>/<job>/output/model.tar.gz``."""
    path = ((spec.get("OutputDataConfig") or {}).get("S3OutputPath") or DEFAULT_OUTPUT).rstrip("/")
    return f"{path}/{name}/output/{what}.tar.gz"


def publish_artifacts(call: Call, name: str, spec: dict[str, Any]) -> None:
    """Copy a completed job's model (and output) archive to its S3 output path, once."""
    from slipway.errors import NotFound

    store = call.platform.store
    for what in ("model", "output"):
        bucket, key = parse_s3(model_uri(spec, name, what), "OutputDataConfig.S3OutputPath")
        dest = object_key(bucket, key)
        if store.exists(dest):
            continue
        try:
            _, chunks, _ = call.platform.training.open_artifact(name, what)
        except NotFound:
            continue
        tmp = Path(tempfile.mkstemp(prefix="sm-artifact-", dir=call.platform.tmp_dir)[1])
        try:
            with open(tmp, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
            write_object(call, bucket, key, tmp)
        finally:
            tmp.unlink(missing_ok=True)


def write_object(call: Call, bucket: str, key: str, path: Path) -> None:
    """Write ``s3://bucket/key`` so the S3 API lists and serves it (the bucket is made if missing)."""
    svc = call.platform.buckets
    try:
        svc.bucket(bucket)
    except BucketError:
        try:
            svc.create_bucket(bucket, call.user)
        except BucketError:  # made meanwhile
            pass
    md5 = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            md5.update(block)
    with open(path, "rb") as f:
        svc.put(bucket, key, f, md5.hexdigest(), "application/x-tar", call.user)


_TRIAL = re.compile(r"^(.+)-([0-9]{3,})$")


def job_spec(call: Call, name: str, hyperparameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """The SageMaker request behind job ``name``: its own, or for a tuning trial (``<tuning>-NNN``) the tuning
    job's TrainingJobDefinition with the trial's values, so the SDK can attach to (and deploy) a trial.
    Empty for a job made outside this API."""
    found = call.resources.find(KIND, name)
    if found is not None:
        return dict(found["spec"])
    m = _TRIAL.match(name)
    tuning = call.resources.find("hyper-parameter-tuning-job", m.group(1)) if m else None
    if tuning is None or "TrainingJobDefinition" not in tuning["spec"]:
        return {}
    definition = dict(tuning["spec"]["TrainingJobDefinition"])
    static = dict(definition.pop("StaticHyperParameters", None) or {})
    if hyperparameters is None:
        hyperparameters = call.platform.training.get(name).hyperparameters
    ranges = tuning["spec"]["HyperParameterTuningJobConfig"].get("ParameterRanges") or {}
    tuned = {r["Name"] for rs in ranges.values() for r in rs or []}
    static.update({k: json.dumps(v) for k, v in hyperparameters.items() if k in tuned})
    return {**definition, "HyperParameters": static, "_image": tuning["spec"].get("_image")}


def _transitions(view: Any) -> list[dict[str, Any]]:
    """SageMaker's list: Slipway's Pending and Starting are one Starting step."""
    out: list[dict[str, Any]] = []
    for t in view.transitions:
        status = SECONDARY.get(t.status, t.status)
        if out and out[-1]["Status"] == status:
            out[-1]["EndTime"] = epoch(t.end_time)
            out[-1]["StatusMessage"] = t.message or out[-1]["StatusMessage"]
            continue
        out.append({"Status": status, "StartTime": epoch(t.start_time), "EndTime": epoch(t.end_time),
                    "StatusMessage": t.message or status})
    return [clean(t) for t in out]


def describe(call: Call, view: Any) -> dict[str, Any]:
    spec = job_spec(call, view.name, view.hyperparameters)
    status = STATUS[view.status]
    if view.status == "Completed":
        try:
            publish_artifacts(call, view.name, spec)
        except Exception:  # the answer still comes; the next Describe tries again
            log.exception("Copying the model of job %s to its S3 output path failed", view.name)
    image = spec.get("_image") or f"slipway/{view.algorithm or view.framework}"
    algo = spec.get("AlgorithmSpecification") or {"TrainingImage": image, "TrainingInputMode": "File"}
    hps = spec.get("HyperParameters")
    if hps is None:
        hps = {k: v if isinstance(v, str) else json.dumps(v) for k, v in view.hyperparameters.items()}
    channels = spec.get("InputDataConfig")
    if channels is None:
        channels = [{"ChannelName": ch, "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://slipway-datasets/{ref.replace(':', '/')}"}}}
            for ch, ref in view.inputs.items()]
    last = view.ended_at or view.started_at or view.created_at
    out = {
        "TrainingJobName": view.name, "TrainingJobArn": arn(KIND, view.name),
        "ModelArtifacts": {"S3ModelArtifacts": model_uri(spec, view.name)},
        "TrainingJobStatus": status, "SecondaryStatus": SECONDARY.get(view.secondary_status, view.secondary_status),
        "FailureReason": view.failure_reason, "HyperParameters": hps, "AlgorithmSpecification": algo,
        "RoleArn": spec.get("RoleArn"), "InputDataConfig": channels,
        "OutputDataConfig": spec.get("OutputDataConfig") or {"S3OutputPath": DEFAULT_OUTPUT},
        "ResourceConfig": spec.get("ResourceConfig") or {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                         "VolumeSizeInGB": 1},
        "StoppingCondition": spec.get("StoppingCondition") or {"MaxRuntimeInSeconds": view.max_runtime},
        "CreationTime": epoch(view.created_at), "TrainingStartTime": epoch(view.started_at),
        "TrainingEndTime": epoch(view.ended_at), "LastModifiedTime": epoch(last),
        "SecondaryStatusTransitions": _transitions(view),
        "FinalMetricDataList": [{"MetricName": k, "Value": float(v), "Timestamp": epoch(view.ended_at or last)}
                                for k, v in view.final_metrics.items()],
        "EnableNetworkIsolation": bool(spec.get("EnableNetworkIsolation", False)),
        "EnableInterContainerTrafficEncryption": bool(spec.get("EnableInterContainerTrafficEncryption", False)),
        "EnableManagedSpotTraining": bool(spec.get("EnableManagedSpotTraining", False)),
        "Environment": spec.get("Environment"),
        "TrainingTimeInSeconds": int(view.duration_s) if view.duration_s is not None and view.ended_at else None,
        "BillableTimeInSeconds": int(view.duration_s) if view.duration_s is not None and view.ended_at else None,
    }
    if not out["Environment"]:
        out.pop("Environment")
    return clean(out)


def describe_training_job(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    return describe(call, call.platform.training.get(body["TrainingJobName"]))


def list_training_jobs(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    items = []
    for v in every(call.platform.training.list):
        status = STATUS[v.status]
        created = epoch(v.created_at) or 0.0
        modified = epoch(v.ended_at or v.started_at or v.created_at) or 0.0
        if not matches(body, v.name, status) or not in_window(body, created, modified):
            continue
        items.append(clean({"TrainingJobName": v.name, "TrainingJobArn": arn(KIND, v.name), "CreationTime": created,
                            "TrainingEndTime": epoch(v.ended_at), "LastModifiedTime": modified,
                            "TrainingJobStatus": status, "SecondaryStatus": SECONDARY.get(v.secondary_status,
                                                                                          v.secondary_status)}))
    items = sort_items(items, body, {"CreationTime": "CreationTime", "Name": "TrainingJobName",
                                     "Status": "TrainingJobStatus"})
    chunk, token = page(items, body)
    return clean({"TrainingJobSummaries": chunk, "NextToken": token})


def stop_training_job(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    from slipway.errors import Conflict

    name = body["TrainingJobName"]
    status = call.platform.training.get(name).status
    if status in ("Completed", "Failed", "Stopped"):
        raise AwsError("ValidationException", f"The request was rejected because the training job {name!r} already "
                                              f"ended (status {status}); there is nothing to stop.")
    try:
        call.platform.training.stop(name)
    except Conflict as exc:
        raise AwsError("ValidationException", exc.message) from None
    return {}


OPERATIONS = {
    "CreateTrainingJob": create_training_job,
    "DescribeTrainingJob": describe_training_job,
    "ListTrainingJobs": list_training_jobs,
    "StopTrainingJob": stop_training_job,
}
