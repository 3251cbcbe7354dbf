"""The SageMaker control plane (JSON 1.1, ``X-Amz-Target: SageMaker.<Operation>``).

:func:`handle` validates the request against botocore's service model, runs the operation on
Slipway's services (one module per area: training, models, endpoints, tuning, packages, tags) and
returns the output shape as a dict (timestamps as epoch seconds). Slipway's own errors become the
AWS error the operation declares: a missing resource is ``ResourceNotFound`` where SageMaker's model
lists it for the operation, else ``ValidationException`` as SageMaker answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slipway.compat.errors import AwsError

if TYPE_CHECKING:
    from slipway.services.auth import Principal
    from slipway.services.context import Platform

__all__ = ["handle", "operations"]


def operations() -> dict[str, Callable[..., dict[str, Any]]]:
    """Operation name -> implementation, for every supported SageMaker operation."""
    from slipway.compat.sagemaker import training

    ops: dict[str, Callable[..., dict[str, Any]]] = {}
    ops.update(training.OPERATIONS)
    for module in ("models", "endpoints", "tags", "tuning", "packages", "transforms"):
        try:
            mod = __import__(f"slipway.compat.sagemaker.{module}", fromlist=["OPERATIONS"])
        except ModuleNotFoundError as exc:
            if exc.name != f"slipway.compat.sagemaker.{module}":
                raise
            continue
        ops.update(mod.OPERATIONS)
    return ops


def handle(platform: Platform, principal: Principal | None, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """Run one SageMaker operation for ``principal`` and return its output shape as a dict.

    Raises :class:`AwsError` for anything the client must see as an error.
    """
    from slipway.compat.errors import from_bucket_error
    from slipway.compat.sagemaker.context import Call
    from slipway.compat.sagemaker.shapes import error_codes, service_model, validate_input
    from slipway.errors import AlreadyExists, Conflict, NotFound, SlipwayError
    from slipway.services.buckets import BucketError

    fn = operations().get(operation)
    if fn is None:
        known = operation in service_model().operation_names
        raise AwsError("UnknownOperationException" if not known else "ValidationException",
                       f"Operation SageMaker.{operation} is not supported by Slipway." + (
                           " See docs/sagemaker.md for the supported operations." if known else ""))
    validate_input(operation, body)
    try:
        return fn(Call(platform, principal, operation), body)
    except AwsError:
        raise
    except BucketError as exc:  # an S3 object a request names: the S3 error, as S3 would answer
        raise from_bucket_error(exc) from None
    except NotFound as exc:
        code = "ResourceNotFound" if "ResourceNotFound" in error_codes(operation) else "ValidationException"
        raise AwsError(code, exc.message) from None
    except (AlreadyExists, Conflict) as exc:
        code = "ResourceInUse" if "ResourceInUse" in error_codes(operation) else "ValidationException"
        raise AwsError(code, exc.message) from None
    except SlipwayError as exc:
        if exc.status_code >= 500:
            raise
        raise AwsError("ValidationException", exc.message) from None
