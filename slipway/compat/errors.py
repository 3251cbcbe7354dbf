"""Errors in the AWS shape: the JSON protocols answer ``{"__type": code, "message": …}``."""

from __future__ import annotations


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
