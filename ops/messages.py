"""Failures as an operator reads them: one line saying what failed, where, and what to do.

The function's adapters classify every failure into a `CollectorError` (source, code, redacted detail)
for the retry policy and the logs. That detail is written for the function: an oss2 connection error
arrives as the SDK's raw dict. Here the same error is said for the person at the terminal, naming the
endpoint host, the flag or variable to check and the permission to grant. No secret reaches this
text: details were redacted by the adapters, and only host names of endpoints are printed."""

from __future__ import annotations

from urllib.parse import urlsplit

from collector.errors import CollectorError, Source
from collector.tea_errors import CREDENTIAL_CODES
from ops.settings import OpsSettings

OSS_CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "SecurityTokenExpired", "InvalidSecurityToken"}
)
OSS_ACTIONS = {
    "get": "oss:GetObject",
    "put": "oss:PutObject",
    "list": "oss:ListObjects",
    "delete": "oss:DeleteObject",
    "head": "oss:GetObject",
}

# what a transport failure looks like in requests/urllib3 text -> what the operator is told
_NETWORK = (
    (("ProxyError", "Unable to connect to proxy"), "the HTTP(S) proxy failed (check HTTPS_PROXY)"),
    (
        (
            "NameResolutionError",
            "Name or service not known",
            "nodename nor servname",
            "getaddrinfo failed",
            "Temporary failure in name resolution",
            "No address associated",
        ),
        "DNS lookup failed",
    ),
    (("Connection refused", "Errno 111", "WinError 10061"), "connection refused"),
    (("timed out", "Timeout", "timeout"), "timed out"),
    (("CERTIFICATE_VERIFY_FAILED", "SSLError", "SSL:", "certificate"), "TLS/certificate error"),
    (("Network is unreachable", "No route to host"), "network unreachable"),
    (
        ("Connection reset", "Connection aborted", "RemoteDisconnected", "BrokenPipe"),
        "connection dropped",
    ),
)


def endpoint_host(endpoint: str) -> str:
    """`https://oss-cn-hangzhou.aliyuncs.com` or a bare `mt.cn-hangzhou.aliyuncs.com` -> its host[:port]."""
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    return parts.netloc or endpoint


def network_failure(error: CollectorError) -> str:
    """What went wrong on the wire, in a few words, from the SDK's text. The adapters shorten their
    detail for the logs, so the exception they were raised from (`__context__`) is read too; it is
    only searched here, never printed."""
    texts = [error.detail]
    cause = error.__context__
    while cause is not None and len(texts) < 5:
        texts.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__context__
    text = " ".join(texts)
    for fragments, said in _NETWORK:
        if any(fragment in text for fragment in fragments):
            return said
    return "connection failed"


def explain(error: CollectorError, settings: OpsSettings) -> str:
    if error.source == Source.OSS:
        return _explain_oss(error, settings)
    if error.source == Source.ALIMT:
        return _explain_alimt(error, settings)
    return f"{error.key}: {error.detail}"


def _explain_oss(error: CollectorError, settings: OpsSettings) -> str:
    bucket = settings.config.output_bucket
    host = endpoint_host(settings.config.oss_endpoint)
    operation, _, target = error.detail.partition(" ")
    target = target.split(":", 1)[0]  # "bucket/key" before the function-side detail
    code = error.code
    if code == "ConnectionError":
        return (
            f"cannot reach OSS at {host} ({network_failure(error)}): check --oss-endpoint / "
            "OSS_ENDPOINT (or --region) and your network"
        )
    if code in OSS_CREDENTIAL_CODES:
        return (
            f"OSS at {host} refused the credentials ({code}) from the "
            f"{settings.credentials_source}: check the access key id and secret (or renew the STS "
            "token), or pick another profile with --profile"
        )
    if code == "NoSuchBucket":
        return (
            f"bucket {bucket!r} does not exist at {host}: check --bucket / OUTPUT_BUCKET and the "
            "region (--region / OSS_ENDPOINT; a bucket lives in one region)"
        )
    if code in ("AccessDenied", "HTTP403"):
        action = OSS_ACTIONS.get(operation, "access")
        return (
            f"OSS denied {operation} {target} ({code}): grant {action} on bucket {bucket!r} to the "
            f"identity from the {settings.credentials_source} (README: Operator tool)"
        )
    if code == "HTTP5xx":
        return f"OSS at {host} failed ({error.detail.split(': ', 1)[-1]}): try again in a minute"
    if code == "CorruptDocument":
        return f"{error.detail}: the object was not written by the collector; inspect or remove it"
    return f"OSS {code} on {operation} {target}"


def _explain_alimt(error: CollectorError, settings: OpsSettings) -> str:
    host = endpoint_host(settings.config.alimt_endpoint)
    code = error.code
    if code in ("ConnectionError", "Timeout"):
        return (
            f"cannot reach alimt at {host} ({network_failure(error)}): check "
            "--alimt-endpoint / ALIMT_ENDPOINT and your network"
        )
    if code in CREDENTIAL_CODES:
        return (
            f"alimt at {host} refused the credentials ({code}) from the "
            f"{settings.credentials_source}: check the access key id and secret (or renew the STS "
            "token), or pick another profile with --profile"
        )
    if code == "Forbidden":
        return (
            f"alimt at {host} denied the call ({error.detail}): grant alimt:TranslateImageBatch "
            "and alimt:GetTranslateImageBatchResult to the identity from the "
            f"{settings.credentials_source}"
        )
    if code == "Throttling":
        return f"alimt at {host} throttled the request ({error.detail}): wait and try again"
    if code == "HTTP5xx":
        return f"alimt at {host} failed ({error.detail}): try again in a minute"
    if code == "BadResponse":
        return f"alimt at {host} sent an unusable answer ({error.detail}): check --alimt-endpoint"
    return f"alimt refused it: code {code}: {error.detail}"
