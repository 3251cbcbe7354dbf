"""SDK: training baselines, drift monitors and alarms."""

from __future__ import annotations

import re
from collections.abc import Sequence

from slipway.errors import InvalidArgument
from slipway.schemas.monitors import AlarmView, BaselineView, MonitorRunView, MonitorView
from slipway.sdk.http import Api

__all__ = ["Alarms", "Baselines", "Monitors", "parse_for"]


def _version_path(ref: str) -> str:
    from slipway.sdk.models import _path_of

    path = _path_of(ref)
    if "/aliases/" in path:
        raise InvalidArgument(f"Model reference {ref!r} names an alias. Expected name:N or name:latest.",
                              {"field": "ref", "value": ref})
    return path


class Baselines:
    def __init__(self, api: Api) -> None:
        self._api = api

    def compute(self, ref: str, dataset: str | None = None) -> BaselineView:
        """(Re)compute a model version's baseline from ``dataset`` (default: its training data)."""
        return BaselineView.model_validate(self._api.json("POST", f"{_version_path(ref)}/baseline",
                                                          json={"dataset": dataset}))

    def get(self, ref: str) -> BaselineView:
        """The baseline with statistics.json and constraints.json."""
        return BaselineView.model_validate(self._api.json("GET", f"{_version_path(ref)}/baseline"))


class Monitors:
    def __init__(self, api: Api) -> None:
        self._api = api

    def create(self, name: str, endpoint: str, baseline: str | None = None, every: str = "5m", window: str = "1h",
               thresholds: dict[str, float] | Sequence[str] | None = None) -> MonitorView:
        """``thresholds``: {"psi": 0.2, "mean_radius:psi": 0.1} or ["psi=0.2", "mean_radius:psi=0.1"] (a statistic
        for every feature, or FEATURE:STATISTIC for one)."""
        if thresholds is not None and not isinstance(thresholds, dict):
            thresholds = _thresholds(thresholds)
        body = {"endpoint": endpoint, "baseline": baseline, "every": every, "window": window,
                "thresholds": thresholds or {}}
        return MonitorView.model_validate(self._api.json("POST", f"/api/v1/monitors/{name}", json=body))

    def list(self) -> list[MonitorView]:
        return [MonitorView.model_validate(m) for m in self._api.json("GET", "/api/v1/monitors")]

    def get(self, name: str) -> MonitorView:
        return MonitorView.model_validate(self._api.json("GET", f"/api/v1/monitors/{name}"))

    def run(self, name: str) -> MonitorRunView:
        """Run now; returns the run (per feature statistics and verdicts)."""
        return MonitorRunView.model_validate(self._api.json("POST", f"/api/v1/monitors/{name}/run"))

    def delete(self, name: str) -> MonitorView:
        return MonitorView.model_validate(self._api.json("DELETE", f"/api/v1/monitors/{name}"))


def _thresholds(items: Sequence[str]) -> dict[str, float]:
    """["psi=0.2", "mean_radius:psi=0.1"] -> {"psi": 0.2, "mean_radius:psi": 0.1}; the server checks the
    statistics, features and ranges."""
    out: dict[str, float] = {}
    for item in items:
        key, sep, value = item.rpartition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise InvalidArgument(f"Field 'threshold' has value {item!r}. Expected [FEATURE:]STATISTIC=NUMBER, "
                                  "e.g. psi=0.2 or mean_radius:psi=0.1.",
                                  {"field": "threshold", "value": item})
    return out


def parse_for(text: str) -> tuple[int, int]:
    """``3of5`` -> (3, 5); ``2`` -> (2, 2)."""
    m = re.fullmatch(r"\s*([0-9]{1,3})\s*(?:of\s*([0-9]{1,3}))?\s*", text or "")
    if not m:
        raise InvalidArgument(f"Field 'for' has value {text!r}. Expected M of N datapoints, e.g. 3of5.",
                              {"field": "for", "value": text})
    return int(m.group(1)), int(m.group(2) or m.group(1))


class Alarms:
    def __init__(self, api: Api) -> None:
        self._api = api

    def create(self, name: str, metric: str, *, above: float | None = None, below: float | None = None,
               for_: str = "1of1", period: str = "1m", statistic: str = "avg", missing: str = "missing",
               actions: Sequence[str] = ()) -> AlarmView:
        """An alarm when ``metric``'s statistic per period is above (or below) a threshold in M of N periods."""
        if (above is None) == (below is None):
            raise InvalidArgument("Give exactly one of --above and --below.", {"field": "threshold"})
        m, n = parse_for(for_)
        body = {"metric": metric, "comparison": "above" if above is not None else "below",
                "threshold": above if above is not None else below, "datapoints": m, "evaluation_periods": n,
                "period": period, "statistic": statistic, "missing": missing, "actions": list(actions)}
        return AlarmView.model_validate(self._api.json("POST", f"/api/v1/alarms/{name}", json=body))

    def list(self) -> list[AlarmView]:
        return [AlarmView.model_validate(a) for a in self._api.json("GET", "/api/v1/alarms")]

    def get(self, name: str) -> AlarmView:
        return AlarmView.model_validate(self._api.json("GET", f"/api/v1/alarms/{name}"))

    def delete(self, name: str) -> AlarmView:
        return AlarmView.model_validate(self._api.json("DELETE", f"/api/v1/alarms/{name}"))
