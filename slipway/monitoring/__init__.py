"""Watching endpoints in production: in-memory invocation metrics and their Prometheus exposition."""

from __future__ import annotations

from slipway.monitoring.recorder import BUCKETS_MS, InvocationMetrics, percentile

__all__ = ["BUCKETS_MS", "InvocationMetrics", "percentile"]
