"""Create the template's AWS resources in moto's server, from their translated properties, with boto3.

moto's CloudFormation cannot do this (no Secrets Manager, no custom bus ids, fails on rules of a `!Ref` bus), so each
resource type has a small creator that turns CloudFormation properties into the service's API call. Every resource
type of the translated template is either created here (`CREATORS`), served in-process by the local stack
(`SERVED_IN_PROCESS`), or has no local meaning (`NO_LOCAL_MEANING`); anything else stops the stack with a clear
error, so a new resource in the template is never silently missing locally.

Physical names follow `<stack-name>-<LogicalId>` unless the template names the resource itself. The resolver's
table of physical values is filled as resources are created, in dependency order.
"""

from __future__ import annotations

import graphlib
import hashlib
import json
import logging
import secrets
import string
import threading
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Literal

import boto3
from botocore.config import Config

from local.template import PhysicalResource, Resolver, TemplateError, TranslatedTemplate, referenced_logical_ids

log = logging.getLogger(__name__)

FAKE_ACCESS_KEY_ID = "AKIAWABLOCALTESTING0"
FAKE_SECRET_ACCESS_KEY = "wab-local-fake-secret-access-key"

EVENT_TAP_PATTERN = {"source": ["wab.gateway"]}

NO_LOCAL_MEANING = frozenset(
    {
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::Logs::LogGroup",
        "AWS::CloudWatch::Alarm",
        "AWS::Lambda::LayerVersion",  # its folder goes on sys.path instead (like /opt/python)
        "AWS::Lambda::Permission",
        "AWS::SQS::QueuePolicy",
        "AWS::Events::EventBusPolicy",  # moto enforces no IAM (tests/unit/test_template_security.py checks it)
        "AWS::Events::Archive",  # replays are not emulated
        "AWS::S3::BucketPolicy",
        "AWS::ApiGatewayV2::Stage",  # the local HTTP API serves the $default stage only
        "AWS::CloudWatch::Dashboard",
        "AWS::EventSchemas::Registry",  # schemas document events; nothing at run time reads them
        "AWS::EventSchemas::Schema",
    }
)
# A function's published version and alias run its code from the project folder, like the function itself.
SERVED_IN_PROCESS = frozenset(
    {
        "AWS::Lambda::Function",
        "AWS::Lambda::Version",
        "AWS::Lambda::Alias",
        "AWS::Lambda::EventSourceMapping",
        "AWS::ApiGatewayV2::Api",
        "AWS::Lambda::Url",  # served like an HTTP API with one `$default` route, on a port of its own
    }
)


# The services the local stack and its clients call (the boto3 stubs type clients per service name).
AwsService = Literal[
    "dynamodb", "dynamodbstreams", "events", "kms", "s3", "secretsmanager", "sns", "sqs", "stepfunctions"
]

_session_lock = threading.Lock()
_sessions: dict[str, boto3.session.Session] = {}


def aws_client(service: AwsService, endpoint_url: str, region: str, **config: Any) -> Any:
    """A boto3 client for moto's server, with fake credentials (moto accepts any).

    Clients come from one shared session per region, which loads each service's model once (creating a client
    from a fresh session costs ~50 ms); boto3 sessions are not thread-safe, hence the lock."""
    with _session_lock:
        session = _sessions.get(region)
        if session is None:
            session = _sessions[region] = boto3.session.Session(
                aws_access_key_id=FAKE_ACCESS_KEY_ID, aws_secret_access_key=FAKE_SECRET_ACCESS_KEY, region_name=region
            )
        return session.client(
            service,
            endpoint_url=endpoint_url,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, **config),
        )


def generate_password(length: int = 32, *, punctuation: bool = False) -> str:
    """A random password like Secrets Manager's GenerateSecretString (URL-safe, since it ends up in URLs)."""
    alphabet = string.ascii_letters + string.digits + ("-_" if punctuation else "")
    return "".join(secrets.choice(alphabet) for _ in range(length))


def api_id_for(stack_name: str, logical_id: str) -> str:
    """A stable, API Gateway-looking id (10 lower-case alphanumerics) for an HTTP API."""
    return hashlib.sha256(f"{stack_name}/{logical_id}".encode()).hexdigest()[:10]


@dataclass
class CreationContext:
    stack_name: str
    region: str
    endpoint_url: str
    account_id: str
    secret_overrides: Mapping[str, Mapping[str, str]]
    _clients: dict[str, Any] = field(default_factory=dict)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, service: AwsService) -> Any:
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = aws_client(service, self.endpoint_url, self.region)
            return self._clients[service]

    def name_for(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"


Creator = Callable[[CreationContext, str, dict[str, Any]], PhysicalResource]


def _create_table(ctx: CreationContext, logical_id: str, p: dict[str, Any]) -> PhysicalResource:
    dynamodb = ctx.client("dynamodb")
    name = p.get("TableName") or ctx.name_for(logical_id)
    billing_mode = p.get("BillingMode", "PROVISIONED")
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": p["AttributeDefinitions"],
        "KeySchema": p["KeySchema"],
        "BillingMode": billing_mode,
    }
    if billing_mode == "PROVISIONED":
        request["ProvisionedThroughput"] = p.get("ProvisionedThroughput") or {
            "ReadCapacityUnits": 5,
            "WriteCapacityUnits": 5,
        }
    index_keys = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
    if p.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [
            {key: index[key] for key in index_keys if key in index} for index in p["GlobalSecondaryIndexes"]
        ]
    if p.get("LocalSecondaryIndexes"):
        request["LocalSecondaryIndexes"] = [
            {key: index[key] for key in index_keys[:3] if key in index} for index in p["LocalSecondaryIndexes"]
        ]
    if p.get("StreamSpecification"):
        request["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
    if (p.get("SSESpecification") or {}).get("SSEEnabled"):
        request["SSESpecification"] = {"Enabled": True}
    description = dynamodb.create_table(**request)["TableDescription"]
    ttl = p.get("TimeToLiveSpecification") or {}
    if ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )
    attributes = {"Arn": description["TableArn"]}
    if description.get("LatestStreamArn"):
        attributes["StreamArn"] = description["LatestStreamArn"]
    return PhysicalResource(ref=name, attributes=attributes)


_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


def _queue_attribute_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _create_queue(ctx: CreationContext, logical_id: str, p: dict[str, Any]) -> PhysicalResource:
    sqs = ctx.client("sqs")
    name = p.get("QueueName") or ctx.name_for(logical_id) + (".fifo" if p.get("FifoQueue") else "")
    attributes = {key: _queue_attribute_text(p[key]) for key in _QUEUE_ATTRIBUTES if key in p}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return PhysicalResource(ref=url, attributes={"Arn": arn, "QueueName": name, "QueueUrl": url})


def _create_event_bus(ctx: CreationContext, logical_id: str, p: dict[str, Any]) -> PhysicalResource:
    name = p.get("Name") or ctx.name_for(logical_id)
    arn = ctx.client("events").create_event_bus(Name=name)["EventBusArn"]
    return PhysicalResource(ref=name, attributes={"Arn": arn, "Name": name})


_TARGET_KEYS = (
    "Id",
    "Arn",
    "Input",
    "InputPath",
    "InputTransformer",
    "SqsParameters",
    "RetryPolicy",
    "DeadLetterConfig",
)


def _create_rule(ctx: CreationContext, logical_id: str, p: dict[str, Any]) -> PhysicalResource:
    events = ctx.client("events")
    name = p.get("Name") or ctx.name_for(logical_id)
    request: dict[str, Any] = {"Name": name, "State": p.get("State", "ENABLED")}
    for key in ("EventBusName", "Description", "ScheduleExpression"):
        if key in p:
            request[key] = p[key]
    if "EventPattern" in p:
        pattern = p["EventPattern"]
        request["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
    arn = events.put_rule(**request)["RuleArn"]
    targets = [{key: target[key] for key in _TARGET_KEYS if key in target} for target in p.get("Targets") or []]
    for target in targets:
        if ":lambda:" in target["Arn"]:
            log.warning("rule %s targets a Lambda function; the local stack cannot deliver to it", logical_id)
    if targets:
        bus = {"EventBusName": p["EventBusName"]} if "EventBusName" in p else {}
        events.put_targets(Rule=name, Targets=targets, **bus)
    return PhysicalResource(ref=name, attributes={"Arn": arn})


def _generated_secret_string(spec: Mapping[str, Any]) -> str:
    password = generate_password(
        int(spec.get("PasswordLength", 32)),
        punctuation=not (spec.get("ExcludePunctuation") or spec.get("ExcludeCharacters")),
    )
    if "SecretStringTemplate" not in spec:
        return password
    document = json.loads(spec["SecretStringTemplate"])
    document[spec["GenerateStringKey"]] = password
    return json.dumps(document)


def _create_secret(ctx: CreationContext, logical_id: str, p: dict[str, Any]) -> PhysicalResource:
    name = p.get("Name") or ctx.name_for(logical_id)
    value = p["SecretString"] if "SecretString" in p else _generated_secret_string(p.get("GenerateSecretString") or {})
    if logical_id in ctx.secret_overrides:
        value = json.dumps({**json.loads(value), **ctx.secret_overrides[logical_id]})
    request = {"Name": name, "SecretString": value}
    if "Description" in p:
        request["Description"] = p["Description"]
    arn = ctx.client("secretsmanager").create_secret(**request)["ARN"]
    return PhysicalResource(ref=arn, attributes={"Id": arn})


def _create_bucket(ctx: CreationContext, logical_id: str, p: dict[str, Any]) -> PhysicalResource:
    name = p.get("BucketName") or ctx.name_for(logical_id).lower()[:63]
    request: dict[str, Any] = {"Bucket": name}
    if ctx.region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
    ctx.client("s3").create_bucket(**request)
    return PhysicalResource(
        ref=name,
        attributes={
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{ctx.region}.amazonaws.com",
        },
    )


def _create_kms_key(ctx: CreationContext, logical_id: str, p: dict[str, Any]) -> PhysicalResource:
    kms = ctx.client("kms")
    request: dict[str, Any] = {key: p[key] for key in ("Description", "KeyUsage", "KeySpec", "MultiRegion") if key in p}
    if "KeyPolicy" in p:
        policy = p["KeyPolicy"]
        request["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
    metadata = kms.create_key(**request)["KeyMetadata"]
    if p.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=metadata["KeyId"])
    return PhysicalResource(ref=metadata["KeyId"], attributes={"Arn": metadata["Arn"], "KeyId": metadata["KeyId"]})


def _create_topic(ctx: CreationContext, logical_id: str, p: dict[str, Any]) -> PhysicalResource:
    sns = ctx.client("sns")
    name = p.get("TopicName") or ctx.name_for(logical_id) + (".fifo" if p.get("FifoTopic") else "")
    attributes = {
        key: _queue_attribute_text(p[key])
        for key in ("DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication")
        if key in p
    }
    arn = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
    for subscription in p.get("Subscription") or []:
        sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
    return PhysicalResource(ref=arn, attributes={"TopicArn": arn, "TopicName": name})


CREATORS: dict[str, Creator] = {
    "AWS::DynamoDB::Table": _create_table,
    "AWS::SQS::Queue": _create_queue,
    "AWS::Events::EventBus": _create_event_bus,
    "AWS::Events::Rule": _create_rule,
    "AWS::SecretsManager::Secret": _create_secret,
    "AWS::S3::Bucket": _create_bucket,
    "AWS::KMS::Key": _create_kms_key,
    "AWS::SNS::Topic": _create_topic,
}


def check_supported(template: TranslatedTemplate) -> None:
    """Fail before anything starts when the template holds a resource type the local stack does not know."""
    unknown = sorted(
        f"{logical_id} ({resource['Type']})"
        for logical_id, resource in template.resources.items()
        if resource["Type"] not in CREATORS
        and resource["Type"] not in SERVED_IN_PROCESS
        and resource["Type"] not in NO_LOCAL_MEANING
    )
    if unknown:
        raise TemplateError(
            "the local stack does not know how to emulate: " + ", ".join(unknown) + " (teach local/aws.py)"
        )


def register_in_process_resources(
    template: TranslatedTemplate, resolver: Resolver, *, stack_name: str, region: str, api_url: str
) -> None:
    """Give functions and HTTP APIs (which moto does not host) their local physical names and ARNs."""
    account = resolver.pseudo["AWS::AccountId"]
    for logical_id, spec in template.functions().items():
        name = resolver.resolve(spec.function_name) if spec.function_name else f"{stack_name}-{logical_id}"
        arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        resolver.physical[logical_id] = PhysicalResource(ref=name, attributes={"Arn": arn})
    for logical_id in template.of_type("AWS::ApiGatewayV2::Api"):
        api_id = api_id_for(stack_name, logical_id)
        resolver.physical[logical_id] = PhysicalResource(ref=api_id, attributes={"ApiEndpoint": api_url})


def dependency_graph(template: TranslatedTemplate) -> graphlib.TopologicalSorter:
    """The resources to create in moto, each depending on the ones it refers to."""
    to_create = {logical_id for logical_id, r in template.resources.items() if r["Type"] in CREATORS}
    graph: graphlib.TopologicalSorter = graphlib.TopologicalSorter()
    for logical_id in sorted(to_create):
        resource = template.resources[logical_id]
        depends_on = resource.get("DependsOn") or []
        depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
        references = referenced_logical_ids(resource.get("Properties") or {}) | set(depends_on)
        graph.add(logical_id, *sorted(references & to_create))
    return graph


def creation_order(template: TranslatedTemplate) -> list[str]:
    """Logical ids of the resources to create in moto, each after everything it refers to."""
    try:
        return list(dependency_graph(template).static_order())
    except graphlib.CycleError as exc:
        raise TemplateError(f"circular references between resources: {exc.args[1]}") from None


def create_resources(template: TranslatedTemplate, resolver: Resolver, context: CreationContext) -> None:
    """Create every moto-hosted resource of the template, recording its physical values in the resolver.

    Independent resources are created concurrently: the first call to each service costs moto a backend set-up."""
    creation_order(template)  # fails clearly on cycles
    graph = dependency_graph(template)
    graph.prepare()

    def create(logical_id: str) -> str:
        resource_type = template.resources[logical_id]["Type"]
        properties = resolver.resolve(template.properties(logical_id))
        resolver.physical[logical_id] = CREATORS[resource_type](context, logical_id, properties)
        log.debug("created %s %s → %s", resource_type, logical_id, resolver.physical[logical_id].ref)
        return logical_id

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="create-resources") as pool:
        pending = {pool.submit(create, logical_id) for logical_id in graph.get_ready()}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                graph.done(future.result())
            pending |= {pool.submit(create, logical_id) for logical_id in graph.get_ready()}


def run_state_machines(endpoint_url: str) -> None:
    """Let moto's server run state machines (its Step Functions executes them only when asked to): a workflow of your
    own, or examples/order-confirmation, can then wait on the gateway with `.waitForTaskToken` and be answered."""
    request = urllib.request.Request(
        f"{endpoint_url}/moto-api/config",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def create_event_tap(context: CreationContext, event_bus_name: str) -> str:
    """An SQS queue subscribed to everything the gateway publishes on the bus; returns its URL."""
    name = f"{context.stack_name}-event-tap"
    tap = _create_queue(context, "event-tap", {"QueueName": name})
    _create_rule(
        context,
        "event-tap",
        {
            "Name": name,
            "EventBusName": event_bus_name,
            "EventPattern": EVENT_TAP_PATTERN,
            "Description": "Local stack: copies every event the gateway publishes to the event tap queue.",
            "Targets": [{"Id": "event-tap", "Arn": tap.attributes["Arn"]}],
        },
    )
    return tap.ref
