"""Schemathesis hooks for the API fuzz run (tests/integration/test_api_fuzz.py): how to send our binary bodies."""

import schemathesis

# Source uploads are tars and invocations take NumPy arrays: both are bytes on the wire, like octet-stream.
schemathesis.serializer.alias("application/x-tar", "application/octet-stream")
schemathesis.serializer.alias("application/x-npy", "application/octet-stream")
