"""Endpoint configs and endpoints.

An EndpointConfig is kept as SageMaker sent it (Slipway has no such object); CreateEndpoint and
UpdateEndpoint turn its production variants into a Slipway endpoint's variants (the Model's version,
``InitialVariantWeight`` as the weight, ``InitialInstanceCount`` replicas), so an update is
Slipway's own: new replicas ready before traffic moves, no failed requests.

A ``ServerlessConfig`` makes a serverless endpoint: Slipway's scale to zero (requests queue while a replica
starts) with ``MaxConcurrency`` as the cap on requests in flight; ``ProvisionedConcurrency`` keeps one replica
warm (minimum one, never cold). ``MemorySizeInMB`` is recorded, not enforced. Serverless and instance
variants cannot be mixed in one config, as on SageMaker.
"""

from __future__ import annotations

from typing import Any

from slipway.compat.errors import AwsError
from slipway.compat.sagemaker.context import Call
from slipway.compat.sagemaker.models import model_ref
from slipway.compat.sagemaker.shapes import arn, clean, epoch, every, in_window, matches, page, sort_items

CONFIG = "endpoint-config"
KIND = "endpoint"
# Slipway endpoint status -> SageMaker EndpointStatus
STATUS = {"Creating": "Creating", "InService": "InService", "Updating": "Updating", "Failed": "Failed",
          "Deleting": "Deleting", "Recovering": "SystemUpdating"}


def create_endpoint_config(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    name = body["EndpointConfigName"]
    if call.resources.find(CONFIG, name) is not None:
        raise AwsError("ValidationException",
                       f"Cannot create already existing endpoint configuration \"{arn(CONFIG, name)}\".")
    names = [v["VariantName"] for v in body["ProductionVariants"]]
    if len(set(names)) != len(names):
        raise AwsError("ValidationException", f"Variant names must be unique in an endpoint configuration; got "
                                              f"{', '.join(names)}.")
    serverless = [v for v in body["ProductionVariants"] if "ServerlessConfig" in v]
    if serverless and len(serverless) != len(body["ProductionVariants"]):
        raise AwsError("ValidationException", "An endpoint configuration's production variants must all have a "
                                              "ServerlessConfig or none; got a mix.")
    for n, v in enumerate(body["ProductionVariants"], 1):
        if "ServerlessConfig" in v:
            if "InitialInstanceCount" in v or "InstanceType" in v:
                raise AwsError("ValidationException", f"Variant {v['VariantName']!r} has a ServerlessConfig and "
                                                      "InitialInstanceCount/InstanceType; expected one or the other.")
            _serverless(v["ServerlessConfig"], f"productionVariants.{n}.member.serverlessConfig")
        else:
            _instances(v.get("InitialInstanceCount", 1), f"productionVariants.{n}.member.initialInstanceCount")
        if not v.get("ModelName"):
            raise AwsError("ValidationException", f"Variant {v['VariantName']!r} has no ModelName.")
        model_ref(call, v["ModelName"])  # "Could not find model" as SageMaker answers
    if not any(float(v.get("InitialVariantWeight", 1.0)) > 0 for v in body["ProductionVariants"]):
        raise AwsError("ValidationException", "At least one production variant needs an InitialVariantWeight "
                                              "above 0.")
    tags = {t["Key"]: t.get("Value", "") for t in body.get("Tags") or []}
    call.resources.add(CONFIG, name, None, body, tags, call.user)
    return {"EndpointConfigArn": arn(CONFIG, name)}


def describe_endpoint_config(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    found = call.resources.get(CONFIG, body["EndpointConfigName"])
    spec = found["spec"]
    return clean({"EndpointConfigName": found["name"], "EndpointConfigArn": arn(CONFIG, found["name"]),
                  "ProductionVariants": spec["ProductionVariants"], "DataCaptureConfig": spec.get("DataCaptureConfig"),
                  "KmsKeyId": spec.get("KmsKeyId"), "CreationTime": epoch(found["created_at"])})


def delete_endpoint_config(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    found = call.resources.get(CONFIG, body["EndpointConfigName"])
    call.resources.delete(CONFIG, found["name"])
    return {}


def max_instances() -> int:
    """Replicas per variant at most: the platform's bound on a variant's ``replicas``."""
    from slipway.schemas import VariantSpec

    return next(int(m.le) for m in VariantSpec.model_fields["replicas"].metadata if getattr(m, "le", None) is not None)


def _instances(value: Any, field: str) -> int:
    """An instance count as replicas: a whole number from 1 to ``max_instances()``, else a ValidationException
    naming the field, the value and the bound (never a silent clamp)."""
    top = max_instances()
    return _bounded(value, field, 1, top, f" (Slipway runs one replica per instance, at most {top} per variant)")


def _bounded(value: Any, field: str, low: int, high: int, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AwsError("ValidationException", f"Value {value!r} at '{field}' failed to satisfy constraint: Member "
                                              f"must be a whole number from {low} to {high}{why}.")
    return value


def _serverless(config: Any, field: str, update: bool = False) -> dict[str, int]:
    """A ServerlessConfig (or an update's ServerlessUpdateConfig), checked as SageMaker bounds it."""
    if not isinstance(config, dict):
        raise AwsError("ValidationException", f"Value at '{field}' must be a structure.")
    out = {}
    if not update or "MaxConcurrency" in config:
        out["MaxConcurrency"] = _bounded(config.get("MaxConcurrency"), f"{field}.maxConcurrency", 1, 200)
    if not update:
        out["MemorySizeInMB"] = _bounded(config.get("MemorySizeInMB"), f"{field}.memorySizeInMB", 1024, 6144)
    if "ProvisionedConcurrency" in config:
        out["ProvisionedConcurrency"] = _bounded(config["ProvisionedConcurrency"],
                                                 f"{field}.provisionedConcurrency", 1, 200)
        if out["ProvisionedConcurrency"] > out.get("MaxConcurrency", 200):
            raise AwsError("ValidationException", f"'{field}.provisionedConcurrency' "
                                                  f"({out['ProvisionedConcurrency']}) must not exceed MaxConcurrency "
                                                  f"({out['MaxConcurrency']}).")
    return out


def serverless_scaling(config: dict[str, Any]) -> Any:
    """Slipway's scaling for a SageMaker ServerlessConfig: scale to zero capped at MaxConcurrency in flight;
    with ProvisionedConcurrency one replica stays warm."""
    from slipway.schemas import ScalingSpec

    cap = int(config["MaxConcurrency"])
    if config.get("ProvisionedConcurrency"):
        return ScalingSpec(min_replicas=1, max_concurrency=cap)
    return ScalingSpec(serverless=True, max_concurrency=cap)


def _config_scaling(call: Call, config: str) -> Any:
    """The endpoint's scaling for the config: serverless from its ServerlessConfig, else None."""
    variants = call.resources.get(CONFIG, config)["spec"]["ProductionVariants"]
    found = [v["ServerlessConfig"] for v in variants if "ServerlessConfig" in v]
    return serverless_scaling(found[0]) if found else None


def _variants(call: Call, config: str) -> list[Any]:
    from slipway.schemas import VariantSpec

    spec = call.resources.get(CONFIG, config)["spec"]
    out = []
    for v in spec["ProductionVariants"]:
        out.append(VariantSpec(name=v["VariantName"], model=model_ref(call, v["ModelName"]),
                               weight=float(v.get("InitialVariantWeight", 1.0)),
                               replicas=max(1, min(max_instances(), int(v.get("InitialInstanceCount", 1))))))
    return out


def create_endpoint(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    name, config = body["EndpointName"], body["EndpointConfigName"]
    if call.resources.find(KIND, name) is not None:
        raise AwsError("ValidationException", f"Cannot create already existing endpoint \"{arn(KIND, name)}\".")
    variants = _variants(call, config)
    tags = {t["Key"]: t.get("Value", "") for t in body.get("Tags") or []}
    call.platform.endpoints.create(name, variants, user=call.user, scaling=_config_scaling(call, config))
    call.resources.delete(KIND, name)  # a row left by an endpoint deleted outside this API
    call.resources.add(KIND, name, name, {"EndpointConfigName": config}, tags, call.user)
    return {"EndpointArn": arn(KIND, name)}


def _by_variant(spec: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in (spec or {}).get("variants", [])}


def _serverless_now(config: dict[str, Any] | None, spec: dict[str, Any] | None) -> dict[str, Any] | None:
    """A variant's ServerlessConfig as the endpoint runs it: MaxConcurrency from its scaling settings (an
    UpdateEndpointWeightsAndCapacities changes them), the rest as configured."""
    scaling = (spec or {}).get("scaling") or {}
    if config is None or not scaling.get("max_concurrency"):
        return None
    return {**config, "MaxConcurrency": int(scaling["max_concurrency"])}


def describe(call: Call, view: Any) -> dict[str, Any]:
    found = call.resources.find(KIND, view.name)
    config = (found or {}).get("spec", {}).get("EndpointConfigName") or view.name
    live, desired = _by_variant(view.live), _by_variant(view.desired)
    cfg = call.resources.find(CONFIG, config)
    serverless = {v["VariantName"]: v["ServerlessConfig"] for v in (cfg or {}).get("spec", {}).get(
        "ProductionVariants", []) if "ServerlessConfig" in v}
    variants = []
    scaled = {v.name: v.desired for v in view.scaling.variants} if view.scaling is not None else {}
    for n, name in enumerate(dict.fromkeys([*live, *desired])):
        cur, want = live.get(name), desired.get(name)
        if view.status == "Deleting":
            break
        # Instances: the live variant's replicas that are ready now; wanted: its count, or the autoscaler's.
        ready = sum(1 for r in view.replicas if r.variant == name and r.status == "Ready"
                    and cur is not None and r.model == cur["model"])
        wanted = int(want["replicas"]) if want else 0
        if want and view.scaling is not None:
            wanted = scaled.get(name, view.scaling.desired if n == 0 else wanted)
        variants.append(clean({
            "VariantName": name,
            "CurrentWeight": float(cur["weight"]) if cur else 0.0,
            "DesiredWeight": float(want["weight"]) if want else 0.0,
            "CurrentInstanceCount": ready,
            "DesiredInstanceCount": wanted,
            "CurrentServerlessConfig": _serverless_now(serverless.get(name), view.live) if cur else None,
            "DesiredServerlessConfig": _serverless_now(serverless.get(name), view.desired) if want else None,
        }))
    status = STATUS.get(view.status, view.status)
    return clean({
        "EndpointName": view.name, "EndpointArn": arn(KIND, view.name), "EndpointConfigName": config,
        "ProductionVariants": variants or None, "EndpointStatus": status,
        "FailureReason": view.reason if status == "Failed" and view.reason else None,
        "CreationTime": epoch(view.created_at), "LastModifiedTime": epoch(view.updated_at),
    })


def describe_endpoint(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    return describe(call, call.platform.endpoints.get(body["EndpointName"]))


def update_endpoint(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    name, config = body["EndpointName"], body["EndpointConfigName"]
    view = call.platform.endpoints.get(name)
    if view.status in ("Creating", "Updating", "Deleting"):
        raise AwsError("ValidationException", f"Cannot update in-progress endpoint \"{arn(KIND, name)}\" (status "
                                              f"{STATUS.get(view.status, view.status)}).")
    scaling = _config_scaling(call, config)
    # A serverless endpoint moved to instances runs their count (autoscaling off); otherwise Slipway's own
    # scaling settings, if any, stay.
    was_serverless = bool(((view.desired or {}).get("scaling") or {}).get("serverless"))
    call.platform.endpoints.update(name, _variants(call, config), user=call.user, scaling=scaling,
                                   fixed=scaling is None and was_serverless)
    if call.resources.find(KIND, name) is None:
        call.resources.add(KIND, name, name, {"EndpointConfigName": config}, {}, call.user)
    else:
        call.resources.update(KIND, name, spec={"EndpointConfigName": config})
    return {"EndpointArn": arn(KIND, name)}


def update_endpoint_weights_and_capacities(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    """New weights and instance counts (replicas) of existing variants, as an update of the same models."""
    from slipway.schemas import VariantSpec

    name = body["EndpointName"]
    view = call.platform.endpoints.get(name)
    changes = body.get("DesiredWeightsAndCapacities") or []
    updates = [_serverless(c["ServerlessUpdateConfig"], f"desiredWeightsAndCapacities.{n}.member."
                           "serverlessUpdateConfig", update=True)
               for n, c in enumerate(changes, 1) if "ServerlessUpdateConfig" in c]
    if view.status in ("Creating", "Updating", "Deleting"):
        raise AwsError("ValidationException", f"Cannot update in-progress endpoint \"{arn(KIND, name)}\" (status "
                                              f"{STATUS.get(view.status, view.status)}).")
    current = [dict(v) for v in (view.live or view.desired or {}).get("variants", [])]
    by_name = {v["name"]: v for v in current}
    scaling = (view.live or view.desired or {}).get("scaling")
    if updates and not (scaling and scaling.get("max_concurrency")):
        raise AwsError("ValidationException", f"Endpoint \"{arn(KIND, name)}\" is not serverless: "
                                              "ServerlessUpdateConfig applies to serverless variants only.")
    if not changes:
        raise AwsError("ValidationException", "DesiredWeightsAndCapacities needs at least one variant.")
    for n, c in enumerate(changes, 1):
        v = by_name.get(c.get("VariantName", ""))
        if v is None:
            raise AwsError("ValidationException", f"The variant(s) \"[{c.get('VariantName')}]\" are not present on "
                                                  f"endpoint \"{arn(KIND, name)}\"; its variants: "
                                                  f"{', '.join(by_name)}.")
        if "DesiredInstanceCount" in c:
            v["replicas"] = _instances(c["DesiredInstanceCount"],
                                       f"desiredWeightsAndCapacities.{n}.member.desiredInstanceCount")
        if "DesiredWeight" in c:
            weight = c["DesiredWeight"]
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                raise AwsError("ValidationException", f"Value {weight!r} at 'desiredWeightsAndCapacities.{n}.member."
                                                      "desiredWeight' failed to satisfy constraint: Member must be a "
                                                      "number of at least 0.")
            v["weight"] = float(weight)
    if not any(float(v.get("weight", 1.0)) > 0 for v in current):
        raise AwsError("ValidationException", "At least one production variant needs a weight above 0.")
    fields = set(VariantSpec.model_fields)
    new_scaling = None
    if updates:
        from slipway.schemas import ScalingSpec

        merged = {**scaling, "max_concurrency": updates[-1].get(
            "MaxConcurrency", scaling["max_concurrency"])}
        if "ProvisionedConcurrency" in updates[-1]:  # one replica kept warm, as at creation
            merged.update(serverless=False, min_replicas=max(1, int(merged.get("min_replicas", 0))))
        new_scaling = ScalingSpec.model_validate(merged)
    call.platform.endpoints.update(name, [VariantSpec.model_validate({k: x for k, x in v.items() if k in fields})
                                          for v in current], user=call.user, scaling=new_scaling)
    return {"EndpointArn": arn(KIND, name)}


def delete_endpoint(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    name = body["EndpointName"]
    call.platform.endpoints.delete(name, user=call.user)
    call.resources.delete(KIND, name)
    return {}


def list_endpoints(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    views = every(call.platform.endpoints.list)
    items = []
    for v in views:
        status = STATUS.get(v.status, v.status)
        created, modified = epoch(v.created_at) or 0.0, epoch(v.updated_at) or 0.0
        if not matches(body, v.name, status) or not in_window(body, created, modified):
            continue
        items.append({"EndpointName": v.name, "EndpointArn": arn(KIND, v.name), "CreationTime": created,
                      "LastModifiedTime": modified, "EndpointStatus": status})
    items = sort_items(items, body, {"CreationTime": "CreationTime", "Name": "EndpointName",
                                     "Status": "EndpointStatus"})
    chunk, token = page(items, body)
    return clean({"Endpoints": chunk, "NextToken": token})


def list_endpoint_configs(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    items = [{"EndpointConfigName": r["name"], "EndpointConfigArn": arn(CONFIG, r["name"]),
              "CreationTime": epoch(r["created_at"])} for r in call.resources.list(CONFIG)
             if matches(body, r["name"]) and in_window(body, epoch(r["created_at"]) or 0.0)]
    items = sort_items(items, body, {"CreationTime": "CreationTime", "Name": "EndpointConfigName"})
    chunk, token = page(items, body)
    return clean({"EndpointConfigs": chunk, "NextToken": token})


OPERATIONS = {
    "CreateEndpointConfig": create_endpoint_config,
    "DescribeEndpointConfig": describe_endpoint_config,
    "DeleteEndpointConfig": delete_endpoint_config,
    "ListEndpointConfigs": list_endpoint_configs,
    "CreateEndpoint": create_endpoint,
    "DescribeEndpoint": describe_endpoint,
    "UpdateEndpoint": update_endpoint,
    "UpdateEndpointWeightsAndCapacities": update_endpoint_weights_and_capacities,
    "DeleteEndpoint": delete_endpoint,
    "ListEndpoints": list_endpoints,
}
