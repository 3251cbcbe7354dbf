"""AWS wire protocols spoken on Slipway's port, so boto3 and the SageMaker SDK work unmodified.

One dispatch in front of Slipway's own REST routes picks the protocol (``X-Amz-Target`` for
the JSON 1.1 control planes, the runtime's ``/endpoints/{name}/invocations`` path, STS, then
S3); each protocol lives in its own module here and calls the same services as the REST API.

S3 objects written through the S3 protocol live in the artifact store under
``s3/<bucket>/<key>`` (see :func:`object_key`), so every protocol and every job resolves an
``s3://bucket/key`` URI the same way.
"""

from __future__ import annotations

from slipway.services.buckets import S3_PREFIX, object_key  # the service owns the layout; kept here for callers

__all__ = ["S3_PREFIX", "object_key"]
