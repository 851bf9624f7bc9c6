"""Where the CLI works: the function's environment variables, overridden by command-line flags.

The values go through `CollectorConfig.from_env`, so a bucket or prefix the function would refuse is
refused here too, with the same message. Operators run outside the VPC, so the default OSS endpoint is
the region's *public* one, not the internal one the function uses. Credentials come from the official
default chain (environment, CLI profile, credentials file, RAM role: see `ops.credentials`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collector.config import CollectorConfig, ConfigError
from collector.credentials import FunctionCredentials
from collector.layout import KeyLayout
from collector.object_store import ObjectStore, oss_auth
from ops.credentials import resolve_credentials

DEFAULT_REGION = "cn-hangzhou"


@dataclass(frozen=True)
class OpsSettings:
    config: CollectorConfig
    region: str
    credentials: FunctionCredentials
    credentials_source: str = "environment variables"  # for messages: where the keys came from

    @classmethod
    def resolve(
        cls,
        env: Mapping[str, str],
        *,
        bucket: str | None = None,
        oss_endpoint: str | None = None,
        alimt_endpoint: str | None = None,
        region: str | None = None,
        profile: str | None = None,
    ) -> OpsSettings:
        merged = dict(env)
        for name, value in (
            ("OUTPUT_BUCKET", bucket),
            ("OSS_ENDPOINT", oss_endpoint),
            ("ALIMT_ENDPOINT", alimt_endpoint),
        ):
            if value:
                merged[name] = value
        config = CollectorConfig.from_env(merged)
        region = region or env.get("ALIBABA_CLOUD_REGION_ID") or env.get("FC_REGION")
        region = region or DEFAULT_REGION
        if not config.oss_endpoint:
            config = dataclasses.replace(config, oss_endpoint=public_oss_endpoint(region))
        found = resolve_credentials(merged, profile)
        return cls(config, region, found.keys, found.source)

    @property
    def layout(self) -> KeyLayout:
        return KeyLayout(self.config.output_prefix, self.config.state_prefix)

    def object_store(self) -> ObjectStore:
        return ObjectStore(
            self.config.oss_endpoint,
            self.config.output_bucket,
            self.credentials,
            timeout_seconds=self.config.api_timeout_seconds * 3,
        )

    def oss_bucket(self) -> Any:
        """A raw `oss2.Bucket` for reading image bytes (ObjectStore only reads JSON documents)."""
        import oss2

        return oss2.Bucket(
            oss_auth(self.credentials),
            self.config.oss_endpoint,
            self.config.output_bucket,
            connect_timeout=self.config.api_timeout_seconds * 3,
        )


def public_oss_endpoint(region: str) -> str:
    return f"https://oss-{region}.aliyuncs.com"


__all__ = ["ConfigError", "OpsSettings", "public_oss_endpoint"]
