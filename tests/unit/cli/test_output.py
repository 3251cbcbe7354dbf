"""CLI tables at 80 columns (a terminal, or any pipe): whole words or an ellipsis, never a word split in two."""

from __future__ import annotations

import io

import pytest
import typer
from rich.console import Console

from slipway.cli import output


@pytest.fixture
def printed(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buf = io.StringIO()
    monkeypatch.setattr(output, "console", Console(file=buf, width=80, color_system=None))
    return buf


def test_a_wide_table_keeps_words_whole_at_80_columns(printed: io.StringIO) -> None:
    columns = ["name", "status", "secondary", "runs", "inputs", "duration", "metric", "created"]
    row = ["cancer-lr-with-a-long-name", "Completed", "Completed", "logistic-regression", "cancer:1, iris:1",
           "12.3s", "validation:accuracy=0.9737", "3m ago"]
    output.table(None, columns, [row])
    text = printed.getvalue()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert text.count("Completed") == 2 and "12.3s" in text and "3m ago" in text
    # Every cell shows whole words of its value, or a word cut with an ellipsis: never a bare piece.
    words = {w for v in row + columns for w in v.split()}
    cells = [c.strip() for line in text.splitlines()[3:-1] for c in line.split("│") if c.strip()]
    for cell in cells:
        assert all(w in words or w.endswith("…") for w in cell.split()), cell


def test_a_long_word_is_cut_with_an_ellipsis(printed: io.StringIO) -> None:
    output.table(None, ["a", "b", "c", "d"], [["x" * 40, "y" * 40, "z" * 40, "Completed"]])
    text = printed.getvalue()
    assert "…" in text and "Completed" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_ctrl_c_while_waiting_says_what_keeps_running(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exited:
        with output.keeps_running("job j keeps running on the server; stop it: slipway jobs stop j."):
            raise KeyboardInterrupt
    assert exited.value.exit_code == 130
    assert "Interrupted: job j keeps running on the server; stop it: slipway jobs stop j." in capsys.readouterr().err


def test_a_record_of_the_servers_json_shows_and_dumps_as_the_typed_view_does() -> None:
    """The list commands render slipway.sdk.plain records (the server's JSON, no pydantic) with the helpers that
    render typed views: the same cells, and `--output json` prints exactly the JSON the server sent."""
    import datetime as dt
    import json

    from slipway.cli import jobs
    from slipway.schemas import JobView
    from slipway.sdk.plain import Record

    created = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3, seconds=5)
    view = JobView(name="j", kind="training", algorithm=None, framework="sklearn", entry_point="train.py",
                   source_sha256=None, inputs={"train": "cancer:1"}, hyperparameters={"C": 0.5}, label="target",
                   problem_type=None, validation_split=None, metric_definitions=[], max_runtime=60,
                   memory_limit_mb=None, status="Completed", secondary_status="Completed",
                   transitions=[{"status": "Completed", "start_time": created}], failure_reason=None,
                   final_metrics={"validation:accuracy": 0.97}, model_available=True, created_at=created,
                   started_at=None, ended_at=None, duration_s=12.34, created_by="admin")
    sent = json.loads(view.model_dump_json(by_alias=True))  # what the route sends
    record = Record(sent)
    for helper in (jobs.status_text, jobs.duration, jobs.what, jobs.headline_metric):
        assert helper(record) == helper(view)
    assert output.ago(record.created_at) == output.ago(view.created_at) == "3m ago"
    assert record.inputs["train"] == "cancer:1" and dict(record.final_metrics.items()) == view.final_metrics
    assert record.transitions[0].status == "Completed" and record.memory_limit_mb is None
    assert output.to_jsonable([record]) == [view.model_dump(mode="json", by_alias=True)] == [sent]
    with pytest.raises(AttributeError, match="no field 'missing'"):
        _ = record.missing


def test_tuning_show_puts_the_reason_on_its_own_line_above_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reason a tuning job failed is a line of its own, its text as sent (no markup), never glued to the table."""
    import datetime as dt

    from slipway.cli import tuning
    from slipway.schemas.tuning import TrialView, TuningJobView

    buf = io.StringIO()
    monkeypatch.setattr(output, "console", Console(file=buf, width=80, color_system=None))
    monkeypatch.setattr(tuning, "console", output.console)
    reason = "All 2 trials failed; the first: [bold]n_estimators[/bold] must be >= 1, got 0."
    trial = TrialView(number=0, status="Failed", job="t-0", params={"n_estimators": 0}, objective=None, steps=0,
                      reason="exit 1")
    v = TuningJobView(
        name="t", status="Failed", strategy="random", objective="validation:accuracy", maximize=True,
        ranges={"n_estimators": "0:5:int"}, max_trials=2, max_parallel=1, max_runtime=None, early_stopping="off",
        seed=None, warm_start_from=None, template={}, failure_reason=reason, counters={"failed": 2},
        best_trial=None, trials=[trial, trial.model_copy(update={"number": 1, "job": "t-1"})],
        created_at=dt.datetime(2026, 12, 3, tzinfo=dt.UTC), created_by="admin", started_at=None, ended_at=None)
    tuning.render(v)
    lines = buf.getvalue().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("reason:"))
    assert " ".join(lines[at:at + 2]).startswith(f"reason: {reason}"[:70])  # Rich may fold a long line
    assert "[bold]n_estimators[/bold]" in buf.getvalue()  # printed as sent, not read as markup
    table_top = next(i for i, line in enumerate(lines) if "┏" in line or "┌" in line or "━" in line)
    assert at < table_top and not any("reason:" in line for line in lines[table_top:])
