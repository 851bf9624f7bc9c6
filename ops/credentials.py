"""The operator's credentials, found the way every Alibaba Cloud tool finds them.

The function gets STS keys from its role; an operator has an access key, a CLI profile or a RAM role.
So the CLI resolves them through the official default chain (`alibabacloud-credentials`), in its order:

1. `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` (+ `ALIBABA_CLOUD_SECURITY_TOKEN`) in the environment;
2. the Alibaba Cloud CLI's profiles, `~/.aliyun/config.json` (`ALIBABA_CLOUD_PROFILE` or its `current`);
3. the credentials file, `~/.alibabacloud/credentials.ini` (or `ALIBABA_CLOUD_CREDENTIALS_FILE`);
4. the ECS instance's RAM role (metadata service), unless `ALIBABA_CLOUD_ECS_METADATA_DISABLED=true`.

`--profile NAME` picks a profile of 2 or 3 by name and skips the rest. The result is resolved once per
command (a command is short; STS keys from a role last an hour) into the same `FunctionCredentials` the
function uses, so the alimt client and oss2 (StsAuth when there is a token) get the same keys.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from collector.config import ConfigError
from collector.credentials import FunctionCredentials
from collector.redaction import register_secrets

PROFILE_ENV = "ALIBABA_CLOUD_PROFILE"

# provider names of alibabacloud-credentials -> what an operator calls them
_SOURCES = {
    "env": "environment variables ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET",
    "cli_profile": "Alibaba Cloud CLI profile (~/.aliyun/config.json)",
    "profile": "credentials file (~/.alibabacloud/credentials.ini)",
    "ecs_ram_role": "ECS instance RAM role",
    "oidc_role_arn": "OIDC role (ALIBABA_CLOUD_ROLE_ARN)",
    "credential_uri": "credentials URI (ALIBABA_CLOUD_CREDENTIALS_URI)",
}

NO_CREDENTIALS_HELP = (
    "no Alibaba Cloud credentials found. Do one of: `aliyun configure` (a CLI profile in "
    "~/.aliyun/config.json; pick one with --profile or ALIBABA_CLOUD_PROFILE), export "
    "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or write "
    "~/.alibabacloud/credentials.ini"
)


@dataclass(frozen=True)
class OperatorCredentials:
    keys: FunctionCredentials
    source: str  # where they came from, for messages ("CLI profile 'dev' ...")

    def __repr__(self) -> str:
        return f"OperatorCredentials({self.keys!r}, source={self.source!r})"


def resolve_credentials(env: Mapping[str, str], profile: str | None = None) -> OperatorCredentials:
    """Raises ConfigError with what to do when nothing in the chain has credentials."""
    if not profile:
        from_env = _from_env(env)
        if from_env is not None:
            return from_env
        profile = env.get(PROFILE_ENV) or None
    creds, provider = _from_chain(profile)
    key_id, secret = creds.get_access_key_id(), creds.get_access_key_secret()
    if not key_id or not secret:
        where = f"profile {profile!r}" if profile else "the credentials chain"
        raise ConfigError(f"{where} has no access key id/secret: {NO_CREDENTIALS_HELP}")
    keys = FunctionCredentials(key_id, secret, creds.get_security_token() or None)
    return _found(keys, describe_provider(provider, profile))


def _from_env(env: Mapping[str, str]) -> OperatorCredentials | None:
    """The chain's first link, read from the mapping we were given."""
    key_id = env.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
    secret = env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
    if not (key_id and secret):
        return None
    token = env.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None
    return _found(FunctionCredentials(key_id, secret, token), _SOURCES["env"])


def _from_chain(profile: str | None) -> tuple[Any, str]:
    """(credentials, provider name) from a named profile or the SDK's default chain."""
    from alibabacloud_credentials.exceptions import CredentialException
    from alibabacloud_credentials.provider import DefaultCredentialsProvider

    try:
        with _sdk_logging_silenced():
            if profile:
                return _named_profile(profile)
            found = DefaultCredentialsProvider().get_credentials()
            return found, found.get_provider_name()
    except CredentialException as missing:
        raise ConfigError(_explain_missing(profile, str(missing.message))) from None


def describe_provider(provider_name: str, profile: str | None = None) -> str:
    """`default/cli_profile/static_sts` -> `Alibaba Cloud CLI profile 'dev' (~/.aliyun/config.json)`."""
    kind = next((part for part in provider_name.split("/") if part != "default"), provider_name)
    if profile and kind == "cli_profile":
        return f"Alibaba Cloud CLI profile {profile!r} (~/.aliyun/config.json)"
    if profile and kind == "profile":
        return f"credentials file [{profile}] (~/.alibabacloud/credentials.ini)"
    return _SOURCES.get(kind, provider_name)


def _found(keys: FunctionCredentials, source: str) -> OperatorCredentials:
    register_secrets([keys.access_key_secret, keys.security_token])  # masked in every message
    return OperatorCredentials(keys, source)


def _named_profile(profile: str) -> tuple[Any, str]:
    """The CLI profile of that name, else the credentials-file section of that name."""
    from alibabacloud_credentials.exceptions import CredentialException
    from alibabacloud_credentials.provider import (
        CLIProfileCredentialsProvider,
        ProfileCredentialsProvider,
    )

    errors = []
    for provider in (
        CLIProfileCredentialsProvider(profile_name=profile),
        ProfileCredentialsProvider(profile_name=profile),
    ):
        try:
            creds = provider.get_credentials()
        except CredentialException as exc:
            errors.append(str(exc.message))
            continue
        return creds, creds.get_provider_name()
    raise CredentialException("; ".join(errors))


def _explain_missing(profile: str | None, detail: str) -> str:
    if profile:
        return (
            f"no profile {profile!r} with credentials in ~/.aliyun/config.json or "
            f"~/.alibabacloud/credentials.ini (see `aliyun configure list`; --profile or "
            f"{PROFILE_ENV} name the profile)"
        )
    for fragment, problem in _BROKEN_CONFIG:
        if fragment in detail:
            return f"{problem}: fix it (`aliyun configure`) or export ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET"
    return NO_CREDENTIALS_HELP


_BROKEN_CONFIG = (
    ("failed to parse credential form cli", "~/.aliyun/config.json is not valid JSON"),
    (
        "unable to get profile with",
        "the CLI's current profile is missing from ~/.aliyun/config.json",
    ),
    ("unsupported credential type", "~/.alibabacloud/credentials.ini has an unsupported type"),
)


@contextlib.contextmanager
def _sdk_logging_silenced() -> Iterator[None]:
    """The credentials SDK logs every failed link of the chain, with tracebacks, through its own
    stderr handler (logger `credentials`): a missing profile is not an error for the operator, and
    the message that counts is ours."""
    logger = logging.getLogger("credentials")
    disabled = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = disabled
