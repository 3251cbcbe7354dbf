"""The job folder and environment a job sees, laid out as SageMaker's /opt/ml so script-mode code runs unmodified.

    <root>/input/config/{hyperparameters,inputdataconfig,resourceconfig}.json
    <root>/input/data/<channel>/      dataset versions, files as pushed, folders unpacked
    <root>/code/                      the source folder (working directory of the script)
    <root>/model/                     SM_MODEL_DIR: what the job saves becomes the model artifact
    <root>/output/failure             a failure reason the script may write
    <root>/output/data/               SM_OUTPUT_DATA_DIR: other outputs, kept as output.tar.gz
    <root>/slipway/                   the platform's own files: job.json, logs.txt, metrics.jsonl, result.json
    <root>/tmp/, <root>/home/         TMPDIR and HOME (caches, config) of the job: it writes nowhere else

A processing job (SageMaker Processing) gets, instead of input/ and model/:

    <root>/processing/input/<channel>/   /opt/ml/processing/input/<channel>: dataset versions
    <root>/processing/output/<channel>/  /opt/ml/processing/output/<channel>: each becomes a dataset version
    <root>/config/processingjobconfig.json, resourceconfig.json   /opt/ml/config/…

Standard library only: the runner imports this before the user's code starts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["JobPaths", "build_env", "hp_args", "map_opt_ml", "private_env", "processing_env", "write_config",
           "write_processing_config"]

HOST = "algo-1"
OPT_ML = "/opt/ml"


class JobPaths:
    """Every path of one job folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.input = self.root / "input"
        self.config = self.input / "config"
        self.data = self.input / "data"
        self.code = self.root / "code"
        self.model = self.root / "model"
        self.output = self.root / "output"
        self.output_data = self.output / "data"
        self.intermediate = self.output / "intermediate"
        self.failure = self.output / "failure"
        self.private = self.root / "slipway"
        self.job_file = self.private / "job.json"
        self.logs = self.private / "logs.txt"
        self.metrics = self.private / "metrics.jsonl"
        self.result = self.private / "result.json"
        self.tmp = self.root / "tmp"
        self.home = self.root / "home"
        self.processing = self.root / "processing"
        self.processing_config = self.root / "config"

    def channel(self, name: str) -> Path:
        return self.data / name

    def processing_input(self, name: str) -> Path:
        return self.processing / "input" / name

    def processing_output(self, name: str) -> Path:
        return self.processing / "output" / name

    def make(self) -> None:
        for p in (self.config, self.data, self.code, self.model, self.output_data, self.intermediate, self.private,
                  self.tmp, self.home):
            p.mkdir(parents=True, exist_ok=True)


def map_opt_ml(value: Any, root: Path) -> Any:
    """A hyperparameter pointing into /opt/ml (``/opt/ml/model``) points into the job's own folder instead."""
    if isinstance(value, str) and (value == OPT_ML or value.startswith(OPT_ML + "/")):
        return str(root) + value[len(OPT_ML):]
    return value


def _hp_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def hp_args(hps: dict[str, Any]) -> list[str]:
    """``--name value`` pairs by the SageMaker training toolkit's rules (sorted, ``-x`` for one letter)."""
    args: list[str] = []
    for key in sorted(hps):
        value = hps[key]
        args.append(f"-{key}" if len(key) == 1 else f"--{key}")
        if isinstance(value, dict):
            args.append(",".join(f"{k}={v}" for k, v in sorted(value.items())))
        else:
            args.append(str(value))
    return args


def _num_gpus() -> int:
    try:
        return sum(1 for n in os.listdir("/dev") if n.startswith("nvidia") and n[6:].isdigit())
    except OSError:
        return 0


def input_data_config(channels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    types = {"csv": "text/csv", "parquet": "application/x-parquet", "jsonl": "application/jsonlines",
             "npy": "application/x-npy", "npz": "application/x-npz"}
    return {
        name: {"ContentType": types.get(str(c.get("format")), "application/x-directory"),
               "TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None",
               "DatasetVersion": c.get("ref")}
        for name, c in sorted(channels.items())
    }


def resource_config() -> dict[str, Any]:
    return {"current_host": HOST, "current_instance_type": "local", "current_group_name": "homogeneousCluster",
            "hosts": [HOST], "instance_groups": [{"instance_group_name": "homogeneousCluster",
                                                  "instance_type": "local", "hosts": [HOST]}],
            "network_interface_name": "eth0"}


def write_config(paths: JobPaths, hps: dict[str, Any], channels: dict[str, dict[str, Any]]) -> None:
    """input/config/*.json as SageMaker writes them (hyperparameter values as strings)."""
    paths.config.mkdir(parents=True, exist_ok=True)
    files = {
        "hyperparameters.json": {k: _hp_string(v) for k, v in hps.items()},
        "inputdataconfig.json": input_data_config(channels),
        "resourceconfig.json": resource_config(),
    }
    for name, content in files.items():
        (paths.config / name).write_text(json.dumps(content, indent=2))


def private_env(paths: JobPaths) -> dict[str, str]:
    """Temp files, caches and config of the job's process (pip, libraries) inside its own folder, not in ~."""
    return {"TMPDIR": str(paths.tmp), "HOME": str(paths.home), "XDG_CACHE_HOME": str(paths.home / ".cache"),
            "XDG_CONFIG_HOME": str(paths.home / ".config")}


def build_env(paths: JobPaths, job: dict[str, Any], hps: dict[str, Any], base: dict[str, str]) -> dict[str, str]:
    """The environment of the user's process: ``base`` plus every SM_* variable of script mode."""
    channels = sorted(job.get("channels", {}))
    entry = job.get("entry_point") or ""
    num_cpus = int(job.get("num_cpus") or os.cpu_count() or 1)
    num_gpus = _num_gpus()
    args = hp_args(hps)
    training_env = {
        "additional_framework_parameters": {},
        "channel_input_dirs": {c: str(paths.channel(c)) for c in channels},
        "current_host": HOST,
        "current_instance_group": "homogeneousCluster",
        "current_instance_type": "local",
        "distribution_hosts": [],
        "framework_module": job.get("framework") or "",
        "hosts": [HOST],
        "hyperparameters": hps,
        "input_config_dir": str(paths.config),
        "input_data_config": input_data_config(job.get("channels", {})),
        "input_dir": str(paths.input),
        "is_master": True,
        "job_name": job["name"],
        "log_level": 20,
        "master_hostname": HOST,
        "model_dir": str(paths.model),
        "module_dir": str(paths.code),
        "module_name": entry.removesuffix(".py").replace("/", "."),
        "network_interface_name": "eth0",
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "num_neurons": 0,
        "output_data_dir": str(paths.output_data),
        "output_dir": str(paths.output),
        "output_intermediate_dir": str(paths.intermediate),
        "resource_config": resource_config(),
        "user_entry_point": entry,
    }
    env = dict(base)
    env.update({
        "SM_MODEL_DIR": str(paths.model),
        "SM_INPUT_DIR": str(paths.input),
        "SM_INPUT_CONFIG_DIR": str(paths.config),
        "SM_OUTPUT_DIR": str(paths.output),
        "SM_OUTPUT_DATA_DIR": str(paths.output_data),
        "SM_OUTPUT_INTERMEDIATE_DIR": str(paths.intermediate),
        "SM_CHANNELS": json.dumps(channels),
        "SM_HPS": json.dumps(hps),
        "SM_USER_ARGS": json.dumps(args),
        "SM_NUM_CPUS": str(num_cpus),
        "SM_NUM_GPUS": str(num_gpus),
        "SM_NUM_NEURONS": "0",
        "SM_HOSTS": json.dumps([HOST]),
        "SM_CURRENT_HOST": HOST,
        "SM_CURRENT_INSTANCE_TYPE": "local",
        "SM_MASTER_ADDR": HOST,
        "SM_IS_MASTER": "true",
        "SM_NETWORK_INTERFACE_NAME": "eth0",
        "SM_MODULE_DIR": str(paths.code),
        "SM_MODULE_NAME": training_env["module_name"],
        "SM_USER_ENTRY_POINT": entry,
        "SM_FRAMEWORK_MODULE": job.get("framework") or "",
        "SM_FRAMEWORK_PARAMS": "{}",
        "SM_LOG_LEVEL": "20",
        "SM_INPUT_DATA_CONFIG": json.dumps(training_env["input_data_config"]),
        "SM_RESOURCE_CONFIG": json.dumps(training_env["resource_config"]),
        "SM_TRAINING_ENV": json.dumps(training_env),
        "TRAINING_JOB_NAME": job["name"],
        "PYTHONUNBUFFERED": "1",
        "SLIPWAY_JOB_NAME": job["name"],
        "SLIPWAY_JOB_DIR": str(paths.root),
        "SLIPWAY_METRICS_FILE": str(paths.metrics),
        **private_env(paths),
    })
    # Stand-ins for modules SageMaker's containers ship (sagemaker_training…), last: an installed one wins.
    from slipway.training.shims import PATH as shims

    env["PYTHONPATH"] = os.pathsep.join([*(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p), shims])
    # Keras 3 runs on PyTorch here (the keras extra installs no TensorFlow) unless the user chose a backend.
    env.setdefault("KERAS_BACKEND", "torch")
    for c in channels:
        env[f"SM_CHANNEL_{c.upper()}"] = str(paths.channel(c))
    for k, v in hps.items():
        env[f"SM_HP_{k.upper()}"] = _hp_string(v)
    return env


def write_processing_config(paths: JobPaths, job: dict[str, Any]) -> None:
    """config/processingjobconfig.json and resourceconfig.json as a SageMaker processing container sees them
    under /opt/ml/config, with the local paths in the job's folder."""
    paths.processing_config.mkdir(parents=True, exist_ok=True)
    inputs = [{"InputName": ch, "DatasetVersion": c.get("ref"),
               "S3Input": {"LocalPath": str(paths.processing_input(ch)), "S3DataType": "S3Prefix",
                           "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}}
              for ch, c in sorted(job.get("channels", {}).items())]
    outputs = [{"OutputName": ch, "Dataset": o.get("dataset"),
                "S3Output": {"LocalPath": str(paths.processing_output(ch)), "S3UploadMode": "EndOfJob"}}
               for ch, o in sorted(job.get("outputs", {}).items())]
    config = {"ProcessingJobName": job["name"], "ProcessingInputs": inputs,
              "ProcessingOutputConfig": {"Outputs": outputs},
              "AppSpecification": {"ContainerEntrypoint": ["python3", job.get("entry_point") or ""],
                                   "ContainerArguments": list(job.get("arguments") or [])},
              "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "local"}}}
    (paths.processing_config / "processingjobconfig.json").write_text(json.dumps(config, indent=2))
    (paths.processing_config / "resourceconfig.json").write_text(json.dumps(
        {"current_host": HOST, "hosts": [HOST]}, indent=2))


def processing_env(paths: JobPaths, job: dict[str, Any], base: dict[str, str]) -> dict[str, str]:
    """The environment of a processing script: ``base``, where /opt/ml/processing is, and one variable per
    channel (``SM_PROCESSING_INPUT_RAW``, ``SM_PROCESSING_OUTPUT_CLEAN``) for scripts that prefer them."""
    env = dict(base)
    env.update({
        "SM_PROCESSING_DIR": str(paths.processing),
        "SM_PROCESSING_CONFIG_DIR": str(paths.processing_config),
        "PROCESSING_JOB_NAME": job["name"],
        "PYTHONUNBUFFERED": "1",
        "SLIPWAY_JOB_NAME": job["name"],
        "SLIPWAY_JOB_DIR": str(paths.root),
        "SLIPWAY_METRICS_FILE": str(paths.metrics),
        **private_env(paths),
    })
    for ch in job.get("channels", {}):
        env[f"SM_PROCESSING_INPUT_{ch.upper().replace('-', '_')}"] = str(paths.processing_input(ch))
    for ch in job.get("outputs", {}):
        env[f"SM_PROCESSING_OUTPUT_{ch.upper().replace('-', '_')}"] = str(paths.processing_output(ch))
    return env
