"""ACS3-HMAC-SHA256 request signatures (the "V3" signature of the Alibaba Cloud OpenAPI SDKs), as a
gateway checks them. Shared by the emulators of APIs the tea-openapi SDKs call (alimt, FC).

The SignedHeaders list is read from the Authorization header, never assumed: the SDK signs every
header it set before signing, `user-agent` and `accept` included (sdk-wire-notes.md 1.2).
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import threading
from collections.abc import Iterable
from urllib.parse import quote

from local.clock import Clock
from local.credentials import CredentialCheck, CredentialStore
from local.httpserver import Emulator, IncomingRequest

ALGORITHM = "ACS3-HMAC-SHA256"
NONCE_WINDOW_SECONDS = 900.0  # a gateway refuses a reused signature nonce for 15 minutes


class GatewayError(Exception):
    """Why the gateway refuses the request, with the status and code the real gateway sends."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


def header_lists(items: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Lower-case header name -> stripped values, as the canonical request uses them."""
    headers: dict[str, list[str]] = {}
    for name, value in items:
        headers.setdefault(name.lower(), []).append(value.strip())
    return headers


def first(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def signature(
    *,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: dict[str, list[str]],
    signed_headers: str,
    payload_hash: str,
    secret: str,
    algorithm: str = ALGORITHM,
) -> str:
    """The hex signature the SDK computes for this request."""
    canonical_query = "&".join(
        f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted(query)
    )
    canonical_headers = "".join(
        f"{k}:{','.join(sorted(headers.get(k, [])))}\n" for k in signed_headers.split(";")
    )
    canonical_request = "\n".join(
        [method, path or "/", canonical_query, canonical_headers, signed_headers, payload_hash]
    )
    string_to_sign = f"{algorithm}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def check_key(credentials: CredentialStore, access_key_id: str, token: str | None) -> str:
    """The key's secret, or the gateway's refusal of the key or its STS token."""
    outcome, creds = credentials.check(access_key_id, token or None)
    if outcome == CredentialCheck.UNKNOWN_KEY or creds is None:
        raise GatewayError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
    if outcome == CredentialCheck.BAD_TOKEN:
        raise GatewayError(
            400,
            "InvalidSecurityToken.MismatchWithAccessKey",
            "The security token you provided does not match the access key id.",
        )
    if outcome == CredentialCheck.EXPIRED_TOKEN:
        raise GatewayError(
            400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired."
        )
    return creds.access_key_secret


def verify(
    credentials: CredentialStore,
    *,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: dict[str, list[str]],
    body: bytes,
) -> str:
    """Check an ACS3-signed request; return its access key id or raise `GatewayError`."""
    auth = first(headers, "authorization") or ""
    algorithm, _, rest = auth.partition(" ")
    parts = {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in rest.split(","))}
    if algorithm != ALGORITHM or not {"Credential", "SignedHeaders", "Signature"} <= set(parts):
        raise GatewayError(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        )
    access_key_id = parts["Credential"]
    secret = check_key(credentials, access_key_id, first(headers, "x-acs-security-token"))
    payload_hash = hashlib.sha256(body).hexdigest()
    expected = signature(
        method=method,
        path=path,
        query=query,
        headers=headers,
        signed_headers=parts["SignedHeaders"],
        payload_hash=payload_hash,
        secret=secret,
        algorithm=algorithm,
    )
    declared_hash = first(headers, "x-acs-content-sha256") or payload_hash
    if not hmac.compare_digest(expected, parts["Signature"]) or declared_hash != payload_hash:
        raise GatewayError(
            400, "SignatureDoesNotMatch", "Specified signature does not match our calculation."
        )
    return access_key_id


def authenticate(
    credentials: CredentialStore,
    nonces: NonceWindow,
    method: str,
    request: IncomingRequest,
    headers: dict[str, list[str]],
) -> str:
    """What a gateway does with an ACS3 request: check the signature, then refuse a reused nonce.
    Returns the access key id, or raises `GatewayError`."""
    access_key_id = verify(
        credentials,
        method=method,
        path=request.path,
        query=request.query,
        headers=headers,
        body=request.body,
    )
    nonces.check(access_key_id, first(headers, "x-acs-signature-nonce"))
    return access_key_id


class NonceWindow:
    """Refuses a signature nonce seen from the same key within the window (replay protection)."""

    def __init__(self, clock: Clock, window_seconds: float = NONCE_WINDOW_SECONDS) -> None:
        self._clock = clock
        self._window = window_seconds
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str]] = set()
        self._by_age: collections.deque[tuple[float, tuple[str, str]]] = collections.deque()

    def check(self, access_key_id: str, nonce: str | None) -> None:
        if not nonce:
            return
        now = self._clock.now()
        key = (access_key_id, nonce)
        with self._lock:
            while self._by_age and now - self._by_age[0][0] > self._window:
                self._seen.discard(self._by_age.popleft()[1])
            if key in self._seen:
                raise GatewayError(
                    400, "SignatureNonceUsed", "Specified signature nonce was used already."
                )
            self._seen.add(key)
            self._by_age.append((now, key))


class GatewayEmulator(Emulator):
    """An API behind the Alibaba Cloud gateway (alimt, FC): requests are signed against
    `credentials` and their nonces remembered on `clock`. Subclasses set up their own state in
    `_setup`, or in an `__init__` of their own that takes more."""

    def __init__(
        self,
        credentials: CredentialStore,
        clock: Clock | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.credentials = credentials
        self.clock = clock or credentials.clock
        self._nonces = NonceWindow(self.clock)
        self._setup()

    def _setup(self) -> None:
        """The subclass's own state (called at the end of `__init__`)."""
