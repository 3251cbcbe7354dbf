"""AWS Signature Version 4, verified on the server.

The canonical request is rebuilt from the headers the client says it signed, and the signature is
recomputed with botocore's own signer classes (``SigV4Auth``; ``S3SigV4Auth`` for S3, which does not
re-encode the path), so the hashing and canonicalisation rules are botocore's, not a copy of them.
Signatures are compared in constant time; a request dated more than 15 minutes from the server's
clock is refused. Both the ``Authorization`` header and query-string (presigned URL) forms are read.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from dataclasses import dataclass
from urllib.parse import unquote

from slipway.compat.errors import AwsError

__all__ = ["ALGORITHM", "MAX_SKEW", "SigV4", "parse", "verify"]

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = dt.timedelta(minutes=15)
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_PREFIX = "STREAMING-"
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_HEADER = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+)\s*,\s*SignedHeaders=(?P<signed>[^,\s]+)\s*,"
    r"\s*Signature=(?P<sig>[0-9a-f]{64})\s*$")
_SCOPE = re.compile(r"^(?P<key>[A-Za-z0-9]{1,128})/(?P<date>[0-9]{8})/(?P<region>[a-z0-9-]{1,32})/"
                    r"(?P<service>[a-z0-9-]{1,32})/aws4_request$")


@dataclass(frozen=True)
class SigV4:
    """What a signed request claims: the key, scope, time, signed headers and signature."""

    access_key: str
    date: str  # yyyymmdd of the credential scope
    region: str
    service: str
    amz_date: str  # yyyymmddThhmmssZ
    signed_headers: tuple[str, ...]
    signature: str
    presigned: bool = False
    expires: int = 0  # seconds, presigned URLs only


def _denied(code: str, message: str, status: int = 403) -> AwsError:
    return AwsError(code, message, status)


def is_signed(headers: dict[str, str], query: str) -> bool:
    """Whether the request carries a SigV4 signature (header or query form), right or wrong."""
    return headers.get("authorization", "").startswith("AWS4-") or "X-Amz-Algorithm=" in query


def _scope(credential: str) -> re.Match[str]:
    m = _SCOPE.match(credential)
    if m is None:
        raise _denied("IncompleteSignature", f"The credential scope {credential[:200]!r} is not "
                      "ACCESS_KEY/yyyymmdd/region/service/aws4_request.", 400)
    return m


def parse(headers: dict[str, str], query: str) -> SigV4 | None:
    """The signature a request carries, or None when it is not AWS-signed. ``headers`` have lower-case names."""
    auth = headers.get("authorization", "")
    if auth.startswith("AWS4-"):
        m = _HEADER.match(auth)
        if m is None:
            raise _denied("IncompleteSignature", "The Authorization header is not 'AWS4-HMAC-SHA256 Credential=…, "
                          "SignedHeaders=…, Signature=<64 hex digits>'.", 400)
        scope = _scope(m.group("cred"))
        amz_date = headers.get("x-amz-date", "")
        if not amz_date:
            raise _denied("IncompleteSignature", "The request is signed but has no X-Amz-Date header.", 400)
        return SigV4(scope["key"], scope["date"], scope["region"], scope["service"], amz_date,
                     tuple(m.group("signed").split(";")), m.group("sig"))
    if "X-Amz-Algorithm=" not in query:
        return None
    params = dict(pair.partition("=")[::2] for pair in query.split("&"))
    if unquote(params.get("X-Amz-Algorithm", "")) != ALGORITHM:
        raise _denied("AuthorizationQueryParametersError", f"X-Amz-Algorithm must be {ALGORITHM}.", 400)
    missing = [p for p in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature")
               if not params.get(p)]
    if missing:
        raise _denied("AuthorizationQueryParametersError", f"The presigned URL lacks {', '.join(missing)}.", 400)
    expires = params.get("X-Amz-Expires", "3600")
    if not expires.isdigit() or not 0 < int(expires) <= 604800:
        raise _denied("AuthorizationQueryParametersError",
                      f"X-Amz-Expires has value {expires[:20]!r}. Expected 1 to 604800 seconds.", 400)
    scope = _scope(unquote(params["X-Amz-Credential"]))
    return SigV4(scope["key"], scope["date"], scope["region"], scope["service"], unquote(params["X-Amz-Date"]),
                 tuple(unquote(params["X-Amz-SignedHeaders"]).split(";")), params["X-Amz-Signature"],
                 presigned=True, expires=int(expires))


def check_time(sig: SigV4, now: dt.datetime | None = None) -> None:
    """Refuse a request dated more than 15 minutes from now (or a presigned URL past its expiry)."""
    try:
        when = dt.datetime.strptime(sig.amz_date, _AMZ_DATE).replace(tzinfo=dt.UTC)
    except ValueError:
        raise _denied("IncompleteSignature", f"X-Amz-Date has value {sig.amz_date[:40]!r}. Expected "
                      "yyyymmddThhmmssZ.", 400) from None
    if sig.amz_date[:8] != sig.date:
        raise _denied("SignatureDoesNotMatch", f"The credential scope date {sig.date} is not the day of X-Amz-Date "
                      f"{sig.amz_date}.")
    now = now or dt.datetime.now(dt.UTC)
    if sig.presigned:
        if now > when + dt.timedelta(seconds=sig.expires) or when - now > MAX_SKEW:
            raise _denied("AccessDenied", f"Request has expired: the presigned URL was signed at {sig.amz_date} "
                          f"for {sig.expires} s.")
        return
    if abs(now - when) > MAX_SKEW:
        raise _denied("RequestTimeTooSkewed",
                      f"Signature expired: {sig.amz_date} is more than 15 minutes from the server's time "
                      f"{now.strftime(_AMZ_DATE)}. Check the clock of the calling machine.")


def payload_hash(sig: SigV4, headers: dict[str, str]) -> str | None:
    """The payload hash the client signed when it is known from the headers (S3's x-amz-content-sha256,
    UNSIGNED-PAYLOAD, STREAMING-…), else None: the caller hashes the body it read."""
    if sig.presigned:
        return UNSIGNED_PAYLOAD
    return headers.get("x-amz-content-sha256") or None


def _signers() -> tuple[type, type]:
    from botocore.auth import S3SigV4Auth, SigV4Auth

    class _Verify:
        """Sign exactly the headers the client listed, over the payload hash it claims."""

        def __init__(self, secret: str, sig: SigV4, signed: object, payload: str) -> None:
            from botocore.credentials import Credentials

            super().__init__(Credentials(sig.access_key, secret), sig.service, sig.region)  # type: ignore[call-arg]
            self._signed = signed
            self._payload = payload

        def headers_to_sign(self, request: object) -> object:
            return self._signed

        def payload(self, request: object) -> str:
            return self._payload

    class Verify(_Verify, SigV4Auth):  # type: ignore[misc]
        pass

    class VerifyS3(_Verify, S3SigV4Auth):  # type: ignore[misc]
        pass

    return Verify, VerifyS3


_SIGNERS: tuple[type, type] | None = None


def expected_signature(sig: SigV4, secret: str, method: str, raw_path: str, query: str,
                       header_pairs: list[tuple[str, str]], payload: str) -> str:
    """The signature botocore computes for this request with ``secret``."""
    global _SIGNERS
    from botocore.awsrequest import AWSRequest, HTTPHeaders

    if _SIGNERS is None:
        _SIGNERS = _signers()
    signed = HTTPHeaders()
    wanted = set(sig.signed_headers)
    for name, value in header_pairs:
        if name in wanted:
            signed[name] = value
    missing = wanted - {n for n, _ in header_pairs}
    if missing:
        raise _denied("SignatureDoesNotMatch", f"Signed header(s) {', '.join(sorted(missing))} are not in the request.")
    if sig.presigned:
        query = "&".join(p for p in query.split("&") if not p.startswith("X-Amz-Signature="))
    request = AWSRequest(method=method, url=f"http://host{raw_path}" + (f"?{query}" if query else ""),
                         headers={k: v for k, v in header_pairs if k in wanted})
    request.context["timestamp"] = sig.amz_date
    cls = _SIGNERS[1] if sig.service == "s3" else _SIGNERS[0]
    signer = cls(secret, sig, signed, payload)
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))


def verify(sig: SigV4, secret: str, method: str, raw_path: str, query: str,
           header_pairs: list[tuple[str, str]], payload: str) -> None:
    """Raise ``SignatureDoesNotMatch`` unless ``sig`` is the signature of this request under ``secret``.

    ``header_pairs`` are (lower-case name, value) as received; ``payload`` the payload hash to sign over
    (hex SHA-256 of the body, ``UNSIGNED-PAYLOAD`` or a ``STREAMING-…`` marker as the client sent it).
    """
    expected = expected_signature(sig, secret, method, raw_path, query, header_pairs, payload)
    if not hmac.compare_digest(expected.encode(), sig.signature.encode()):
        raise _denied("SignatureDoesNotMatch", "The request signature we calculated does not match the signature "
                      "you provided. Check your key and signing method.")
