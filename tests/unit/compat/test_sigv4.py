"""SigV4 verification against requests signed by botocore itself (header and presigned forms)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from slipway.compat import sigv4
from slipway.compat.errors import AwsError

KEY, SECRET = "AKIAEXAMPLEEXAMPLE01", "s" * 40


def signed(service: str, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None,
           signer: type = SigV4Auth, **kw: object) -> AWSRequest:
    req = AWSRequest(method=method, url=url, data=body, headers={"Host": urlsplit(url).netloc, **(headers or {})})
    signer(Credentials(KEY, SECRET), service, "us-east-1", **kw).add_auth(req)
    return req


def check(req: AWSRequest, secret: str = SECRET, body: bytes = b"") -> sigv4.SigV4:
    import hashlib

    headers = [(k.lower(), v) for k, v in req.headers.items()]
    parts = urlsplit(req.url)
    sig = sigv4.parse(dict(headers), parts.query)
    assert sig is not None
    sigv4.check_time(sig)
    payload = sigv4.payload_hash(sig, dict(headers)) or hashlib.sha256(body).hexdigest()
    sigv4.verify(sig, secret, req.method, parts.path, parts.query, headers, payload)
    return sig


def test_json_protocol_request_verifies_and_a_wrong_secret_does_not() -> None:
    body = b'{"MaxResults": 3}'
    req = signed("sagemaker", "POST", "http://127.0.0.1:8080/", body,
                 {"X-Amz-Target": "SageMaker.ListTrainingJobs", "Content-Type": "application/x-amz-json-1.1"})
    sig = check(req, body=body)
    assert (sig.access_key, sig.service, sig.region) == (KEY, "sagemaker", "us-east-1")
    with pytest.raises(AwsError) as e:
        check(req, secret="x" * 40, body=body)
    assert e.value.code == "SignatureDoesNotMatch" and e.value.status == 403
    with pytest.raises(AwsError, match="does not match"):
        check(req, body=b'{"MaxResults": 4}')  # a changed body


def test_s3_paths_are_not_re_encoded_and_queries_sorted() -> None:
    req = signed("s3", "GET", "http://127.0.0.1:8080/bkt/a%20b/c.txt?prefix=x%2Fy&list-type=2", signer=S3SigV4Auth,
                 headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    check(req)


def test_presigned_url_verifies() -> None:
    req = AWSRequest(method="GET", url="http://127.0.0.1:8080/bkt/key.txt", headers={"Host": "127.0.0.1:8080"})
    S3SigV4QueryAuth(Credentials(KEY, SECRET), "s3", "us-east-1", expires=60).add_auth(req)
    assert check(req).presigned


def test_skewed_request_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    monkeypatch.setattr(botocore.auth, "get_current_datetime",
                        lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=20))
    req = signed("sts", "POST", "http://127.0.0.1:8080/", b"Action=GetCallerIdentity&Version=2011-06-15")
    with pytest.raises(AwsError) as e:
        check(req, body=b"Action=GetCallerIdentity&Version=2011-06-15")
    assert e.value.code == "RequestTimeTooSkewed" and "15 minutes" in e.value.message


@pytest.mark.parametrize("header", ["AWS4-HMAC-SHA256 Credential=abc", "AWS4-HMAC-SHA256 Credential=K/2020/us/s3/x, "
                                    "SignedHeaders=host, Signature=" + "0" * 64])
def test_malformed_authorization_is_a_clear_400(header: str) -> None:
    with pytest.raises(AwsError) as e:
        sigv4.parse({"authorization": header, "x-amz-date": "20260101T000000Z"}, "")
    assert e.value.status == 400 and e.value.code == "IncompleteSignature"
