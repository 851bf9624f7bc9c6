"""The collector's configuration: one typed object built from environment variables at cold start.

Every variable is validated once; a bad value raises `ConfigError` naming the variable, so a mistake in
template.yml shows up on the first invocation with a message that says what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

N = TypeVar("N", int, float)


def _shown(bound: float) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


DEFAULT_ALIMT_ENDPOINT = "mt.cn-hangzhou.aliyuncs.com"
DEFAULT_ALLOWED_SOURCE_HOSTS = ("*.aliyuncs.com", "*.alicdn.com")

_ENDPOINT = re.compile(r"^(https?://)?[A-Za-z0-9.-]+(:\d{1,5})?/?$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_PREFIX_CHARS = re.compile(r"^[A-Za-z0-9!_.*'()/-]+$")
_HOST_PATTERN = re.compile(r"^(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


class ConfigError(ValueError):
    """A configuration variable is missing or malformed. The message names the variable."""


@dataclass(frozen=True)
class CollectorConfig:
    output_bucket: str
    output_prefix: str = "translated/"
    state_prefix: str = "collector/"
    alimt_endpoint: str = DEFAULT_ALIMT_ENDPOINT
    oss_endpoint: str = ""  # empty: the region's internal endpoint, resolved per invocation
    allowed_source_hosts: tuple[str, ...] = DEFAULT_ALLOWED_SOURCE_HOSTS
    allow_insecure_sources: bool = False
    wait_budget_seconds: float = 30.0
    poll_interval_seconds: float = 3.0
    # >0: a young MNS delivery leaves the first poll to the sweep (collector/scheduling.py)
    first_poll_after_seconds: float = 0.0
    safety_margin_seconds: float = 15.0
    copy_concurrency: int = 8
    max_image_bytes: int = 50 * 1024 * 1024
    pending_lifetime_seconds: float = 6 * 3600.0
    api_qps: float = 5.0
    max_tasks_per_event: int = 50
    sweep_max_seconds: float = 50.0
    sweep_concurrency: int = 4
    sweep_shards_max: int = 1  # >1: a backlog too big for one sweep is split into shards
    fanout_function_name: str = ""  # the function the shards are sent to (empty: this one)
    fc_endpoint: str = ""  # empty: <account_id>.<region>.fc.aliyuncs.com, resolved per invocation
    api_timeout_seconds: float = 10.0
    source_timeout_seconds: float = 20.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CollectorConfig:
        reader = _EnvReader(env)
        config = cls(
            output_bucket=reader.bucket("OUTPUT_BUCKET"),
            output_prefix=reader.prefix("OUTPUT_PREFIX", cls.output_prefix),
            state_prefix=reader.prefix("STATE_PREFIX", cls.state_prefix),
            alimt_endpoint=reader.endpoint("ALIMT_ENDPOINT", cls.alimt_endpoint),
            oss_endpoint=reader.endpoint("OSS_ENDPOINT", cls.oss_endpoint),
            allowed_source_hosts=reader.host_patterns("ALLOWED_SOURCE_HOSTS"),
            allow_insecure_sources=reader.boolean("ALLOW_INSECURE_SOURCES", False),
            wait_budget_seconds=reader.number(
                "WAIT_BUDGET_SECONDS", cls.wait_budget_seconds, 0, 3600
            ),
            poll_interval_seconds=reader.number(
                "POLL_INTERVAL_SECONDS", cls.poll_interval_seconds, 0.01, 600
            ),
            first_poll_after_seconds=reader.number(
                "FIRST_POLL_AFTER_SECONDS", cls.first_poll_after_seconds, 0, 3000
            ),
            safety_margin_seconds=reader.number(
                "SAFETY_MARGIN_SECONDS", cls.safety_margin_seconds, 0, 600
            ),
            copy_concurrency=reader.integer("COPY_CONCURRENCY", cls.copy_concurrency, 1, 64),
            max_image_bytes=reader.integer("MAX_IMAGE_BYTES", cls.max_image_bytes, 1, 5 * 1024**3),
            pending_lifetime_seconds=reader.number(
                "PENDING_LIFETIME_SECONDS", cls.pending_lifetime_seconds, 60, 30 * 86400
            ),
            api_qps=reader.number("API_QPS", cls.api_qps, 0.1, 10000),
            max_tasks_per_event=reader.integer(
                "MAX_TASKS_PER_EVENT", cls.max_tasks_per_event, 1, 1000
            ),
            sweep_max_seconds=reader.number("SWEEP_MAX_SECONDS", cls.sweep_max_seconds, 1, 86400),
            sweep_concurrency=reader.integer("SWEEP_CONCURRENCY", cls.sweep_concurrency, 1, 64),
            sweep_shards_max=reader.integer("SWEEP_SHARDS_MAX", cls.sweep_shards_max, 1, 256),
            fanout_function_name=reader.name("FANOUT_FUNCTION_NAME"),
            fc_endpoint=reader.endpoint("FC_ENDPOINT", cls.fc_endpoint),
            api_timeout_seconds=reader.number(
                "API_TIMEOUT_SECONDS", cls.api_timeout_seconds, 0.1, 120
            ),
            source_timeout_seconds=reader.number(
                "SOURCE_TIMEOUT_SECONDS", cls.source_timeout_seconds, 0.1, 600
            ),
            log_level=reader.choice(
                "LOG_LEVEL", cls.log_level, ("DEBUG", "INFO", "WARNING", "ERROR")
            ),
        )
        if config.output_prefix.startswith(config.state_prefix) or config.state_prefix.startswith(
            config.output_prefix
        ):
            raise ConfigError(
                f"OUTPUT_PREFIX ({config.output_prefix!r}) and STATE_PREFIX "
                f"({config.state_prefix!r}) must not contain one another"
            )
        return config

    def oss_endpoint_for(self, region: str) -> str:
        """The configured OSS endpoint, or the region's internal one (no traffic charges in-region)."""
        return self.oss_endpoint or f"https://oss-{region}-internal.aliyuncs.com"


class _EnvReader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def bucket(self, name: str) -> str:
        value = self._raw(name)
        if value is None:
            raise ConfigError(f"{name} is required: the OSS bucket the images are copied into")
        if not _BUCKET_NAME.match(value):
            raise ConfigError(
                f"{name}={value!r} is not a valid OSS bucket name "
                "(3-63 lower-case letters, digits or '-', not starting or ending with '-')"
            )
        return value

    def prefix(self, name: str, default: str) -> str:
        value = self._raw(name)
        if value is None:
            return default
        problem = prefix_problem(value)
        if problem:
            raise ConfigError(f"{name}={value!r}: {problem}")
        return value

    def endpoint(self, name: str, default: str) -> str:
        value = self._raw(name)
        if value is not None and not _ENDPOINT.match(value):
            raise ConfigError(
                f"{name}={value!r} is not an endpoint: expected 'host', 'host:port' or "
                "'http(s)://host[:port]' with no path"
            )
        return default if value is None else value.rstrip("/")

    def host_patterns(self, name: str) -> tuple[str, ...]:
        value = self._raw(name)
        if value is None:
            return DEFAULT_ALLOWED_SOURCE_HOSTS
        patterns = tuple(p.strip().lower() for p in value.split(",") if p.strip())
        if not patterns:
            raise ConfigError(f"{name} is empty: list at least one host pattern")
        for pattern in patterns:
            if not _HOST_PATTERN.match(pattern) or pattern in ("*", "*."):
                raise ConfigError(
                    f"{name}: {pattern!r} is not a host pattern "
                    "(use 'host', 'host:port' or '*.domain'; a bare '*' is not allowed)"
                )
        return patterns

    def name(self, name: str) -> str:
        """An FC function name (letters, digits, '_' and '-', up to 64), or empty."""
        value = self._raw(name) or ""
        if value and not re.match(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$", value):
            raise ConfigError(f"{name}={value!r} is not a Function Compute function name")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}={value!r} is not a boolean (use true or false)")

    def number(self, name: str, default: float, low: float, high: float) -> float:
        number = self._ranged(name, float, "a number", float(low), float(high))
        return default if number is None else number

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        number = self._ranged(name, int, "a whole number", low, high)
        return default if number is None else number

    def _ranged(self, name: str, parse: Callable[[str], N], what: str, low: N, high: N) -> N | None:
        """The variable parsed by `parse` and within [low, high]; None if unset."""
        value = self._raw(name)
        if value is None:
            return None
        try:
            number = parse(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not {what}") from None
        if not (low <= number <= high):
            raise ConfigError(f"{name}={value!r} is out of range [{_shown(low)}, {_shown(high)}]")
        return number

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self._raw(name)
        if value is None:
            return default
        if value.upper() not in choices:
            raise ConfigError(f"{name}={value!r} must be one of {', '.join(choices)}")
        return value.upper()


def prefix_problem(prefix: str) -> str | None:
    """Why `prefix` is unusable as an OSS key prefix, or None. Shared by config and event parsing."""
    if len(prefix) > 512:
        return "longer than 512 characters"
    if not prefix.endswith("/"):
        return "must end with '/'"
    if prefix.startswith("/"):
        return "must not start with '/'"
    if not _PREFIX_CHARS.match(prefix):
        return "may contain only letters, digits, '/' and !_.*'()-"
    segments = prefix[:-1].split("/")
    if any(seg in ("", ".", "..") for seg in segments):
        return "has an empty, '.' or '..' path segment"
    return None
