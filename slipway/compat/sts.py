"""STS, the one call the SDKs make: GetCallerIdentity (query protocol, form-encoded, XML answer)."""

from __future__ import annotations

from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from slipway.compat.dispatch import Call, Reply
from slipway.compat.errors import AwsError

__all__ = ["ACCOUNT", "handle"]

# Slipway has one "account": SDKs build names from it (the SageMaker SDK's default bucket sagemaker-<region>-<account>).
ACCOUNT = "000000000000"


def handle(call: Call) -> Reply:
    form = dict(parse_qsl(call.body.decode("utf-8", "replace") or call.query, keep_blank_values=True))
    action = form.get("Action", "")
    if action != "GetCallerIdentity":
        raise AwsError("InvalidAction", f"STS action {action[:80]!r} is not supported by Slipway (it answers "
                       "GetCallerIdentity).", 400)
    call.authorize("auth:WhoAmI", "*")
    p = call.principal
    body = (f'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
            f"<Arn>arn:aws:iam::{ACCOUNT}:user/{escape(p.user)}</Arn><UserId>{p.key_id}</UserId>"
            f"<Account>{ACCOUNT}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{call.request_id}"
            "</RequestId></ResponseMetadata></GetCallerIdentityResponse>")
    return Reply(200, [("content-type", "text/xml"), ("x-amzn-requestid", call.request_id)], body.encode())
