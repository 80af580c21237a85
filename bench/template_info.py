"""What the benchmarks take from template.yaml: each function's memory, timeout and environment, and the table."""

from __future__ import annotations

from functools import cache
from typing import Any

from bench.lambda_env import BUSINESS_NUMBER, ROOT

# Values for the template's !Ref environment variables in the benchmark's own resources.
NAMES = {
    "table": "messages",
    "bus": "gateway-bus",
    "queue": "send-queue",
    "callback_secret": "callback-credentials",
    "provider_secret": "provider-credentials",
}


@cache
def template() -> dict[str, Any]:
    from cfnlint.decode import decode_str

    decoded, problems = decode_str((ROOT / "template.yaml").read_text())
    if problems:
        raise RuntimeError(f"template.yaml does not parse: {problems}")
    return decoded


def functions() -> dict[str, dict[str, Any]]:
    """{logical id: {memory, timeout, env names and template values}} for every AWS::Serverless::Function."""
    globals_ = template().get("Globals", {}).get("Function", {})
    out = {}
    for logical_id, resource in template()["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties", {})
        variables = dict(globals_.get("Environment", {}).get("Variables", {}))
        variables.update(properties.get("Environment", {}).get("Variables", {}))
        out[logical_id] = {
            "memory": int(properties.get("MemorySize", globals_.get("MemorySize", 128))),
            "timeout": int(properties.get("Timeout", globals_.get("Timeout", 3))),
            "architectures": properties.get("Architectures", globals_.get("Architectures", ["x86_64"])),
            "template_env": variables,
        }
    return out


def table_properties() -> dict[str, Any]:
    return template()["Resources"]["MessagesTable"]["Properties"]


def parameter_default(name: str) -> Any:
    return template().get("Parameters", {}).get(name, {}).get("Default")


def resolved_env(
    logical_id: str, names: dict[str, str], *, queue_url: str, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The function's environment with every !Ref replaced by the benchmark's resource (parameters: defaults)."""
    refs = {
        "MessagesTable": names["table"],
        "EventBus": names["bus"],
        "CallbackCredentialsSecret": names["callback_secret"],
        "ProviderSecret": names["provider_secret"],
        "SendQueue": queue_url,
        "BusinessNumber": BUSINESS_NUMBER,
    }
    env = {}
    for name, value in functions()[logical_id]["template_env"].items():
        if isinstance(value, dict) and "Ref" in value:
            target = value["Ref"]
            value = refs.get(target, parameter_default(target))
        elif isinstance(value, dict):
            continue  # anything fancier is not used by the handlers' settings
        env[name] = str(value)
    env.update(extra or {})
    return env
