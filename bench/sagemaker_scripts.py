"""Not a benchmark: published SageMaker script-mode examples run unmodified through a server, as a table.

The scripts are not in this repository (docs/training.md, "Published SageMaker scripts that run
unmodified"): fetch them from https://github.com/aws/amazon-sagemaker-examples (Apache-2.0) at the
commits below into SCRIPTS/<case>/, unchanged, then

    .venv/bin/python bench/sagemaker_scripts.py SCRIPTS [CASE ...]

Each case generates small data like its notebook's, trains with the notebook's hyperparameters
(`c.jobs.create(script=…)`), registers, deploys and invokes the endpoint with the notebook's wire format,
and prints yes/no per stage with the first line of what failed.

| case | files (path in the repository @ commit) |
| --- | --- |
| iris | sagemaker-python-sdk/scikit_learn_iris/scikit_learn_iris.py @296b3e4 |
| sklearn_rf | sagemaker-script-mode/sklearn/train.py @e723356 |
| sklearn_sm_training | sagemaker-script-mode/scikitlearn_script/train_deploy_scikitlearn_without_dependencies.py @63b4ece |
| moon | sagemaker-python-sdk/pytorch_moon_data_nn/source_solution/{train,model}.py @e4db3b2 |
| pytorch_script | sagemaker-script-mode/pytorch_script/{train_deploy_pytorch_without_dependencies,pytorch_model_def}.py @9be7857 |
| frameworks_pytorch | frameworks/pytorch/code/{train,inference}.py @296b3e4 |
| xgb_abalone | introduction_to_amazon_algorithms/xgboost_abalone/abalone.py @09934b4 |
| xgb_script | sagemaker-script-mode/xgboost_script/train_deploy_xgboost_with_dependencies.py and my_custom_library/ @61af807 |
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import struct
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchserver import start_server  # noqa: E402

from slipway.client import Client  # noqa: E402

if len(sys.argv) < 2:
    raise SystemExit(__doc__)
PUB = Path(sys.argv[1])
ONLY = sys.argv[2:]
WORK = Path(tempfile.mkdtemp(prefix="sm-scripts-"))
rng = np.random.default_rng(0)


def csv(path, y, x, header=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ([",".join(header)] if header else []) + [",".join([str(a), *map(str, r)]) for a, r in zip(y, x)]
    path.write_text("\n".join(lines) + "\n")
    return path


def npy(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def idx(path, arr, labels=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    head = struct.pack(">II", 2049, len(arr)) if labels else struct.pack(">IIII", 2051, len(arr), 28, 28)
    path.write_bytes(gzip.compress(head + arr.astype(np.uint8).tobytes()))


def src(name):
    d = WORK / "src" / name
    shutil.copytree(PUB / name, d)
    return d


results = {}


def case(fn):
    if ONLY and fn.__name__ not in ONLY:
        return fn
    stage = {"train": "-", "register": "-", "deploy": "-", "invoke": "-", "why": ""}
    results[fn.__name__] = stage
    try:
        fn(stage)
    except Exception as exc:
        stage["why"] = f"{type(exc).__name__}: {exc}"[:1500]
        traceback.print_exc()
    print(fn.__name__, json.dumps(stage), flush=True)
    return fn


def run(stage, c, name, script, srcdir, data, hps, framework=None):
    job = c.jobs.create(name, script=script, source_dir=srcdir, data=data, hyperparameters=hps,
                        framework=framework)
    try:
        job = job.wait(timeout=600)
    except Exception:
        stage["train"] = "no"
        raise
    stage["train"] = "yes"
    m = c.models.register(name, name + "-m")
    stage["register"] = "yes"
    c.endpoints.deploy(name + "-ep", m.ref)
    stage["deploy"] = "yes"
    return name + "-ep"

proc, url = start_server(WORK / "home")
c = Client(url=url, home=WORK / "home")
try:
    @case
    def iris(stage):
        x = rng.normal(size=(150, 4)).round(2)
        y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 1).astype(int)
        c.datasets.push("iris", csv(WORK / "d/iris/iris.csv", y, x))
        ep = run(stage, c, "iris", "scikit_learn_iris.py", src("iris"), {"train": "iris:1"}, {"max_leaf_nodes": 30},
                 "sklearn")
        r = c.endpoints.invoke_raw(ep, npy(x[:5]), "application/x-npy", "application/x-npy")
        out = np.load(io.BytesIO(r.content))
        assert out.tolist() == y[:5].tolist(), out
        stage["invoke"] = "yes"

    @case
    def sklearn_rf(stage):
        x = rng.normal(size=(120, 4)).round(2)
        cat = (x[:, 0] > 0).astype(int) + (x[:, 2] > 0).astype(int)
        names = np.array(["setosa", "versicolor", "virginica"])
        p = WORK / "d/rf/train.csv"
        p.parent.mkdir(parents=True)
        p.write_text("a,b,c,d,class,class_cat\n" + "".join(
            ",".join(map(str, r)) + f",{names[k]},{k}\n" for r, k in zip(x, cat)))
        c.datasets.push("rf", p)
        ep = run(stage, c, "rf", "train.py", src("sklearn_rf"), {"train": "rf:1"}, {"estimators": 20}, "sklearn")
        out = c.endpoints.invoke(ep, {"Input": x[:1].tolist()})
        assert set(out) == {"Output"} and isinstance(out["Output"], int), out
        stage["invoke"] = "yes"

    @case
    def sklearn_sm_training(stage):
        x = rng.normal(size=(100, 8)).round(2)
        y = x[:, 0] * 2 + x[:, 1]
        c.datasets.push("cal-train", csv(WORK / "d/cal/train/train.csv", y.round(3), x))
        c.datasets.push("cal-test", csv(WORK / "d/cal/test/test.csv", y.round(3), x))
        ep = run(stage, c, "cal", "train_deploy_scikitlearn_without_dependencies.py", src("sklearn_sm_training"),
                 {"train": "cal-train:1", "test": "cal-test:1"}, {"n-estimators": 100, "max-depth": 10}, "sklearn")
        r = c.endpoints.invoke_raw(ep, npy(x[:3]), "application/x-npy", "application/x-npy")
        assert np.load(io.BytesIO(r.content)).shape == (3,)
        stage["invoke"] = "yes"

    @case
    def moon(stage):
        x = rng.normal(size=(200, 2)).round(3)
        y = (x[:, 0] * x[:, 1] > 0).astype(int)
        c.datasets.push("moon", csv(WORK / "d/moon/train.csv", y, x))
        ep = run(stage, c, "moon", "train.py", src("moon"), {"train": "moon:1"},
                 {"input_dim": 2, "hidden_dim": 20, "output_dim": 1, "epochs": 80}, "pytorch")
        r = c.endpoints.invoke_raw(ep, npy(x[:4].astype("float32")), "application/x-npy", "application/x-npy")
        assert np.load(io.BytesIO(r.content)).shape == (4, 1)
        stage["invoke"] = "yes"

    @case
    def pytorch_script(stage):
        x = rng.normal(size=(300, 8)).astype("float32")
        y = (x[:, 0] - x[:, 1]).astype("float32")
        for ch, xx, yy in (("train", x[:240], y[:240]), ("test", x[240:], y[240:])):
            d = WORK / f"d/housing/{ch}"
            d.mkdir(parents=True)
            np.save(d / f"x_{ch}.npy", xx)
            np.save(d / f"y_{ch}.npy", yy)
            c.datasets.push(f"housing-{ch}", d)
        ep = run(stage, c, "housing", "train_deploy_pytorch_without_dependencies.py", src("pytorch_script"),
                 {"train": "housing-train:1", "test": "housing-test:1"},
                 {"epochs": 25, "batch_size": 128, "learning_rate": 0.01}, "pytorch")
        out = c.endpoints.invoke(ep, x[:1].tolist())
        assert isinstance(out, list) and len(out) == 1, out
        stage["invoke"] = "yes"

    @case
    def frameworks_pytorch(stage):
        imgs = rng.integers(0, 255, size=(256, 28, 28))
        labels = rng.integers(0, 10, size=256)
        for ch, pre, sl in (("training", "train", slice(0, 200)), ("testing", "t10k", slice(200, 256))):
            d = WORK / f"d/mnist/{ch}"
            idx(d / f"{pre}-images-idx3-ubyte.gz", imgs[sl])
            idx(d / f"{pre}-labels-idx1-ubyte.gz", labels[sl], True)
            c.datasets.push(f"mnist-{ch}", d)
        ep = run(stage, c, "mnist", "train.py", src("frameworks_pytorch"),
                 {"training": "mnist-training:1", "testing": "mnist-testing:1"},
                 {"epochs": 1, "batch-size": 64, "learning-rate": 1e-3, "log-interval": 100}, "pytorch")
        inputs = (imgs[:2] / 255.0).reshape(2, 1, 28, 28).tolist()
        out = c.endpoints.invoke(ep, {"inputs": inputs})
        assert np.asarray(out).shape == (2, 10), out
        stage["invoke"] = "yes"

    @case
    def xgb_abalone(stage):
        x = rng.normal(size=(200, 8)).round(3)
        y = (x[:, 0] * 3 + 10).round(1)
        for ch, sl in (("train", slice(0, 160)), ("validation", slice(160, 200))):
            p = WORK / f"d/abalone/{ch}/abalone.{ch}"
            p.parent.mkdir(parents=True)
            p.write_text("".join(f"{a} " + " ".join(f"{j + 1}:{v}" for j, v in enumerate(r)) + "\n"
                                 for a, r in zip(y[sl], x[sl])))
            c.datasets.push(f"abalone-{ch}", p.parent)
        hps = {"max_depth": "5", "eta": "0.2", "gamma": "4", "min_child_weight": "6", "subsample": "0.7",
               "verbosity": "1", "objective": "reg:squarederror", "num_round": "50"}
        ep = run(stage, c, "abalone", "abalone.py", src("xgb_abalone"),
                 {"train": "abalone-train:1", "validation": "abalone-validation:1"}, hps, "xgboost")
        payload = " ".join(f"{j + 1}:{v}" for j, v in enumerate(x[0]))
        out = c.endpoints.invoke_raw(ep, payload, "text/x-libsvm", "text/csv").text
        float(out.strip())
        stage["invoke"] = "yes"

    @case
    def xgb_script(stage):
        x = rng.normal(size=(200, 8)).round(3)
        y = (x[:, 0] * 3 + 10).round(2)
        c.datasets.push("xgbcv", csv(WORK / "d/xgbcv/train.csv", y, x))
        ep = run(stage, c, "xgbcv", "train_deploy_xgboost_with_dependencies.py", src("xgb_script"),
                 {"train": "xgbcv:1"}, {"num_round": 6, "K": 5}, "xgboost")
        rows = "\n".join(",".join(map(str, r)) for r in x[:3])
        out = c.endpoints.invoke_raw(ep, rows, "text/csv", "text/csv").text
        assert len(out.splitlines()) == 3, out
        stage["invoke"] = "yes"
finally:
    c.close()
    proc.terminate()
    proc.wait(timeout=30)
    shutil.rmtree(WORK, ignore_errors=True)
print(f"\n{'case':<22}{'train':<7}{'register':<10}{'deploy':<8}{'invoke':<8}why")
for name, r in results.items():
    why = r["why"].strip().splitlines()[-1][:100] if r["why"].strip() else ""
    print(f"{name:<22}{r['train']:<7}{r['register']:<10}{r['deploy']:<8}{r['invoke']:<8}{why}")
done = sum(r["invoke"] == "yes" for r in results.values())
print(f"\n{done} of {len(results)} end to end")
