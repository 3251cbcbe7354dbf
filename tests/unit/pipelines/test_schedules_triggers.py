"""Schedules (an injected clock, no sleeping) and triggers on platform events."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from slipway.db.models import Event
from slipway.errors import InvalidArgument
from slipway.pipelines import Pipeline
from slipway.services import Platform
from tests.support.job_driver import write_csv

DEF = {"parameters": {"data": {"type": "string", "default": "reviews:1"}},
       "steps": [{"name": "stop", "type": "fail", "message": "data was {{ params.data }}"}]}


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def test_a_schedule_fires_in_its_timezone_and_runs_once_after_downtime(platform: Platform) -> None:
    p = platform.pipelines
    clock = Clock(dt.datetime(2026, 12, 2, 1, 0, tzinfo=dt.UTC))
    p.clock = clock
    p.create("nightly", Pipeline.model_validate(DEF))
    view = p.set_schedule("nightly", "0 3 * * *", "Europe/Paris", {"data": "x:1"})
    assert view.schedule is not None and view.schedule.next_run_at == dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)
    clock.now = dt.datetime(2026, 12, 2, 1, 59, tzinfo=dt.UTC)
    assert p.fire_schedules() == []
    clock.now = dt.datetime(2026, 12, 2, 2, 0, 5, tzinfo=dt.UTC)
    [run] = p.fire_schedules()
    assert run.parameters == {"data": "x:1"} and run.started_by == "schedule:0 3 * * * (Europe/Paris)"
    assert p.fire_schedules() == []  # fired once
    # Down for three days: one run, not three; the next one is tomorrow 03:00 Paris.
    clock.now = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
    assert len(p.fire_schedules()) == 1
    assert p.get("nightly").schedule.next_run_at == dt.datetime(2026, 12, 6, 2, 0, tzinfo=dt.UTC)  # type: ignore
    assert [r.number for r in p.list_runs("nightly")] == [2, 1]


@pytest.mark.parametrize(("cron", "tz", "field"), [("0 3 * *", "UTC", "cron"), ("61 * * * *", "UTC", "cron"),
                                                   ("0 3 * * *", "Mars/Olympus", "timezone")])
def test_a_bad_cron_or_timezone_is_refused(platform: Platform, cron: str, tz: str, field: str) -> None:
    platform.pipelines.create("nightly", Pipeline.model_validate(DEF))
    with pytest.raises(InvalidArgument) as err:
        platform.pipelines.set_schedule("nightly", cron, tz, {})
    assert err.value.details["field"] == field


def test_a_dataset_trigger_starts_one_run_per_new_version(platform: Platform, tmp_path: Path) -> None:
    p = platform.pipelines
    platform.datasets.push("reviews", write_csv(tmp_path / "a.csv", rows=10), filename="a.csv")  # before: ignored
    p.create("retrain", Pipeline.model_validate(DEF))
    view = p.add_trigger("retrain", "dataset:reviews", {"data": "{{ event.ref }}"})
    assert [t.on for t in view.triggers] == ["dataset:reviews"]
    assert p.fire_triggers() == []
    platform.datasets.push("reviews", write_csv(tmp_path / "b.csv", rows=11), filename="b.csv")
    platform.datasets.push("other", write_csv(tmp_path / "c.csv", rows=12), filename="c.csv")
    platform.datasets.push("reviews", write_csv(tmp_path / "d.csv", rows=13), filename="d.csv")
    runs = p.fire_triggers()
    assert [r.parameters["data"] for r in runs] == ["reviews:2", "reviews:3"]
    assert runs[0].started_by.startswith("trigger:dataset:reviews (event ")
    assert p.fire_triggers() == []  # each event once
    with platform.db.session() as s:  # the event was written with the version, in its transaction
        kinds = [(e.kind, e.subject, e.payload["ref"]) for e in s.execute(select(Event)).scalars()]
    assert ("dataset.version_created", "reviews", "reviews:3") in kinds


def test_an_alarm_trigger_fires_when_the_alarm_enters_alarm(platform: Platform) -> None:
    from slipway.services.events import emit

    p = platform.pipelines
    p.create("retrain", Pipeline.model_validate(DEF))
    p.add_trigger("retrain", "alarm:cancer-drift", {})
    for old, new in (("INSUFFICIENT_DATA", "OK"), ("OK", "ALARM"), ("ALARM", "OK")):  # as the alarms service writes
        platform.db.run(lambda s, o=old, n=new: emit(s, "alarm.state_changed", "alarm/cancer-drift",
                                                     {"from": o, "to": n, "reason": "drift"}))
    platform.db.run(lambda s: emit(s, "alarm.state_changed", "alarm/other", {"from": "OK", "to": "ALARM"}))
    [run] = p.fire_triggers()
    assert run.started_by.startswith("trigger:alarm:cancer-drift (event ")


def test_a_trigger_on_an_unknown_event_kind_or_parameter_is_refused(platform: Platform) -> None:
    platform.pipelines.create("retrain", Pipeline.model_validate(DEF))
    with pytest.raises(InvalidArgument) as err:
        platform.pipelines.add_trigger("retrain", "s3:bucket", {})
    assert err.value.details["field"] == "on"
    with pytest.raises(InvalidArgument) as err:
        platform.pipelines.add_trigger("retrain", "dataset:reviews", {"nope": 1})
    assert err.value.details["field"] == "parameters"
