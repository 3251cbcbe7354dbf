"""The seam between deciding a replica count and making it so.

The autoscaler (``slipway.controllers.autoscale``) decides how many replicas an endpoint should have; a
``ReplicaScaler`` starts and stops them. The endpoint controller implements it through the replica
runtime interface (``ServingRuntime``), so it scales local processes and Ray actors alike.

Rules every implementation keeps:

- ``scale_to`` returns at once (the work happens in the background) and is idempotent: asking again for
  the count already on its way changes nothing;
- a replica that is still loading or draining is never stopped to scale in; scale-in picks ready replicas
  with the fewest requests in flight, takes them out of the route first, then drains them;
- a new replica joins the route as soon as it answers /ping (queued requests go to the first one up).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["ReplicaScaler"]


class ReplicaScaler(Protocol):
    def scalable(self) -> list[str]:
        """Endpoints with autoscaling that this scaler serves now."""
        ...

    def counts(self, endpoint: str) -> tuple[int, int]:
        """(ready, starting) replicas of ``endpoint``."""
        ...

    def scale_to(self, endpoint: str, replicas: int) -> bool:
        """Start or stop replicas toward ``replicas`` in the background; False when busy (ask again later)."""
        ...
