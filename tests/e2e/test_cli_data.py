"""The five-minute tour of the README, typed as a user would, on SQLite and Postgres."""

from __future__ import annotations

import json
from pathlib import Path


def test_data_tour(cli, make_csv, tmp_path: Path) -> None:
    csv = make_csv(name="cancer.csv", rows=30)

    r = cli("status")
    assert r.returncode == 0, r.stderr
    assert "datasets" in r.stdout

    r = cli("data", "push", "cancer", str(csv), "--label", "label")
    assert r.returncode == 0, r.stderr
    assert "cancer:1" in r.stdout and "30 rows, 3 columns, csv" in r.stdout and "sha256" in r.stdout

    r = cli("data", "push", "cancer", str(csv), "--label", "label", "--output", "json")
    pushed = json.loads(r.stdout)
    assert pushed["created"] is False and pushed["version"]["ref"] == "cancer:1"

    listed = json.loads(cli("data", "list", "-o", "json").stdout)
    assert [d["name"] for d in listed] == ["cancer"]

    shown = cli("data", "show", "cancer:1")
    assert "label" in shown.stdout and "float64" in shown.stdout and "nulls" in shown.stdout
    for ref in ("cancer", "cancer:latest"):
        assert json.loads(cli("data", "show", ref, "-o", "json").stdout)["version"] == 1

    out = tmp_path / "out"
    r = cli("data", "pull", "cancer:1", str(out), "-o", "json")
    assert json.loads(r.stdout)["path"] == str(out / "cancer.csv")
    assert (out / "cancer.csv").read_bytes() == csv.read_bytes()

    versions = json.loads(cli("data", "versions", "cancer", "-o", "json").stdout)
    assert [v["ref"] for v in versions] == ["cancer:1"]

    r = cli("data", "delete", "cancer:1", "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["ref"] == "cancer:1"
    assert json.loads(cli("status", "-o", "json").stdout)["counts"]["dataset_versions"] == 0


def test_cli_errors_are_one_line_and_non_zero(cli, make_csv) -> None:
    r = cli("data", "show", "cancer:9")
    assert r.returncode == 1
    assert r.stderr.startswith("Error: Dataset 'cancer' not found")
    assert "Traceback" not in r.stderr
    r = cli("data", "push", "has space", str(make_csv()))
    assert r.returncode == 1 and "name 'has space' is not valid" in r.stderr
    r = cli("--debug", "data", "show", "nope")
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_cli_without_server_says_how_to_start_one(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env.update({"SLIPWAY_HOME": str(tmp_path / "nohome"), "SLIPWAY_URL": "http://127.0.0.1:9"})
    r = subprocess.run([sys.executable, "-m", "slipway.cli.main", "data", "list"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 1
    assert "No Slipway server answers at http://127.0.0.1:9" in r.stderr and "slipway up" in r.stderr
