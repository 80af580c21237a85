"""What the benchmarks take from template.yaml: each function's memory, timeout and environment, and the table."""

from __future__ import annotations

from functools import cache
from typing import Any

from bench.lambda_env import BUSINESS_NUMBER, QUEUE_NAMES, ROOT

# Values for the template's !Ref environment variables in the benchmark's own resources.
NAMES = {
    "table": "messages",
    "bus": "gateway-bus",
    **QUEUE_NAMES,
    "callback_secret": "callback-credentials",
    "provider_secret": "provider-credentials",
}
# The template's queues, by the key their URL has in a `queue_urls` mapping (and their name in NAMES).
QUEUES = {
    "SendQueue": "queue",
    "PriorityLaneQueue": "priority_lane",
    "BulkLaneQueue": "bulk_lane",
    "SendDeadLetterQueue": "dead_letters",
}
# The benchmarks measure what the gateway itself costs, not the pacing it adds on purpose, so they run with the
# number's rate at the template's maximum: the rate budget never makes a send wait (at the default 80 per second a
# broadcast of 10,000 takes at least 125 s, however fast the gateway is). BroadcastChunkSize is then set to the chunk
# size the intake makes at the default rate (chunk_size()), so the chunks are those of a default deployment.
UNPACED_RATE = 10_000


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
            # "PassThrough" when the function never starts a trace of its own, whatever TracingMode says
            "tracing": properties.get("Tracing", globals_.get("Tracing")),
            "template_env": variables,
        }
    return out


def sqs_event_sources() -> int:
    """How many SQS event source mappings the stack has at its defaults (each polls its queue, idle or not): a
    function's `SQS` events and the template's own AWS::Lambda::EventSourceMapping resources on a queue."""
    resources = template()["Resources"]
    in_functions = sum(
        1
        for resource in resources.values()
        if resource.get("Type") == "AWS::Serverless::Function"
        for event in (resource.get("Properties", {}).get("Events") or {}).values()
        if event.get("Type") == "SQS"
    )
    queues = {name for name, resource in resources.items() if resource.get("Type") == "AWS::SQS::Queue"}
    mappings = sum(
        1
        for name in resources_of("AWS::Lambda::EventSourceMapping")
        if (resources[name]["Properties"].get("EventSourceArn") or {}).get("Fn::GetAtt", [None])[0] in queues
    )
    return in_functions + mappings


def stream_mappings() -> list[str]:
    """The event source mappings on the table's stream (their polling is free: Lambda's reads of a DynamoDB stream
    are not billed)."""
    resources = template()["Resources"]
    return [
        name
        for name in resources_of("AWS::Lambda::EventSourceMapping")
        if (resources[name]["Properties"].get("EventSourceArn") or {}).get("Fn::GetAtt", [None, None])[1:]
        == ["StreamArn"]
    ]


def relay_mapping() -> dict[str, Any]:
    """The properties of the mapping that hands the table's stream to the relay function (RelayStreamMapping)."""
    [name] = stream_mappings()
    return dict(template()["Resources"][name]["Properties"])


DEFAULT_REGION = "us-east-1"  # the region the prices are for, and the one conditions on AWS::Region are read for


def condition(name: str) -> bool:
    """Whether the template's condition `name` holds with every parameter at its default, in DEFAULT_REGION."""
    return bool(_evaluate(template().get("Conditions", {})[name]))


def _evaluate(value: Any) -> Any:
    if not isinstance(value, dict):
        return [_evaluate(each) for each in value] if isinstance(value, list) else value
    ((function, argument),) = value.items()
    if function == "Ref":
        return DEFAULT_REGION if argument == "AWS::Region" else parameter_default(argument)
    if function == "Condition":
        return condition(argument)
    if function == "Fn::Equals":
        left, right = _evaluate(argument)
        return str(left) == str(right)
    if function == "Fn::Not":
        return not _evaluate(argument)[0]
    if function == "Fn::And":
        return all(_evaluate(argument))
    if function == "Fn::Or":
        return any(_evaluate(argument))
    if function == "Fn::Join":
        separator, parts = argument
        parts = _evaluate(parts)
        return separator.join(str(part) for part in (parts if isinstance(parts, list) else [parts]))
    raise ValueError(f"cannot evaluate {function} in a condition")


def resources_of(resource_type: str) -> list[str]:
    """The logical ids of the resources of this type the stack creates at its defaults (conditions evaluated)."""
    return [
        name
        for name, resource in template()["Resources"].items()
        if resource.get("Type") == resource_type and ("Condition" not in resource or condition(resource["Condition"]))
    ]


def table_properties() -> dict[str, Any]:
    return template()["Resources"]["MessagesTable"]["Properties"]


def parameter_default(name: str) -> Any:
    return template().get("Parameters", {}).get(name, {}).get("Default")


def chunk_size(parameters: dict[str, str] | None = None) -> int:
    """How many recipients the intake puts in a broadcast chunk with these template parameters (defaults for the
    others): BroadcastChunkSize, or fewer when bulk's share of the number's burst is smaller (wab.pacing)."""
    names = ("BroadcastChunkSize", "NumberRatePerSecond", "BulkRateShare")
    values = {name: str(parameter_default(name)) for name in names}
    values.update(parameters or {})
    return _chunk_size(values["BroadcastChunkSize"], values["NumberRatePerSecond"], values["BulkRateShare"])


@cache
def _chunk_size(ceiling: str, rate: str, share: str) -> int:
    from bench import lane_bodies

    return lane_bodies.chunk_size(int(ceiling), float(rate), float(share))


@cache
def bench_parameters() -> dict[str, str]:
    """The template parameters every benchmark runs with (see UNPACED_RATE)."""
    return {"NumberRatePerSecond": str(UNPACED_RATE), "BroadcastChunkSize": str(chunk_size())}


def bench_chunk_size() -> int:
    """Recipients per broadcast chunk in the benchmarks: the same as at the template's defaults."""
    return chunk_size(bench_parameters())


def resolved_env(
    logical_id: str,
    names: dict[str, str],
    *,
    queue_urls: dict[str, str],
    parameters: dict[str, str] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The function's environment with every !Ref replaced by the benchmark's resource (queues: `queue_urls`, keyed
    as in QUEUES) and every parameter by its value in `parameters`, else its default."""
    refs = {
        "MessagesTable": names["table"],
        "EventBus": names["bus"],
        "CallbackCredentialsSecret": names["callback_secret"],
        "ProviderSecret": names["provider_secret"],
        "BusinessNumber": BUSINESS_NUMBER,
        **{logical: queue_urls[key] for logical, key in QUEUES.items()},
        **(parameters or {}),
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


def create_send_path(session: Any) -> dict[str, str]:
    """In (in-process) moto: the messages table with its indexes, the bus, the send queue, both lanes and the
    dead-letter queue, as the template declares them; the queues' URLs by `NAMES` key."""
    table = table_properties()
    session.client("dynamodb").create_table(
        TableName=NAMES["table"],
        AttributeDefinitions=table["AttributeDefinitions"],
        KeySchema=table["KeySchema"],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
            for index in table["GlobalSecondaryIndexes"]
        ],
    )
    session.client("events").create_event_bus(Name=NAMES["bus"])
    sqs = session.client("sqs")
    return {
        key: sqs.create_queue(
            QueueName=NAMES[key],
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true" if key == "queue" else "false"},
        )["QueueUrl"]
        for key in ("queue", "priority_lane", "bulk_lane", "dead_letters")
    }
