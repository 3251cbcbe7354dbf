"""Runs act as their owner (a step the owner may not do fails naming the action; a disabled owner's triggered run
fails), stopping a run, and transform / evaluate-on-a-test-split steps — on a real Platform, real jobs and replicas."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pandas as pd
import pytest

from slipway.errors import Conflict, InvalidArgument
from slipway.pipelines import Pipeline
from slipway.schemas.endpoints import VariantSpec
from slipway.services import Platform
from tests.support.job_driver import run_jobs, upload_source, write_csv

TRAIN = {"name": "train", "type": "train", "algorithm": "logistic-regression", "inputs": {"train": "raw:1"},
         "label": "label", "validation_split": 0.25}


def test_a_step_the_owner_may_not_do_fails_naming_the_action(platform: Platform, tmp_path: Path) -> None:
    p = platform
    p.datasets.push("raw", write_csv(tmp_path / "raw.csv", rows=20), filename="raw.csv", label="label")
    # May run pipelines and read everything, but not create jobs.
    p.auth.create_role("runner", {"Statement": [{"Effect": "Allow", "Action": ["pipelines:*", "*:Get", "*:List"],
                                                 "Resource": ["*"]}]})
    p.auth.create_user("bob", "runner")
    p.pipelines.create("nojobs", Pipeline.model_validate({"steps": [TRAIN]}), "bob")
    p.pipelines.start_run("nojobs", {}, "user:bob")
    p.pipelines.advance_all()
    run = p.pipelines.get_run("nojobs", 1)
    assert run.status == "Failed" and run.steps[0].status == "Failed"
    assert "may not jobs:Create on job/nojobs-" in run.steps[0].message
    assert "role 'runner' of its owner 'bob'" in run.steps[0].message
    assert p.training.list().items == []  # nothing ran with the server's powers


def test_a_run_is_limited_by_the_policy_of_its_owners_key_and_the_refusal_is_audited(platform: Platform) -> None:
    p = platform
    p.auth.create_user("carol", "admin")
    # Carol's role allows everything; the key she sets the pipeline up with may not create endpoints.
    key = p.auth.create_key("carol", policy={"Statement": [
        {"Effect": "Allow", "Action": ["*"], "Resource": ["*"]},
        {"Effect": "Deny", "Action": ["endpoints:Create"], "Resource": ["*"]}]})
    p.pipelines.create("ship", Pipeline.model_validate({"steps": [
        {"name": "deploy", "type": "deploy", "endpoint": "carol-ep", "model": "m:2"}]}), "carol", key.key_id)
    p.pipelines.start_run("ship", {}, "schedule")  # acts as the pipeline's owner, with the key it was created with
    p.pipelines.advance_all()
    run = p.pipelines.get_run("ship", 1)
    assert run.status == "Failed" and run.steps[0].status == "Failed"
    assert (f"may not endpoints:Create on endpoint/carol-ep: the policy of the key {key.key_id} its owner 'carol'"
            in run.steps[0].message)
    assert p.endpoints.list().items == []  # nothing was deployed
    [denied] = p.audit.list(user="carol", action="endpoints:Create").items
    assert (denied.outcome, denied.status, denied.key_id, denied.method) == ("denied", 403, key.key_id, "PIPELINE")
    assert denied.source.startswith("pipeline run ") and "the policy of the key" in denied.message
    # A revoked key stops what it set up, even a run its owner's role allows.
    p.auth.revoke_key(key.key_id, None)
    p.pipelines.start_run("ship", {}, "schedule")
    p.pipelines.advance_all()
    run = p.pipelines.get_run("ship", 2)
    assert run.status == "Failed" and f"the key {key.key_id} its owner 'carol' set it up with was revoked" in (
        run.failure_reason or "")


def test_a_disabled_owner_makes_triggered_runs_fail(platform: Platform, tmp_path: Path) -> None:
    p = platform
    p.pipelines.create("retrain", Pipeline.model_validate({"parameters": {"data": {"type": "string"}},
                                                           "steps": [{**TRAIN, "inputs": {"train": "{{ params.data }}"}}]}),
                       "alice")
    p.pipelines.add_trigger("retrain", "dataset:raw", {"data": "{{ event.ref }}"}, "alice")
    p.auth.update_user("alice", disabled=True)
    p.datasets.push("raw", write_csv(tmp_path / "raw.csv", rows=20), filename="raw.csv", label="label")
    [run] = p.pipelines.fire_triggers()
    p.pipelines.advance_all()
    run = p.pipelines.get_run("retrain", run.number)
    assert run.status == "Failed"
    assert "may not pipelines:Run on pipeline/retrain: its owner is disabled" in (run.failure_reason or "")
    assert run.steps[0].status == "Skipped" and run.steps[0].message.startswith("Not run: ")
    assert p.training.list().items == []


def test_stopping_a_run_stops_its_job_and_skips_the_rest(platform: Platform) -> None:
    p = platform
    sha = upload_source(p, {"slow.py": "import time\ntime.sleep(120)\n"})
    p.pipelines.create("slow", Pipeline.model_validate({"steps": [
        {"name": "prep", "type": "process", "script": "slow.py", "source_sha256": sha},
        {"name": "after", "type": "fail", "depends_on": ["prep"]}]}), "tester")
    p.pipelines.start_run("slow", {}, "user:tester")
    p.pipelines.advance_all()
    job = p.pipelines.get_run("slow", 1).steps[0].job
    assert job is not None
    for name in p.job_runs.claim(10):
        p.job_runs.launch(name)
    run = p.pipelines.stop_run("slow", 1, "tester")
    assert run.status == "Stopped" and run.failure_reason == "Stopped by tester."
    prep, after = run.steps
    assert prep.status == "Stopped" and f"job {job} stopped" in prep.message
    assert after.status == "Skipped" and after.message == "Not run: the run was stopped."
    deadline = time.monotonic() + 60
    while p.job_runs.active():  # the jobs controller's part: the process is terminated
        for name, status, handle in p.job_runs.active():
            if p.job_runs.check(name, status, handle):
                p.job_runs.finish(name)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert p.training.get(job).status == "Stopped"
    p.pipelines.advance_all()
    assert p.pipelines.get_run("slow", 1).status == "Stopped"
    with pytest.raises(Conflict, match="already ended"):
        p.pipelines.stop_run("slow", 1)


def test_transform_and_evaluate_on_a_test_split(platform: Platform, tmp_path: Path) -> None:
    p = platform
    p.datasets.push("raw", write_csv(tmp_path / "raw.csv", rows=40), filename="raw.csv", label="label")
    test = tmp_path / "test.csv"
    test.write_text("x,y,label\n" + "".join(f"{i},{(i * 5) % 11},{'yes' if (i * 5) % 11 > 5 else 'no'}\n"
                                          for i in range(40, 52)))
    p.datasets.push("raw-test", test, filename="test.csv", label="label")
    p.pipelines.create("scored", Pipeline.model_validate({"steps": [
        TRAIN,
        {"name": "register", "type": "register", "model": "{{ steps.train.model }}", "model_name": "scored"},
        {"name": "evaluate", "type": "evaluate", "model": "{{ steps.register.version }}", "data": "raw-test:1"},
        {"name": "predict", "type": "transform", "model": "{{ steps.register.version }}", "data": "raw-test:1",
         "output": "scored-predictions"},
        {"name": "check", "type": "condition", "when": {"op": ">=", "left": "{{ steps.evaluate.metrics['test:f1'] }}",
                                                         "right": 0}, "depends_on": ["predict"]}]}), "tester")
    p.pipelines.start_run("scored", {}, "user:tester")
    deadline = time.monotonic() + 180
    while not p.pipelines.get_run("scored", 1).done:
        p.pipelines.advance_all()
        run_jobs(p)
        for name in p.transforms.claim(5):
            p.transforms.run(name)
        p.pipelines.advance_all()
        assert time.monotonic() < deadline, p.pipelines.get_run("scored", 1)
    run = p.pipelines.get_run("scored", 1)
    assert run.status == "Succeeded", run
    steps = {s.name: s for s in run.steps}
    assert steps["predict"].outputs["output"] == "scored-predictions:1"
    out = _frame(p, "scored-predictions:1")
    assert len(out) == 12 and {"x", "y", "label"} <= set(out.columns)  # joined to the input rows
    # The evaluate step's metrics are its predictions scored against the test split's label.
    preds = _frame(p, steps["evaluate"].outputs["predictions"])
    truth = _frame(p, "raw-test:1")["label"]
    expected = float((preds["label"].astype(str) == truth.astype(str)).mean())
    metrics = steps["evaluate"].outputs["metrics"]
    assert metrics["test:accuracy"] == pytest.approx(expected) and 0 <= metrics["test:f1"] <= 1
    assert steps["evaluate"].job == steps["evaluate"].outputs["job"]
    assert p.transforms.get(steps["evaluate"].job).data == "raw-test:1"
    # The model live on an endpoint, evaluated on the same test data: what "beats the live model" compares with.
    p.endpoints.create("scored-ep", [VariantSpec(name="old", model="scored:1", weight=9),
                                     VariantSpec(name="other", model="scored:1", weight=1)])
    p.pipelines.create("versus", Pipeline.model_validate({"parameters": {"margin": {"type": "float", "default": 0.0}},
                                                          "steps": [
        {"name": "eval-live", "type": "evaluate", "model": "endpoint:scored-ep", "data": "raw-test:1"},
        # The same predictions as `scored`'s predict step (model, data, output): a cache hit, no transform job.
        {"name": "again", "type": "transform", "model": "scored:1", "data": "raw-test:1", "output": "scored-predictions"},
        {"name": "beats", "type": "condition", "when": {"all": [
            {"op": ">=", "left": "{{ steps.eval-live.metrics['test:accuracy'] }}",
             "right": "{{ steps.eval-live.metrics['test:accuracy'] }}", "margin": "{{ params.margin }}"},
            {"not": {"op": ">", "left": 1.0, "right": "{{ steps.eval-live.metrics['test:accuracy'] }}",
                     "margin": 1.0}}]}}]}), "tester")
    p.pipelines.start_run("versus", {}, "user:tester")
    while not p.pipelines.get_run("versus", 1).done:
        p.pipelines.advance_all()
        for name in p.transforms.claim(5):
            p.transforms.run(name)
        assert time.monotonic() < deadline + 120, p.pipelines.get_run("versus", 1)
    run = p.pipelines.get_run("versus", 1)
    assert run.status == "Succeeded", run
    live = {s.name: s for s in run.steps}["eval-live"]
    assert live.arguments["model"] == "scored:1"
    assert live.outputs["metrics"]["test:accuracy"] == pytest.approx(metrics["test:accuracy"])
    assert {s.name: s for s in run.steps}["beats"].outputs["result"] is True
    again = {s.name: s for s in run.steps}["again"]
    assert steps["predict"].cache_key and steps["predict"].cached_from is None
    assert again.cache_key == steps["predict"].cache_key and again.cached_from == "scored#1/predict"
    assert again.outputs == steps["predict"].outputs and again.job == steps["predict"].job and run.cache_hits == 1
    assert p.transforms.list().total == 3  # predict, evaluate, eval-live: none for `again`
    # A transform step honours its `retries` as job steps do: a failed transform job is tried again (a new job
    # per attempt), then the step fails. Columns the model does not know make the first attempt fail; the second
    # is stopped before it runs (no replica started for it).
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n3,4\n")
    p.datasets.push("wrong", wrong, filename="wrong.csv")
    p.pipelines.create("flaky", Pipeline.model_validate({"steps": [
        {"name": "predict", "type": "transform", "model": "scored:1", "data": "wrong:1", "output": "flaky-out",
         "retries": 1}]}), "tester")
    p.pipelines.start_run("flaky", {}, "user:tester")
    p.pipelines.advance_all()
    first = p.pipelines.get_run("flaky", 1).steps[0].job
    assert first is not None and first.endswith("-predict-0")
    for name in p.transforms.claim(5):
        p.transforms.run(name)
    assert p.transforms.get(first).status == "Failed"
    p.pipelines.advance_all()
    step = p.pipelines.get_run("flaky", 1).steps[0]
    second = f"{first[:-2]}-1"
    assert (step.status, step.attempt, step.job) == ("Running", 1, second)
    assert step.message.startswith("Attempt 1 failed (") and step.message.endswith("; retrying.")
    assert p.transforms.get(second).status == "Pending"
    p.transforms.stop(second)
    p.pipelines.advance_all()
    run = p.pipelines.get_run("flaky", 1)
    assert (run.status, run.steps[0].status, run.steps[0].attempt) == ("Failed", "Failed", 1)
    assert run.steps[0].message == f"Transform {second} Stopped: Stopped"


@pytest.mark.parametrize(("when", "field"), [
    ({"op": "==", "left": 1, "right": 1, "margin": 0.1}, "steps.c.when.margin"),  # ordering only
    ({"op": ">=", "left": 1, "right": 1, "margin": "{{ params.name }}"}, "steps.c.when.margin"),  # a string
    ({"op": ">=", "left": 1, "right": 1, "margin": "{{ steps.nope.metrics['x'] }}"}, "steps.c.when.margin"),
])
def test_a_bad_margin_is_refused(platform: Platform, when: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        platform.pipelines.create("p", Pipeline.model_validate({
            "parameters": {"name": {"type": "string", "default": "x"}},
            "steps": [{"name": "c", "type": "condition", "when": when}]}))
    assert err.value.details["field"] == field


@pytest.mark.parametrize(("model", "data", "field"), [
    ("endpoint:scored-ep", None, "steps.e.data"),  # the live model has no validation metrics of its own
    ("endpoint:", "raw:1", "steps.e.model"),
    ("endpoint:bad name", "raw:1", "steps.e.model"),
])
def test_evaluating_a_live_endpoint_without_data_or_name_is_refused(platform: Platform, model: str,
                                                                    data: str | None, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        platform.pipelines.create("p", Pipeline.model_validate({"steps": [
            {"name": "e", "type": "evaluate", "model": model, "data": data}]}))
    assert err.value.details["field"] == field


def _frame(p: Platform, ref: str) -> pd.DataFrame:
    _, chunks = p.datasets.open_content(ref)
    return pd.read_csv(io.BytesIO(b"".join(chunks)))


@pytest.mark.parametrize(("step", "field"), [
    ({"name": "t", "type": "transform", "model": "{{ steps.train.model }}", "data": "raw:1", "output": "p"},
     "steps.t.model"),
    ({"name": "e", "type": "evaluate", "model": "{{ steps.train.model }}", "data": "raw:1"}, "steps.e.model"),
    ({"name": "t", "type": "transform", "model": "m:1", "data": "raw:1", "output": "bad name"}, "name"),
])
def test_a_transform_or_dataset_evaluation_of_a_training_job_is_refused(platform: Platform, step: dict[str, object],
                                                                         field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        platform.pipelines.create("p", Pipeline.model_validate({"steps": [TRAIN, step]}))
    assert err.value.details["field"] == field


def test_predictions_of_an_evaluate_step_without_data_is_refused(platform: Platform) -> None:
    with pytest.raises(InvalidArgument, match="only for an evaluate step with data") as err:
        platform.pipelines.create("p", Pipeline.model_validate({"steps": [
            TRAIN, {"name": "e", "type": "evaluate", "model": "{{ steps.train.model }}"},
            {"name": "t", "type": "transform", "model": "m:1", "data": "{{ steps.e.predictions }}", "output": "p"}]}))
    assert err.value.details["field"] == "steps.t"
