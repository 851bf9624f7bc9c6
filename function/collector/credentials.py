"""The function's STS credentials, wherever this runtime puts them.

python3.10 hands them over as `context.credentials`; python3.12 as ALIBABA_CLOUD_* environment
variables. They are temporary: read them per invocation, never cache them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collector.config import ConfigError


@dataclass(frozen=True)
class FunctionCredentials:
    access_key_id: str
    access_key_secret: str
    security_token: str | None

    def __repr__(self) -> str:  # never print the secret or token
        return f"FunctionCredentials(access_key_id={self.access_key_id[:4]}…)"

    @classmethod
    def resolve(cls, context: Any, env: Mapping[str, str]) -> FunctionCredentials:
        creds = getattr(context, "credentials", None)
        if creds is not None:
            key_id = _attr(creds, "access_key_id", "accessKeyId")
            secret = _attr(creds, "access_key_secret", "accessKeySecret")
            token = _attr(creds, "security_token", "securityToken")
            if key_id and secret:
                return cls(key_id, secret, token or None)
        key_id = env.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
        secret = env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
        token = env.get("ALIBABA_CLOUD_SECURITY_TOKEN", "")
        if key_id and secret:
            return cls(key_id, secret, token or None)
        raise ConfigError(
            "no credentials: neither context.credentials nor ALIBABA_CLOUD_ACCESS_KEY_ID/"
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET are set (give the function a role in template.yml)"
        )


def _attr(obj: Any, *names: str) -> str | None:
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value:
            return str(value)
    return None
