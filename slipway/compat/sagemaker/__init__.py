"""The SageMaker control plane (JSON 1.1, ``X-Amz-Target: SageMaker.<Operation>``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slipway.compat.errors import AwsError

if TYPE_CHECKING:
    from slipway.services.auth import Principal
    from slipway.services.context import Platform


def handle(platform: Platform, principal: Principal, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """Run one SageMaker operation for ``principal`` and return its output shape as a dict.

    Raises :class:`AwsError` for anything the client must see as an error.
    """
    raise AwsError("UnknownOperationException", f"Operation SageMaker.{operation} is not supported by Slipway")
