"""Models: CreateModel, DescribeModel, DeleteModel, ListModels.

A SageMaker Model is a Slipway model version: the ``ModelDataUrl`` archive is registered in the
model group of the same name (a new version each time). The output of a training job made through
this API is registered from the job itself (its lineage, its ``code/`` and entry point); any other
archive is imported, with ``SAGEMAKER_SUBMIT_DIRECTORY`` unpacked as its ``code/`` and
``SAGEMAKER_PROGRAM`` serving as its handlers, as SageMaker's framework containers serve it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from slipway.compat import object_key
from slipway.compat.errors import AwsError
from slipway.compat.sagemaker.context import Call
from slipway.compat.sagemaker.shapes import arn, clean, epoch, in_window, matches, page, sort_items
from slipway.compat.sagemaker.training import decode_hp, job_spec, model_uri, parse_s3

KIND = "model"
_JOB_ARTIFACT = re.compile(r"/([^/]+)/output/model\.tar\.gz$")


def container(body: dict[str, Any]) -> dict[str, Any]:
    primary = body.get("PrimaryContainer")
    if primary is None:
        containers = body.get("Containers") or []
        if len(containers) != 1:
            raise AwsError("ValidationException",
                           f"Slipway serves one container per model; got {len(containers)} in Containers. Pass "
                           "PrimaryContainer.")
        primary = containers[0]
    return dict(primary)


def _job_of(call: Call, url: str) -> str | None:
    """The training job whose published model archive ``url`` is, if any."""
    m = _JOB_ARTIFACT.search(url)
    if not m:
        return None
    from slipway.errors import NotFound

    try:
        spec = job_spec(call, m.group(1))
    except NotFound:
        return None
    if not spec or model_uri(spec, m.group(1)) != url:
        return None
    return m.group(1)


def _fetch(call: Call, uri: str, dest: Path, field: str) -> None:
    bucket, key = parse_s3(uri, field)
    store_key = object_key(bucket, key)
    if not key or not call.platform.store.list(store_key) == [store_key]:
        raise AwsError("ValidationException", f"Could not access model data at {uri}. Please ensure that the object "
                                              "exists (upload it first).")
    call.platform.store.get_file(store_key, dest)


def _register_archive(call: Call, name: str, env: dict[str, str], url: str) -> str:
    from slipway.artifacts.archive import unpack_artifact
    from slipway.data.folders import unpack_folder

    work = Path(tempfile.mkdtemp(prefix="sm-model-", dir=call.platform.tmp_dir))
    try:
        tar = work / "model.tar.gz"
        _fetch(call, url, tar, "PrimaryContainer.ModelDataUrl")
        folder = work / "model"
        try:
            unpack_artifact(tar, folder)
        except Exception as exc:
            raise AwsError("ValidationException", f"ModelDataUrl {url} is not a model.tar.gz: {exc}") from None
        source = env.get("SAGEMAKER_SUBMIT_DIRECTORY")
        if source and source.startswith("s3://") and not (folder / "code").exists():
            src = work / "sourcedir.tar.gz"
            _fetch(call, source, src, "Environment.SAGEMAKER_SUBMIT_DIRECTORY")
            with open(src, "rb") as f:
                unpack_folder(f, folder / "code")
        program = env.get("SAGEMAKER_PROGRAM")
        code = folder / "code"
        if program and not (code / "inference.py").exists():
            if not (code / program).is_file():
                raise AwsError("ValidationException",
                               f"Environment.SAGEMAKER_PROGRAM {program!r} is not in the model's code "
                               "(SAGEMAKER_SUBMIT_DIRECTORY or the archive's code/ folder).")
            shutil.copyfile(code / program, code / "inference.py")  # its handlers serve; its __main__ does not run
        view = call.platform.registry.register(name, folder, {"kind": "sagemaker", "model_data_url": url},
                                               call.user, description=f"SageMaker model {name} ({url})")
        return view.ref
    finally:
        shutil.rmtree(work, ignore_errors=True)


def create_model(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    name = body["ModelName"]
    if call.resources.find(KIND, name) is not None:
        raise AwsError("ValidationException", f"Cannot create already existing model \"{arn(KIND, name)}\".")
    ref = register_container(call, name, container(body), "PrimaryContainer")
    tags = {t["Key"]: t.get("Value", "") for t in body.get("Tags") or []}
    call.resources.add(KIND, name, ref, body, tags, call.user)
    return {"ModelArn": arn(KIND, name)}


def register_container(call: Call, name: str, primary: dict[str, Any], field: str) -> str:
    """Register a container's model data as a new version of Slipway model ``name``; return ``name:N``.
    A container naming a model package serves that package's version (nothing new is registered)."""
    if primary.get("ModelPackageName"):
        from slipway.compat.sagemaker.packages import package_ref

        return package_ref(call, primary["ModelPackageName"])
    url = primary.get("ModelDataUrl") or ((primary.get("ModelDataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
    if not url:
        raise AwsError("ValidationException", f"{field}.ModelDataUrl is required by Slipway: the s3:// URI of a "
                                              "model.tar.gz (a training job's S3ModelArtifacts, or uploaded).")
    env = {k: str(decode_hp(v)) for k, v in (primary.get("Environment") or {}).items()}
    job = _job_of(call, url)
    if job is not None:
        return str(call.platform.promotion.register(job, name, call.user,
                                                    description=f"SageMaker model {name} ({url})").ref)
    return _register_archive(call, name, env, url)


def model_ref(call: Call, name: str) -> str:
    found = call.resources.get(KIND, name)
    return str(found["target"])


def describe_model(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    found = call.resources.get(KIND, body["ModelName"])
    spec = found["spec"]
    out = {"ModelName": found["name"], "ModelArn": arn(KIND, found["name"]), "CreationTime": epoch(found["created_at"]),
           "PrimaryContainer": spec.get("PrimaryContainer"), "Containers": spec.get("Containers"),
           "ExecutionRoleArn": spec.get("ExecutionRoleArn"),
           "EnableNetworkIsolation": bool(spec.get("EnableNetworkIsolation", False))}
    return clean(out)


def delete_model(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    """The SageMaker Model goes; its Slipway version goes too unless an endpoint serves it or an alias holds it."""
    from slipway.errors import Conflict, NotFound

    found = call.resources.get(KIND, body["ModelName"])
    call.resources.delete(KIND, found["name"])
    if not str(found["target"]).startswith(f"{found['name']}:"):
        return {}  # it served a model package's version: the package keeps it
    try:
        call.platform.registry.delete_version(str(found["target"]), user=call.user)
    except (Conflict, NotFound):
        pass
    return {}


def list_models(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    items = []
    for r in call.resources.list(KIND):
        created = epoch(r["created_at"]) or 0.0
        if not matches(body, r["name"]) or not in_window(body, created):
            continue
        items.append({"ModelName": r["name"], "ModelArn": arn(KIND, r["name"]), "CreationTime": created})
    items = sort_items(items, body, {"CreationTime": "CreationTime", "Name": "ModelName"})
    chunk, token = page(items, body)
    return clean({"Models": chunk, "NextToken": token})


OPERATIONS = {
    "CreateModel": create_model,
    "DescribeModel": describe_model,
    "DeleteModel": delete_model,
    "ListModels": list_models,
}
