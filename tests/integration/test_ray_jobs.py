"""Training and tuning on Ray through a real server: `compute_url` set to a real local Ray cluster.

One server for the module, on the session's cluster (2 CPUs). The study stays in the server's
database; trials are jobs that the Ray executor places on the cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from slipway.client import Client
from slipway.errors import SlipwayError
from slipway.sandbox import isolation
from tests.support.raycluster import RayCluster, _free_port
from tests.support.servers import SlipwayServer

pytestmark = pytest.mark.xdist_group("ray")

SCRIPT = '''
import argparse, os, time
import slipway

p = argparse.ArgumentParser()
p.add_argument("-x", "--x", type=float, default=0.5)
p.add_argument("--pause", type=float, default=0.0)
a, _ = p.parse_known_args()
for step in range(1, 4):
    slipway.log_metric("score", a.x * step / 3, step=step)
print(f"val_rmse: {1 - a.x:.4f}", flush=True)
time.sleep(a.pause)
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write(str(a.x))
'''


@pytest.fixture(scope="module")
def ray_server(ray_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlipwayServer]:
    home = tmp_path_factory.mktemp("ray-server") / "home"
    srv = SlipwayServer(home, env={"SLIPWAY_COMPUTE_URL": ray_cluster.address}).start(timeout=120)
    yield srv
    srv.stop()


@pytest.fixture
def ray_client(ray_server: SlipwayServer) -> Iterator[Client]:
    c = Client(url=ray_server.url, home=ray_server.home)
    yield c
    c.close()


def test_tuning_trials_run_on_ray_with_logs_metrics_and_models(ray_client: Client, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(SCRIPT)
    job = ray_client.jobs.build_request("rt", script="train.py", source_dir=src, framework="sklearn",
                                        metric_definitions={"val_rmse": "val_rmse: ([0-9.]+)"})
    t = ray_client.tuning.create("rt", job=job, objective="score", ranges=["x=0.9,0.1"], strategy="grid",
                                 max_trials=2, max_parallel=2, maximize=True)
    t.wait(timeout=240)
    v = t.view
    assert v.status == "Completed", v.failure_reason
    assert v.counters.get("completed") == 2
    assert v.best_trial is not None and v.best_trial.params["x"] == 0.9
    best = ray_client.jobs.get(v.best_trial.job)
    log = "\n".join(best.logs())
    assert "[slipway] Ray: node" in log and "val_rmse: 0.1000" in log
    if isolation().isolated:  # confined on the node as a local job is, and its first lines say so
        assert re.search(r"\[slipway\] Sandbox: landlock ABI \d+ on Ray node \w+;", log), log
    series = ray_client.jobs.metrics(v.best_trial.job).series
    assert [p.step for p in series["score"]] == [1, 2, 3]
    assert series["val_rmse"][-1].value == pytest.approx(0.1)
    mv = ray_client.models.register("rt", "ray-model")
    assert mv.lineage["job"] == v.best_trial.job


def test_max_runtime_stops_a_job_on_ray_and_its_cpus_are_asked_of_ray(
        ray_server: SlipwayServer, ray_client: Client, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(SCRIPT)
    # More than the cluster's largest node (2 CPUs), or no CPU at all: refused when the job is created.
    with pytest.raises(SlipwayError) as err:
        ray_client.jobs.create("too-big", script="train.py", source_dir=src, framework="sklearn", cpus=3)
    assert err.value.status_code == 400 and err.value.details.get("field") == "cpus", err.value
    assert "the largest node of the Ray cluster" in str(err.value) and "has 2 CPU" in str(err.value)
    with ray_server.http() as http:
        for field, value in (("cpus", 0), ("gpus", -1), ("cpus", 4096)):
            r = http.post("/api/v1/jobs/too-small", json={"algorithm": "logistic-regression", field: value})
            assert r.status_code == 400 and field in r.text, r.text
    assert "too-big" not in {j.name for j in ray_client.jobs.iter()}

    job = ray_client.jobs.create("slow-on-ray", script="train.py", source_dir=src, framework="sklearn",
                                 hyperparameters={"pause": 600}, max_runtime=8, cpus=2)  # time for the actor to start
    view = job.wait(timeout=120)
    assert view.status == "Stopped" and view.secondary_status == "MaxRuntimeExceeded", view
    assert view.cpus == 2
    log = "".join(job.logs())
    assert '"CPU": 2.0' in log, log  # what Ray assigned the job's actor


def test_server_refuses_to_start_on_an_unreachable_ray(tmp_path: Path) -> None:
    address = f"127.0.0.1:{_free_port()}"
    srv = SlipwayServer(tmp_path / "home", env={"SLIPWAY_COMPUTE_URL": address})
    with pytest.raises(RuntimeError) as err:
        srv.start(timeout=60)
    assert f"Cannot reach the Ray cluster at {address}" in str(err.value)
    assert "ray start --head" in str(err.value)
