"""SageMaker-only records as the operations see them: :class:`~slipway.services.sagemaker_resources.
SageMakerResourceService` (``Platform.sagemaker_resources``) with its errors in SageMaker's words.

No data access here: compat only calls services.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slipway.compat.errors import AwsError
from slipway.errors import AlreadyExists, NotFound
from slipway.services.sagemaker_resources import KINDS

if TYPE_CHECKING:
    from slipway.services.sagemaker_resources import SageMakerResourceService

__all__ = ["KINDS", "Resources"]


class Resources:
    def __init__(self, service: SageMakerResourceService) -> None:
        self.service = service

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.service.find(kind, name)

    def get(self, kind: str, name: str, code: str = "ValidationException") -> dict[str, Any]:
        try:
            return self.service.get(kind, name)
        except NotFound as exc:
            raise AwsError(code, exc.message) from None

    def add(self, kind: str, name: str, target: str | None, spec: dict[str, Any], tags: dict[str, str],
            user: str = "") -> dict[str, Any]:
        try:
            return self.service.add(kind, name, target, spec, tags, user)
        except AlreadyExists as exc:
            raise AwsError("ResourceInUse", exc.message) from None

    def update(self, kind: str, name: str, *, target: Any = ..., spec: dict[str, Any] | None = None,
               tags: dict[str, str] | None = None) -> None:
        try:
            self.service.update(kind, name, target=target, spec=spec, tags=tags)
        except NotFound as exc:
            raise AwsError("ValidationException", exc.message) from None

    def ensure(self, kind: str, name: str, target: str | None) -> None:
        self.service.ensure(kind, name, target)

    def delete(self, kind: str, name: str) -> None:
        self.service.delete(kind, name)

    def list(self, kind: str) -> list[dict[str, Any]]:
        return self.service.list(kind)
