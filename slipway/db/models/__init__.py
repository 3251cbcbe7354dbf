"""Every table, one module per noun; importing this package registers them all."""

from __future__ import annotations

from slipway.db.models.auth import ApiKey, AuditCount, AuditEvent, Role, Secret, User
from slipway.db.models.datasets import Dataset, DatasetVersion
from slipway.db.models.lineage import Reference
from slipway.db.models.training import Job, JobMetric

__all__ = [
    "ApiKey", "AuditCount", "AuditEvent", "Dataset", "DatasetVersion", "Job", "JobMetric", "Reference", "Role",
    "Secret", "User",
]
