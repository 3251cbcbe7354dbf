"""Errors in the AWS shape: the JSON protocols answer ``{"__type": code, "message": …}``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slipway.services.buckets import BucketError


class AwsError(Exception):
    """A failure a protocol module reports to an AWS client.

    ``code`` is the AWS error code (``ValidationException``, ``ResourceNotFound``,
    ``ResourceLimitExceeded``, ``ResourceInUse``, ``AccessDeniedException``,
    ``UnknownOperationException``…); ``status`` the HTTP status the protocol sends.
    """

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def from_bucket_error(exc: BucketError) -> AwsError:
    """A bucket service's failure as the S3 error it stands for: its S3 code (``NoSuchBucket``…), its status."""
    return AwsError(exc.s3_code, exc.message, exc.status_code)
