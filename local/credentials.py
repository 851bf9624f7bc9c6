"""Access keys and STS tokens known to the local cloud.

The emulators verify every request's signature against this store, the way the real gateways do, and
answer an unknown key, a wrong signature or an expired token with the real error shapes.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from local.clock import Clock


@dataclass(frozen=True)
class IssuedCredentials:
    access_key_id: str
    access_key_secret: str
    security_token: str | None
    expires_at: float | None  # clock time; None for long-lived keys

    def as_env(self) -> dict[str, str]:
        """The python3.12 runtime's way of handing credentials to a function."""
        env = {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": self.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": self.access_key_secret,
        }
        if self.security_token:
            env["ALIBABA_CLOUD_SECURITY_TOKEN"] = self.security_token
        return env


class CredentialCheck:
    """Outcome of looking up a key: ok, or the reason the gateway would refuse it."""

    OK = "ok"
    UNKNOWN_KEY = "unknown_key"
    BAD_TOKEN = "bad_token"
    EXPIRED_TOKEN = "expired_token"


class CredentialStore:
    """Thread-safe registry of keys shared by all emulators of one local cloud."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self._by_id: dict[str, IssuedCredentials] = {}
        self._lock = threading.Lock()

    def add_access_key(self, access_key_id: str, access_key_secret: str) -> IssuedCredentials:
        creds = IssuedCredentials(access_key_id, access_key_secret, None, None)
        with self._lock:
            self._by_id[access_key_id] = creds
        return creds

    def issue_sts(
        self,
        ttl_seconds: float = 3600.0,
        *,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        security_token: str | None = None,
    ) -> IssuedCredentials:
        """Issue temporary keys like STS AssumeRole: an `STS.` key id, a secret and a token. Tests
        that scan output for leaked secrets may choose recognisable values."""
        creds = IssuedCredentials(
            access_key_id=access_key_id or "STS.LOCAL" + secrets.token_hex(8).upper(),
            access_key_secret=access_key_secret or "localsecret" + secrets.token_hex(16),
            security_token=security_token or "CAISlocaltoken" + secrets.token_urlsafe(48),
            expires_at=self.clock.now() + ttl_seconds,
        )
        with self._lock:
            self._by_id[creds.access_key_id] = creds
        return creds

    def lookup(self, access_key_id: str) -> IssuedCredentials | None:
        with self._lock:
            return self._by_id.get(access_key_id)

    def check(
        self, access_key_id: str, security_token: str | None
    ) -> tuple[str, IssuedCredentials | None]:
        """Validate key id and token (not the signature: each protocol signs differently)."""
        creds = self.lookup(access_key_id)
        if creds is None:
            return CredentialCheck.UNKNOWN_KEY, None
        if creds.security_token is not None:
            if security_token != creds.security_token:
                return CredentialCheck.BAD_TOKEN, creds
            if creds.expires_at is not None and self.clock.now() >= creds.expires_at:
                return CredentialCheck.EXPIRED_TOKEN, creds
        return CredentialCheck.OK, creds
