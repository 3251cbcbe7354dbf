"""Hyperparameter tuning: Create/Describe/List/Stop, ListTrainingJobsForHyperParameterTuningJob.

A SageMaker tuning job is a Slipway tuning job of the same name: its TrainingJobDefinition becomes the
trial template (as CreateTrainingJob maps a job), ParameterRanges the search space, the objective
metric one of the definition's MetricDefinitions (or a built-in's metric). Trials are Slipway jobs
named ``<tuning job>-NNN``, listed by ListTrainingJobs too, as SageMaker lists its trials.
"""

from __future__ import annotations

from typing import Any

from slipway.compat.errors import AwsError
from slipway.compat.sagemaker.context import Call
from slipway.compat.sagemaker.shapes import arn, clean, epoch, every, in_window, matches, page, sort_items
from slipway.compat.sagemaker.training import KIND as JOB_KIND
from slipway.compat.sagemaker.training import STATUS as JOB_STATUS
from slipway.compat.sagemaker.training import decode_hp, prepare

KIND = "hyper-parameter-tuning-job"
STRATEGIES = {"Bayesian": "bayesian", "Random": "random", "Grid": "grid"}
STATUS = {"Pending": "InProgress", "InProgress": "InProgress", "Completed": "Completed", "Failed": "Failed",
          "Stopping": "Stopping", "Stopped": "Stopped"}


def _ranges(config: dict[str, Any]) -> list[str]:
    """ParameterRanges as Slipway's NAME=MIN:MAX[:int][:log] / NAME=A,B,C."""
    ranges = config.get("ParameterRanges") or {}
    out = []
    for kind, suffix in (("IntegerParameterRanges", ":int"), ("ContinuousParameterRanges", "")):
        for r in ranges.get(kind) or []:
            log = ":log" if r.get("ScalingType") in ("Logarithmic", "ReverseLogarithmic") else ""
            out.append(f"{r['Name']}={r['MinValue']}:{r['MaxValue']}{suffix}{log}")
    for r in ranges.get("CategoricalParameterRanges") or []:
        out.append(f"{r['Name']}={','.join(str(decode_hp(v)) for v in r['Values'])}")
    return out


def create_tuning_job(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    from slipway.schemas.tuning import CreateTuningRequest

    name = body["HyperParameterTuningJobName"]
    if call.resources.find(KIND, name) is not None:
        raise AwsError("ResourceInUse", f"Hyperparameter tuning job \"{name}\" already exists.")
    config = body["HyperParameterTuningJobConfig"]
    definition = body.get("TrainingJobDefinition")
    if definition is None:
        raise AwsError("ValidationException", "Slipway tunes one TrainingJobDefinition; TrainingJobDefinitions "
                                              "(several) is not supported.")
    if body.get("WarmStartConfig"):
        raise AwsError("ValidationException", "WarmStartConfig is not supported by Slipway's SageMaker API (use "
                                              "`slipway tuning create --warm-start`).")
    strategy = STRATEGIES.get(config["Strategy"])
    if strategy is None:
        raise AwsError("ValidationException", f"Strategy {config['Strategy']!r} is not supported. Expected one of: "
                                              f"{', '.join(STRATEGIES)}.")
    objective = config.get("HyperParameterTuningJobObjective")
    if objective is None:
        raise AwsError("ValidationException", "HyperParameterTuningJobConfig.HyperParameterTuningJobObjective is "
                                              "required by Slipway: the metric to optimise.")
    limits = config["ResourceLimits"]
    job_req, image = prepare(call, name, definition, definition.get("StaticHyperParameters") or {})
    req = CreateTuningRequest(
        job=job_req, objective=objective["MetricName"], maximize=objective["Type"] == "Maximize",
        ranges=_ranges(config), strategy=strategy, max_trials=limits.get("MaxNumberOfTrainingJobs") or 10,
        max_parallel=min(limits.get("MaxParallelTrainingJobs") or 1, limits.get("MaxNumberOfTrainingJobs") or 10),
        max_runtime=limits.get("MaxRuntimeInSeconds"),
        early_stopping="median" if config.get("TrainingJobEarlyStoppingType") == "Auto" else "none",
        seed=config.get("RandomSeed"),
    )
    tags = {t["Key"]: t.get("Value", "") for t in body.get("Tags") or []}
    call.resources.add(KIND, name, name, {**body, "_image": image}, tags, call.user)
    try:
        call.platform.tuning.create(name, req, user=call.user)
    except BaseException:
        call.resources.delete(KIND, name)
        raise
    return {"HyperParameterTuningJobArn": arn(KIND, name)}


def _summary(call: Call, tuning: str, trial: Any, objective: dict[str, Any]) -> dict[str, Any] | None:
    from slipway.errors import NotFound

    if not trial.job:
        return None
    try:
        job = call.platform.training.get(trial.job)
    except NotFound:
        return None
    status = JOB_STATUS[job.status]
    metric = None
    if trial.objective is not None:
        metric = {"Type": objective.get("Type", "Maximize"), "MetricName": objective.get("MetricName", ""),
                  "Value": float(trial.objective)}
    objective_status = "Succeeded" if trial.objective is not None else \
        "Failed" if status in ("Failed", "Stopped") or trial.status == "Failed" else "Pending"
    return clean({
        "TrainingJobName": job.name, "TrainingJobArn": arn(JOB_KIND, job.name), "TuningJobName": tuning,
        "CreationTime": epoch(job.created_at), "TrainingStartTime": epoch(job.started_at),
        "TrainingEndTime": epoch(job.ended_at), "TrainingJobStatus": status,
        "TunedHyperParameters": {k: str(v) for k, v in trial.params.items()},
        "FailureReason": job.failure_reason or (trial.reason or None if trial.status == "Failed" else None),
        "FinalHyperParameterTuningJobObjectiveMetric": metric, "ObjectiveStatus": objective_status,
    })


def _objective(view: Any, spec: dict[str, Any]) -> dict[str, Any]:
    config = spec.get("HyperParameterTuningJobConfig") or {}
    return config.get("HyperParameterTuningJobObjective") or {
        "Type": "Maximize" if view.maximize else "Minimize", "MetricName": view.objective}


def describe_tuning_job(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    view = call.platform.tuning.get(body["HyperParameterTuningJobName"])
    found = call.resources.find(KIND, view.name)
    spec = found["spec"] if found else {}
    objective = _objective(view, spec)
    config = spec.get("HyperParameterTuningJobConfig") or {
        "Strategy": {v: k for k, v in STRATEGIES.items()}.get(view.strategy, "Bayesian"),
        "HyperParameterTuningJobObjective": objective,
        "ResourceLimits": {"MaxNumberOfTrainingJobs": view.max_trials, "MaxParallelTrainingJobs": view.max_parallel}}
    summaries = [s for s in (_summary(call, view.name, t, objective) for t in view.trials) if s]
    counts = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
    objectives = {"Succeeded": 0, "Pending": 0, "Failed": 0}
    for s in summaries:
        st = s["TrainingJobStatus"]
        counts["NonRetryableError" if st == "Failed" else "InProgress" if st == "Stopping" else st] += 1
        objectives[s["ObjectiveStatus"]] += 1
    best = None
    if view.best_trial is not None:
        best = _summary(call, view.name, view.best_trial, objective)
    return clean({
        "HyperParameterTuningJobName": view.name, "HyperParameterTuningJobArn": arn(KIND, view.name),
        "HyperParameterTuningJobConfig": config, "TrainingJobDefinition": spec.get("TrainingJobDefinition"),
        "HyperParameterTuningJobStatus": STATUS.get(view.status, view.status),
        "CreationTime": epoch(view.created_at), "HyperParameterTuningEndTime": epoch(view.ended_at),
        "LastModifiedTime": epoch(view.ended_at or view.started_at or view.created_at),
        "TrainingJobStatusCounters": counts, "ObjectiveStatusCounters": objectives, "BestTrainingJob": best,
        "FailureReason": view.failure_reason,
    })


def list_tuning_jobs(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    views = every(call.platform.tuning.list)
    items = []
    for v in views:
        status = STATUS.get(v.status, v.status)
        created = epoch(v.created_at) or 0.0
        modified = epoch(v.ended_at or v.started_at or v.created_at) or created  # as DescribeHyperParameterTuningJob
        if not matches(body, v.name, status) or not in_window(body, created, modified):
            continue
        c = v.counters
        items.append(clean({
            "HyperParameterTuningJobName": v.name, "HyperParameterTuningJobArn": arn(KIND, v.name),
            "HyperParameterTuningJobStatus": status,
            "Strategy": {s: k for k, s in STRATEGIES.items()}.get(v.strategy, "Bayesian"),
            "CreationTime": created, "HyperParameterTuningEndTime": epoch(v.ended_at),
            "TrainingJobStatusCounters": {"Completed": c.get("completed", 0),
                                          "InProgress": c.get("running", 0) + c.get("pending", 0),
                                          "RetryableError": 0, "NonRetryableError": c.get("failed", 0),
                                          "Stopped": c.get("stopped", 0) + c.get("pruned", 0)},
            "ObjectiveStatusCounters": {"Succeeded": c.get("completed", 0), "Pending": c.get("running", 0)
                                        + c.get("pending", 0), "Failed": c.get("failed", 0)},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": v.max_trials, "MaxParallelTrainingJobs": v.max_parallel},
        }))
    items = sort_items(items, body, {"CreationTime": "CreationTime", "Name": "HyperParameterTuningJobName",
                                     "Status": "HyperParameterTuningJobStatus"})
    chunk, token = page(items, body)
    return clean({"HyperParameterTuningJobSummaries": chunk, "NextToken": token})


def list_trials(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    view = call.platform.tuning.get(body["HyperParameterTuningJobName"])
    found = call.resources.find(KIND, view.name)
    objective = _objective(view, found["spec"] if found else {})
    items = [s for s in (_summary(call, view.name, t, objective) for t in view.trials) if s]
    if body.get("StatusEquals"):
        items = [s for s in items if s["TrainingJobStatus"] == body["StatusEquals"]]
    by = body.get("SortBy") or "CreationTime"
    if by == "FinalObjectiveMetricValue":
        scored = [s for s in items if "FinalHyperParameterTuningJobObjectiveMetric" in s]
        rest = [s for s in items if "FinalHyperParameterTuningJobObjectiveMetric" not in s]
        scored.sort(key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                    reverse=(body.get("SortOrder") or "Descending") == "Descending")
        items = scored + rest
    else:
        items = sort_items(items, body, {"CreationTime": "CreationTime", "Name": "TrainingJobName",
                                         "Status": "TrainingJobStatus"})
    chunk, token = page(items, body)
    return clean({"TrainingJobSummaries": chunk, "NextToken": token})


def stop_tuning_job(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    from slipway.errors import Conflict

    try:
        call.platform.tuning.stop(body["HyperParameterTuningJobName"])
    except Conflict as exc:
        raise AwsError("ValidationException", exc.message) from None
    return {}


OPERATIONS = {
    "CreateHyperParameterTuningJob": create_tuning_job,
    "DescribeHyperParameterTuningJob": describe_tuning_job,
    "ListHyperParameterTuningJobs": list_tuning_jobs,
    "StopHyperParameterTuningJob": stop_tuning_job,
    "ListTrainingJobsForHyperParameterTuningJob": list_trials,
}
