"""The function as `template.yml` declares it, read the way Serverless Devs does: `${vars.x}` and
`${env(X)}` placeholders resolved, the fc3 props turned into a `FunctionSpec` with its triggers and
asynchronous-invocation config."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_PLACEHOLDER = re.compile(
    r"\$\{\s*(?:vars\.(?P<var>[\w-]+)|env\(\s*['\"]?(?P<env>\w+)['\"]?\s*\)|env\.(?P<envdot>\w+))\s*\}"
)


def resolve_placeholders(value: Any, variables: dict[str, Any]) -> Any:
    """Resolve Serverless Devs `${vars.x}`, `${env(X)}` and `${env.X}`; leave anything else (for
    example `${config('AccountID')}`) verbatim, since only the deploy tool can know it."""
    if isinstance(value, dict):
        return {key: resolve_placeholders(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_placeholders(item, variables) for item in value]
    if not isinstance(value, str):
        return value

    def lookup(match: re.Match[str]) -> Any:
        if match["var"] is not None:
            return variables.get(match["var"], match[0])
        return os.environ.get(match["env"] or match["envdot"], match[0])

    whole = _PLACEHOLDER.fullmatch(value)
    if whole:  # keep a non-string variable's type when it is the whole value
        return lookup(whole)
    return _PLACEHOLDER.sub(lambda m: str(lookup(m)), value)


@dataclass(frozen=True)
class TriggerSpec:
    name: str
    type: str
    config: dict[str, Any]
    source_arn: str | None = None
    invocation_role: str | None = None

    @classmethod
    def from_props(cls, trigger: dict[str, Any]) -> TriggerSpec:
        return cls(
            name=str(trigger["triggerName"]),
            type=str(trigger["triggerType"]),
            config=dict(trigger.get("triggerConfig") or {}),
            source_arn=trigger.get("sourceArn"),
            invocation_role=trigger.get("invocationRole"),
        )

    @property
    def payload(self) -> str:
        return str(self.config.get("payload") or "")

    @property
    def cron_expression(self) -> str | None:
        return self.config.get("cronExpression")

    @property
    def notify_content_format(self) -> str:
        return str(self.config.get("notifyContentFormat", "JSON"))

    @property
    def notify_strategy(self) -> str:
        return str(self.config.get("notifyStrategy", "BACKOFF_RETRY"))

    @property
    def filter_tag(self) -> str | None:
        return self.config.get("filterTag") or None

    @property
    def topic_name(self) -> str | None:
        match = re.search(r"/topics/([^/]+)", self.source_arn or "")
        return match[1] if match else None


@dataclass(frozen=True)
class AsyncInvokeSpec:
    max_retry_attempts: int = 3
    max_event_age_s: float = 18000.0  # the fc3 schema's default
    on_success: str | None = None
    on_failure: str | None = None

    @classmethod
    def from_props(cls, async_props: dict[str, Any]) -> AsyncInvokeSpec:
        """From fc3's `asyncInvokeConfig`."""
        destinations = async_props.get("destinationConfig") or {}
        return cls(
            max_retry_attempts=int(async_props.get("maxAsyncRetryAttempts", 3)),
            max_event_age_s=float(async_props.get("maxAsyncEventAgeInSeconds", 18000)),
            on_success=(destinations.get("onSuccess") or {}).get("destination"),
            on_failure=(destinations.get("onFailure") or {}).get("destination"),
        )


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str
    runtime: str
    memory_size: int = 512
    cpu: float | None = None  # vCPU; None: fc3's default for the memory size
    timeout: int = 3
    instance_concurrency: int = 1
    region: str = "cn-hangzhou"
    role: str | None = None
    description: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    triggers: tuple[TriggerSpec, ...] = ()
    async_config: AsyncInvokeSpec = field(default_factory=AsyncInvokeSpec)
    code_path: Path | None = None
    initializer: str | None = None  # instanceLifecycleConfig.initializer.handler
    initializer_timeout: int = 3

    @classmethod
    def from_template(
        cls, path: str | Path = "template.yml", resource: str | None = None
    ) -> FunctionSpec:
        """Read one fc3 resource of a Serverless Devs 3 template (the only one, or `resource`)."""
        template_path = Path(path)
        document = yaml.safe_load(template_path.read_text(encoding="utf-8")) or {}
        resources = {
            key: value
            for key, value in (document.get("resources") or {}).items()
            if isinstance(value, dict) and value.get("component") == "fc3"
        }
        if resource is None:
            if len(resources) != 1:
                raise ValueError(f"{path}: name one of the fc3 resources {sorted(resources)}")
            resource = next(iter(resources))
        if resource not in resources:
            raise ValueError(f"{path}: no fc3 resource {resource!r} (have {sorted(resources)})")
        variables = document.get("vars") or {}
        props = resolve_placeholders(resources[resource].get("props") or {}, variables)
        return cls.from_props(props, base_dir=template_path.resolve().parent)

    @classmethod
    def from_props(cls, props: dict[str, Any], *, base_dir: Path | None = None) -> FunctionSpec:
        initializer = (props.get("instanceLifecycleConfig") or {}).get("initializer") or {}
        return cls(
            name=str(props["functionName"]),
            handler=str(props.get("handler", "index.handler")),
            runtime=str(props["runtime"]),
            memory_size=int(props.get("memorySize", 512)),
            cpu=float(props["cpu"]) if props.get("cpu") is not None else None,
            timeout=int(props.get("timeout", 3)),
            instance_concurrency=int(props.get("instanceConcurrency", 1)),
            region=str(props.get("region", "cn-hangzhou")),
            role=props.get("role"),
            description=str(props.get("description", "")),
            environment={
                str(key): str(value)
                for key, value in (props.get("environmentVariables") or {}).items()
            },
            triggers=tuple(TriggerSpec.from_props(t) for t in props.get("triggers") or []),
            async_config=AsyncInvokeSpec.from_props(props.get("asyncInvokeConfig") or {}),
            code_path=_code_path(props.get("code"), base_dir),
            initializer=initializer.get("handler") or None,
            initializer_timeout=int(initializer.get("timeout", 3)),
        )

    def trigger(self, name: str | None, trigger_type: str) -> TriggerSpec:
        """The trigger called `name`, or the first one of `trigger_type`."""
        for trigger in self.triggers:
            if trigger.type == trigger_type and (name is None or trigger.name == name):
                return trigger
        raise LookupError(f"function {self.name!r} has no {trigger_type} trigger {name or ''}")


def _code_path(code: Any, base_dir: Path | None) -> Path | None:
    """fc3's `code` (a path, or a mapping with `src`) as a path from the template's directory."""
    code_src = code.get("src") if isinstance(code, dict) else code
    return (base_dir or Path(".")) / code_src if isinstance(code_src, str) else None
