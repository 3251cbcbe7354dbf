"""What every operation gets: the platform, the caller, and the SageMaker-only records."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from slipway.compat.sagemaker.resources import Resources

if TYPE_CHECKING:
    from slipway.services.auth import Principal
    from slipway.services.context import Platform


@dataclass
class Call:
    platform: Platform
    principal: Principal | None
    operation: str

    @property
    def user(self) -> str:
        return self.principal.user if self.principal is not None else ""

    @cached_property
    def resources(self) -> Resources:
        return Resources(self.platform.sagemaker_resources)
