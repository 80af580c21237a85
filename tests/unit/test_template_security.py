"""Security properties of template.yaml that must not regress.

The template is read translated into plain CloudFormation (as CloudFormation deploys it: the functions' roles with
their policy templates expanded, the HTTP API's OpenAPI body and stage), so a property is checked on what is
deployed, not on what SAM is asked for. Properties behind a condition (`KmsKeyArn`, `AlarmTopicArn`) are checked in
every deployment the parameters allow: each `Fn::If` is decided as CloudFormation would, for each scenario below.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest

from tests.helpers import ROOT

CUSTOMER_KEY = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
OWN_TOPIC = "arn:aws:sns:eu-west-1:123456789012:operations"
SCENARIOS = {
    "defaults": {},
    "customer key": {"KmsKeyArn": CUSTOMER_KEY},
    "own alarm topic": {"AlarmTopicArn": OWN_TOPIC},
    "customer key and own topic": {"KmsKeyArn": CUSTOMER_KEY, "AlarmTopicArn": OWN_TOPIC},
    "callbacks function URL": {"CallbackEndpoint": "FunctionUrl"},
}
# Actions whose resource cannot be narrowed: X-Ray has no resource-level permissions, and neither have the two calls
# that answer a Step Functions task (the Service Authorization Reference lists no resource type and no condition key
# for SendTaskSuccess and SendTaskFailure: a statement naming any ARN would never match, so they need "*"). The task
# token names the one task a call can answer.
RESOURCELESS_ACTION_PREFIXES = ("xray:",)
RESOURCELESS_ACTIONS = frozenset({"states:SendTaskSuccess", "states:SendTaskFailure"})
# The functions that answer tasks waiting on messages (wab.waits): where their waits are decided.
TASK_ANSWERERS = {"CallbacksFunctionRole", "IntakeFunctionRole", "SenderFunctionRole", "WaitsFunctionRole"}
NO_VALUE = object()


@cache
def translated() -> dict[str, Any]:
    from tools.translate_template import translated as translate

    return translate(ROOT / "template.yaml", "eu-west-1")


# ---------------------------------------------------------------------------------------------------------------
# Deciding conditions as CloudFormation would
# ---------------------------------------------------------------------------------------------------------------


def parameter_values(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    values = {name: str(spec.get("Default", "")) for name, spec in (template.get("Parameters") or {}).items()}
    values["AWS::Region"] = "eu-west-1"
    values.update(overrides)
    return values


def condition_values(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, bool]:
    definitions = template.get("Conditions") or {}
    decided: dict[str, bool] = {}

    def value(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                return parameters[argument]
            if key == "Condition":
                return condition(argument)
            if key == "Fn::Equals":
                return str(value(argument[0])) == str(value(argument[1]))
            if key == "Fn::Not":
                return not value(argument[0])
            if key == "Fn::And":
                return all(value(item) for item in argument)
            if key == "Fn::Or":
                return any(value(item) for item in argument)
            if key == "Fn::Join":  # over a CommaDelimitedList parameter, whose value is the list's text
                items = value(argument[1])
                return argument[0].join(items.split(",") if isinstance(items, str) else map(str, items))
        return node

    def condition(name: str) -> bool:
        if name not in decided:
            decided[name] = bool(value(definitions[name]))
        return decided[name]

    for name in definitions:
        condition(name)
    return decided


def decide(node: Any, conditions: dict[str, bool]) -> Any:
    """`node` with every Fn::If decided and every AWS::NoValue removed; other intrinsics are kept as they are."""
    if isinstance(node, list):
        items = [decide(item, conditions) for item in node]
        return [item for item in items if item is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if node == {"Ref": "AWS::NoValue"}:
        return NO_VALUE
    if len(node) == 1 and "Fn::If" in node:
        name, if_true, if_false = node["Fn::If"]
        return decide(if_true if conditions[name] else if_false, conditions)
    decided = {key: decide(value, conditions) for key, value in node.items()}
    return {key: value for key, value in decided.items() if value is not NO_VALUE}


def deployed(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The resources CloudFormation would create with these parameter values, their Fn::If decided."""
    conditions = condition_values(template, parameter_values(template, overrides))
    return {
        logical_id: decide(resource, conditions)
        for logical_id, resource in template["Resources"].items()
        if conditions.get(resource.get("Condition"), True)
    }


@pytest.fixture(params=list(SCENARIOS), ids=list(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    overrides = SCENARIOS[request.param]
    return overrides, deployed(translated(), overrides)


@pytest.fixture
def resources(scenario: tuple[dict[str, str], dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return scenario[1]


def of_type(resources: dict[str, dict[str, Any]], resource_type: str) -> dict[str, dict[str, Any]]:
    return {logical_id: r.get("Properties") or {} for logical_id, r in resources.items() if r["Type"] == resource_type}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def refers_to(value: Any, logical_id: str) -> bool:
    """`value` is Ref / GetAtt of `logical_id` (or a Sub whose only variable is one of its attributes)."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((key, argument),) = value.items()
    if key == "Ref":
        return argument == logical_id
    if key == "Fn::GetAtt":
        return (argument[0] if isinstance(argument, list) else argument.split(".")[0]) == logical_id
    return False


def allow_statements(resources: dict[str, dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Allow statement of every identity policy in the template: (where, statement)."""
    for logical_id, resource in resources.items():
        properties = resource.get("Properties") or {}
        documents: list[tuple[str, Any]] = []
        if resource["Type"] == "AWS::IAM::Role":
            documents = [
                (f"{logical_id}/{p.get('PolicyName')}", p["PolicyDocument"]) for p in properties.get("Policies", [])
            ]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [(logical_id, properties["PolicyDocument"])]
        for where, document in documents:
            for statement in as_list(document.get("Statement", [])):
                if statement.get("Effect") == "Allow":
                    yield where, statement


# ---------------------------------------------------------------------------------------------------------------
# IAM: least privilege
# ---------------------------------------------------------------------------------------------------------------


def test_every_function_runs_with_a_role_of_this_template(resources: dict[str, dict[str, Any]]) -> None:
    roles = of_type(resources, "AWS::IAM::Role")
    functions = of_type(resources, "AWS::Lambda::Function")
    assert functions
    for logical_id, properties in functions.items():
        assert any(refers_to(properties.get("Role"), role) for role in roles), (
            f"{logical_id} must run with a role declared here (its policies are checked below), "
            f"not {properties.get('Role')}"
        )


def test_policies_name_specific_actions(resources: dict[str, dict[str, Any]]) -> None:
    statements = list(allow_statements(resources))
    assert statements
    for where, statement in statements:
        assert "NotAction" not in statement and "NotResource" not in statement, f"{where}: {statement}"
        for action in as_list(statement["Action"]):
            assert isinstance(action, str) and ":" in action, f"{where}: action {action!r}"
            service, name = action.split(":", 1)
            assert "*" not in name, f"{where}: {action} grants every {service} action matching it; name the actions"


def resourceless(action: str) -> bool:
    return action.startswith(RESOURCELESS_ACTION_PREFIXES) or action in RESOURCELESS_ACTIONS


def test_policies_name_their_resources(resources: dict[str, dict[str, Any]]) -> None:
    for where, statement in allow_statements(resources):
        actions = as_list(statement["Action"])
        if all(resourceless(action) for action in actions):
            continue
        for resource in as_list(statement["Resource"]):
            assert resource != "*", f"{where}: {actions} on every resource; name the ARN (Ref/GetAtt/Sub)"
            if isinstance(resource, str):
                assert resource.startswith("arn:") and not resource.endswith(":*"), f"{where}: resource {resource!r}"


def test_only_the_functions_that_answer_tasks_may_and_with_nothing_else_on_every_resource(
    resources: dict[str, dict[str, Any]],
) -> None:
    """The "*" that answering Step Functions tasks needs is a statement of its own, holding those two calls only,
    given only to the functions where waits are decided."""
    answerers = set()
    for where, statement in allow_statements(resources):
        actions = set(as_list(statement["Action"]))
        if actions & RESOURCELESS_ACTIONS:
            assert actions == RESOURCELESS_ACTIONS, f"{where}: {actions} beside the task answers"
            assert as_list(statement["Resource"]) == ["*"], where
            assert "Condition" not in statement, where  # the actions have no condition keys either
            answerers.add(where.split("/")[0])
        assert not any(action.startswith("states:") for action in actions - RESOURCELESS_ACTIONS), where
    assert answerers == TASK_ANSWERERS


def test_the_sender_may_query_only_the_contact_index_and_nobody_scans(resources: dict[str, dict[str, Any]]) -> None:
    """Erasure lists a contact's records through `by-contact`; nothing needs the whole table or the other index."""
    sender_queries = []
    for where, statement in allow_statements(resources):
        actions = as_list(statement["Action"])
        assert "dynamodb:Scan" not in actions, f"{where}: no function reads the whole table"
        if where.startswith("SenderFunctionRole/") and "dynamodb:Query" in actions:
            sender_queries.append(statement)
    assert sender_queries, "the sender erases a contact's records: it needs Query on the by-contact index"
    for statement in sender_queries:
        assert as_list(statement["Resource"]) == [{"Fn::Sub": "${MessagesTable.Arn}/index/by-contact"}], statement


def test_the_record_api_may_query_only_the_two_indexes(resources: dict[str, dict[str, Any]]) -> None:
    queries = [
        statement
        for where, statement in allow_statements(resources)
        if where.startswith("MessagesFunctionRole/") and "dynamodb:Query" in as_list(statement["Action"])
    ]
    assert [as_list(statement["Resource"]) for statement in queries] == [
        [
            {"Fn::Sub": "${MessagesTable.Arn}/index/by-reference"},
            {"Fn::Sub": "${MessagesTable.Arn}/index/by-contact"},
        ]
    ]


def test_the_indexes_hold_keys_only(resources: dict[str, dict[str, Any]]) -> None:
    """An index that holds an attribute is written again whenever a write changes it: with ALL, every status and
    every outbox settle rewrote both indexes. Keys only: a record writes each index once (docs/data-model.md)."""
    [table] = of_type(resources, "AWS::DynamoDB::Table").values()
    projections = {index["IndexName"]: index["Projection"] for index in table["GlobalSecondaryIndexes"]}
    assert projections == {
        "by-reference": {"ProjectionType": "KEYS_ONLY"},
        "by-contact": {"ProjectionType": "KEYS_ONLY"},
    }


def test_batch_get_is_granted_on_the_table_only_to_the_functions_that_read_many_records(
    resources: dict[str, dict[str, Any]],
) -> None:
    """The record API reads a listing's records (and a summary's counters), the sender a broadcast's (and an
    erasure's), the intake and the waits function a waited-on broadcast's summary; nobody else."""
    granted: dict[str, list[Any]] = {}
    for where, statement in allow_statements(resources):
        if "dynamodb:BatchGetItem" in as_list(statement["Action"]):
            granted.setdefault(where.split("/")[0], []).extend(as_list(statement["Resource"]))
    assert set(granted) == {
        "MessagesFunctionRole",
        "SenderFunctionRole",
        "IntakeFunctionRole",
        "WaitsFunctionRole",
        "RelayFunctionRole",
    }
    for role, granted_on in granted.items():
        assert len(granted_on) == 1 and refers_to(granted_on[0], "MessagesTable"), (role, granted_on)


def test_each_function_polls_only_its_own_queues(resources: dict[str, dict[str, Any]]) -> None:
    polled: dict[str, set[str]] = {}
    for mapping in of_type(resources, "AWS::Lambda::EventSourceMapping").values():
        if "StreamArn" in str(mapping["EventSourceArn"]):
            continue  # the table's stream: the next test
        [alias] = referenced(mapping["FunctionName"])
        function = resources[alias]["Properties"]["FunctionName"]["Ref"]
        polled.setdefault(function, set()).update(referenced(mapping["EventSourceArn"]))
    assert polled == {
        "IntakeFunction": {"SendQueue"},
        "SenderFunction": {"PriorityLaneQueue", "BulkLaneQueue"},
        "ParkingFunction": {"ParkingQueue"},
        "WaitsFunction": {"WaitQueue"},
    }
    for function, queues in polled.items():
        receive = [
            statement
            for where, statement in allow_statements(resources)
            if where.startswith(f"{function}Role/") and "sqs:ReceiveMessage" in as_list(statement["Action"])
        ]
        assert [set().union(*(referenced(r) for r in as_list(s["Resource"]))) for s in receive] == [queues], function


def test_only_the_relay_reads_the_table_stream_and_every_record_it_takes_is_retried_until_published(
    resources: dict[str, dict[str, Any]],
) -> None:
    [mapping] = [m for m in of_type(resources, "AWS::Lambda::EventSourceMapping").values() if "StreamArn" in str(m)]
    [alias] = referenced(mapping["FunctionName"])
    assert resources[alias]["Properties"]["FunctionName"]["Ref"] == "RelayFunction"
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["MessagesTable", "StreamArn"]}
    assert resources["MessagesTable"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (mapping["MaximumRetryAttempts"], mapping["MaximumRecordAgeInSeconds"]) == (-1, -1)
    assert referenced(mapping["DestinationConfig"]["OnFailure"]["Destination"]) == {"RelayDeadLetterQueue"}
    patterns = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
    assert all(pattern["dynamodb"]["Keys"]["pk"]["S"] == [{"prefix": "MSG#"}] for pattern in patterns)
    # writes that left events, and erasures' tombstones
    assert [pattern["dynamodb"]["NewImage"] for pattern in patterns] == [
        {"relay_version": {"N": [{"exists": True}]}},
        {"erased_at": {"N": [{"exists": True}]}},
    ]
    readers = {
        where.split("/")[0]
        for where, statement in allow_statements(resources)
        if "dynamodb:GetRecords" in as_list(statement["Action"])
    }
    assert readers == {"RelayFunctionRole"}
    [reads] = [
        statement
        for where, statement in allow_statements(resources)
        if where.startswith("RelayFunctionRole/") and "dynamodb:GetRecords" in as_list(statement["Action"])
    ]
    assert reads["Resource"] == {"Fn::GetAtt": ["MessagesTable", "StreamArn"]}


def referenced(node: Any) -> set[str]:
    from local.template import referenced_logical_ids

    return set(referenced_logical_ids(node))


def test_functions_get_no_managed_policy(resources: dict[str, dict[str, Any]]) -> None:
    """SAM's roles carry AWSLambdaBasicExecutionRole (logs on every resource) and AWSXrayWriteOnlyAccess; its SQS
    one reaches every queue in the account. Each function's role is declared here instead, with statements only."""
    for logical_id, properties in of_type(resources, "AWS::IAM::Role").items():
        managed = properties.get("ManagedPolicyArns")
        assert not managed, f"{logical_id}: managed policies grant broad access; use a statement instead of {managed}"


def test_each_function_writes_only_its_own_log_group(resources: dict[str, dict[str, Any]]) -> None:
    functions = of_type(resources, "AWS::Lambda::Function")
    log_groups = {
        logical_id: properties["LogGroupName"]["Fn::Sub"]
        for logical_id, properties in of_type(resources, "AWS::Logs::LogGroup").items()
        if "/aws/lambda/" in str(properties.get("LogGroupName"))
    }
    granted: dict[str, set[str]] = {}
    for where, statement in allow_statements(resources):
        if any(str(action).startswith("logs:") for action in as_list(statement["Action"])):
            assert set(as_list(statement["Action"])) == {"logs:CreateLogStream", "logs:PutLogEvents"}, where
            granted.setdefault(where, set()).update(referenced(statement["Resource"]))
    for function, properties in functions.items():
        role = properties["Role"]["Fn::GetAtt"][0]
        [own_group] = [group for group, name in log_groups.items() if name.endswith("${" + function + "}")]
        attached = [
            logical_id
            for logical_id, policy in of_type(resources, "AWS::IAM::Policy").items()
            if any(refers_to(each, role) for each in policy.get("Roles", []))
        ]
        writes = set().union(*(granted.get(name, set()) for name in attached), granted.get(role, set()))
        assert writes == {own_group}, f"{function} may write the logs of {writes}"


def test_kms_is_granted_only_on_the_customer_key(scenario: tuple[dict[str, str], dict[str, dict[str, Any]]]) -> None:
    overrides, resources = scenario
    kms = [
        (where, s)
        for where, s in allow_statements(resources)
        if any(a.startswith("kms:") for a in as_list(s["Action"]))
    ]
    if "KmsKeyArn" not in overrides:
        assert not kms, f"no customer key, yet KMS is granted: {kms}"
        return
    assert kms, "the functions must be able to use the customer key"
    for where, statement in kms:
        assert set(as_list(statement["Action"])) <= {"kms:Decrypt", "kms:GenerateDataKey"}, where
        assert as_list(statement["Resource"]) == [{"Ref": "KmsKeyArn"}], where


# ---------------------------------------------------------------------------------------------------------------
# Data at rest
# ---------------------------------------------------------------------------------------------------------------


def uses_customer_key(value: Any) -> bool:
    return value == {"Ref": "KmsKeyArn"}


def test_table_keeps_backups_encryption_and_expiry(scenario: tuple[dict[str, str], dict[str, dict[str, Any]]]) -> None:
    overrides, resources = scenario
    tables = of_type(resources, "AWS::DynamoDB::Table")
    assert tables
    for logical_id, properties in tables.items():
        assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, logical_id
        assert properties["SSESpecification"]["SSEEnabled"] is True, logical_id
        assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}, logical_id
        assert resources[logical_id].get("DeletionPolicy") == "Retain", (
            f"{logical_id}: deleting the stack must keep the data"
        )
        if "KmsKeyArn" in overrides:
            assert properties["SSESpecification"].get("SSEType") == "KMS", logical_id
            assert uses_customer_key(properties["SSESpecification"].get("KMSMasterKeyId")), logical_id


def test_queues_are_encrypted(scenario: tuple[dict[str, str], dict[str, dict[str, Any]]]) -> None:
    overrides, resources = scenario
    queues = of_type(resources, "AWS::SQS::Queue")
    assert len(queues) >= 2
    for logical_id, properties in queues.items():
        if logical_id == "BusDeadLetterQueue":  # what the bus cannot handle when the customer key is the fault
            assert properties.get("SqsManagedSseEnabled") is True and "KmsMasterKeyId" not in properties
        elif "KmsKeyArn" in overrides:
            assert uses_customer_key(properties.get("KmsMasterKeyId")), logical_id
        else:
            assert properties.get("SqsManagedSseEnabled") is True or properties.get("KmsMasterKeyId"), logical_id


def queue_policy_statements(resources: dict[str, dict[str, Any]], queue: str) -> list[dict[str, Any]]:
    return [
        statement
        for properties in of_type(resources, "AWS::SQS::QueuePolicy").values()
        if any(refers_to(each, queue) for each in properties["Queues"])
        for statement in as_list(properties["PolicyDocument"]["Statement"])
        if any(refers_to(each, queue) for each in as_list(statement["Resource"]))
    ]


def test_every_queue_refuses_requests_without_tls(resources: dict[str, dict[str, Any]]) -> None:
    for queue in of_type(resources, "AWS::SQS::Queue"):
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in queue_policy_statements(resources, queue)
        ), f"{queue} takes requests without TLS"


INTERNAL_QUEUE_WRITERS = {
    "PriorityLaneQueue": {"IntakeFunctionRole", "SenderFunctionRole"},
    "BulkLaneQueue": {"IntakeFunctionRole", "SenderFunctionRole"},
    "SendDeadLetterQueue": {"IntakeFunctionRole", "SenderFunctionRole"},
}


@pytest.mark.parametrize("queue", sorted(INTERNAL_QUEUE_WRITERS))
def test_internal_queues_take_messages_from_the_gateway_s_own_writers_only(
    resources: dict[str, dict[str, Any]], queue: str
) -> None:
    """A message put on a lane by anyone else would skip the intake's checks and the bus's CommandSources."""
    [guard] = [
        s
        for s in queue_policy_statements(resources, queue)
        if s["Effect"] == "Deny" and s["Action"] == "sqs:SendMessage"
    ]
    allowed = guard["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert {each["Fn::GetAtt"][0] for each in allowed} == INTERNAL_QUEUE_WRITERS[queue]
    writers = {
        where.split("/")[0]
        for where, s in allow_statements(resources)
        if "sqs:SendMessage" in as_list(s["Action"]) and any(refers_to(r, queue) for r in as_list(s["Resource"]))
    }
    assert writers <= INTERNAL_QUEUE_WRITERS[queue], writers


def test_secrets_exist_for_the_callbacks_and_the_provider(
    scenario: tuple[dict[str, str], dict[str, dict[str, Any]]],
) -> None:
    overrides, resources = scenario
    secrets = of_type(resources, "AWS::SecretsManager::Secret")
    functions = of_type(resources, "AWS::Lambda::Function")
    needed = {
        "CALLBACK_SECRET_ARN": ["CallbacksFunction"],
        "PROVIDER_SECRET_ARN": ["MessagesFunction", "SenderFunction"],
    }
    for variable, users in needed.items():
        for function in users:
            value = functions[function]["Environment"]["Variables"].get(variable)
            assert any(refers_to(value, secret) for secret in secrets), (
                f"{function}: {variable} must name a secret of this template"
            )
    for logical_id, properties in secrets.items():
        assert "SecretString" not in properties, f"{logical_id}: a secret's value never belongs in the template"
        assert "GenerateSecretString" in properties, logical_id
        if "KmsKeyArn" in overrides:
            assert uses_customer_key(properties.get("KmsKeyId")), logical_id


def test_a_bus_under_the_customer_key_keeps_what_it_cannot_handle(
    scenario: tuple[dict[str, str], dict[str, dict[str, Any]]],
) -> None:
    overrides, resources = scenario
    [bus] = of_type(resources, "AWS::Events::EventBus").values()
    if "KmsKeyArn" not in overrides:
        assert "DeadLetterConfig" not in bus and "BusDeadLetterQueue" not in resources
        return
    assert refers_to(bus["DeadLetterConfig"]["Arn"], "BusDeadLetterQueue")
    [allow] = [s for s in queue_policy_statements(resources, "BusDeadLetterQueue") if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert refers_to(allow["Condition"]["ArnEquals"]["aws:SourceArn"], "EventBus")
    alarmed = [str(a.get("Dimensions")) for a in of_type(resources, "AWS::CloudWatch::Alarm").values()]
    assert any("'BusDeadLetterQueue'" in dimensions for dimensions in alarmed)


def test_bus_and_its_archive_use_the_customer_key_when_given(
    scenario: tuple[dict[str, str], dict[str, dict[str, Any]]],
) -> None:
    overrides, resources = scenario
    found = {**of_type(resources, "AWS::Events::EventBus"), **of_type(resources, "AWS::Events::Archive")}
    assert {resource["Type"] for resource in resources.values()} >= {"AWS::Events::EventBus", "AWS::Events::Archive"}
    for logical_id, properties in found.items():
        assert uses_customer_key(properties.get("KmsKeyIdentifier")) == ("KmsKeyArn" in overrides), logical_id


def test_bucket_blocks_public_access_and_plain_http(scenario: tuple[dict[str, str], dict[str, dict[str, Any]]]) -> None:
    overrides, resources = scenario
    buckets = of_type(resources, "AWS::S3::Bucket")
    policies = of_type(resources, "AWS::S3::BucketPolicy")
    assert buckets
    for logical_id, properties in buckets.items():
        block = properties["PublicAccessBlockConfiguration"]
        for setting in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            assert block.get(setting) is True, f"{logical_id}: {setting}"
        default = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ]
        if "KmsKeyArn" in overrides:
            assert default["SSEAlgorithm"] == "aws:kms" and uses_customer_key(default.get("KMSMasterKeyID")), logical_id
        else:
            assert default["SSEAlgorithm"] in ("AES256", "aws:kms"), logical_id
        tls_denials = [
            statement
            for policy in policies.values()
            if refers_to(policy["Bucket"], logical_id)
            for statement in as_list(policy["PolicyDocument"]["Statement"])
            if statement.get("Effect") == "Deny"
            and statement.get("Principal") == "*"
            and statement.get("Action") in ("s3:*", ["s3:*"])
            and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert tls_denials, f"{logical_id}: its bucket policy must deny every request that is not over TLS"
        covered = as_list(tls_denials[0]["Resource"])
        assert any(refers_to(r, logical_id) for r in covered), f"{logical_id}: the TLS denial must cover the bucket"
        assert any(isinstance(r, dict) and "Fn::Sub" in r and str(r["Fn::Sub"]).endswith("/*") for r in covered), (
            f"{logical_id}: the TLS denial must cover the objects"
        )


# ---------------------------------------------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------------------------------------------


def test_log_groups_have_retention(scenario: tuple[dict[str, str], dict[str, dict[str, Any]]]) -> None:
    overrides, resources = scenario
    log_groups = of_type(resources, "AWS::Logs::LogGroup")
    assert log_groups
    for logical_id, properties in log_groups.items():
        assert properties.get("RetentionInDays"), f"{logical_id}: logs are kept for ever without RetentionInDays"
        if "KmsKeyArn" in overrides:
            assert uses_customer_key(properties.get("KmsKeyId")), logical_id


def test_every_function_has_a_log_group(resources: dict[str, dict[str, Any]]) -> None:
    log_groups = of_type(resources, "AWS::Logs::LogGroup")
    names = [properties.get("LogGroupName") for properties in log_groups.values()]
    for logical_id, properties in of_type(resources, "AWS::Lambda::Function").items():
        own = {"Fn::Sub": f"/aws/lambda/${{{logical_id}}}"}
        logging_group = (properties.get("LoggingConfig") or {}).get("LogGroup")
        assert own in names or any(refers_to(logging_group, group) for group in log_groups), (
            f"{logical_id}: needs a log group of this template (with retention); Lambda's own never expires"
        )


def test_http_api_logs_access(resources: dict[str, dict[str, Any]]) -> None:
    log_groups = of_type(resources, "AWS::Logs::LogGroup")
    stages = of_type(resources, "AWS::ApiGatewayV2::Stage")
    assert stages
    for logical_id, properties in stages.items():
        settings = properties.get("AccessLogSettings") or {}
        assert any(refers_to(settings.get("DestinationArn"), group) for group in log_groups), (
            f"{logical_id}: access logs must go to a log group of this template"
        )
        assert "$context.requestId" in settings.get("Format", ""), logical_id
        assert "$context.identity.sourceIp" in settings["Format"], logical_id
        route_settings = properties.get("DefaultRouteSettings") or {}
        assert route_settings.get("ThrottlingRateLimit") and route_settings.get("ThrottlingBurstLimit"), logical_id


# ---------------------------------------------------------------------------------------------------------------
# The HTTP API's authorization
# ---------------------------------------------------------------------------------------------------------------


def route_security() -> dict[str, Any]:
    apis = of_type(translated()["Resources"], "AWS::ApiGatewayV2::Api")
    assert len(apis) == 1
    body = next(iter(apis.values()))["Body"]
    default = body.get("security") or []
    return {
        f"{method.upper()} {path}": operation.get("security", default)
        for path, operations in body["paths"].items()
        for method, operation in operations.items()
    }


def test_callback_routes_have_no_api_gateway_auth() -> None:
    """HTTP Basic is checked by the callbacks function: an authorizer cannot answer 401 + WWW-Authenticate
    (docs/design.md)."""
    routes = {key: security for key, security in route_security().items() if " /callbacks/" in key}
    assert set(routes) == {"POST /callbacks/mo", "POST /callbacks/dlr"}
    for key, security in routes.items():
        names = {name for requirement in security for name in requirement}
        assert names <= {"NONE"}, f"{key}: the provider cannot sign requests; {names} would lock it out"


def test_record_routes_require_iam() -> None:
    routes = {key: security for key, security in route_security().items() if not key.startswith("POST /callbacks")}
    # One route per kind of lookup, so a caller's IAM policy can grant one without the others.
    assert set(routes) == {
        "GET /messages/{id}",
        "GET /references/{reference}/messages",
        "GET /references/{reference}/summary",
        "GET /contacts/{number}/messages",
    }
    for key, security in routes.items():
        assert security == [{"AWS_IAM": []}], f"{key}: message records must need SigV4 (AWS_IAM), not {security}"


# ---------------------------------------------------------------------------------------------------------------
# Alarms
# ---------------------------------------------------------------------------------------------------------------


def dead_letter_queues(resources: dict[str, dict[str, Any]]) -> set[str]:
    found = set()
    for properties in of_type(resources, "AWS::SQS::Queue").values():
        target = (properties.get("RedrivePolicy") or {}).get("deadLetterTargetArn")
        found |= {queue for queue in of_type(resources, "AWS::SQS::Queue") if refers_to(target, queue)}
    return found


def test_dead_letter_queue_has_an_alarm_that_notifies(
    scenario: tuple[dict[str, str], dict[str, dict[str, Any]]],
) -> None:
    _, resources = scenario
    queues = dead_letter_queues(resources)
    assert queues, "the send queue must redrive to a dead-letter queue"
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    for queue in queues:
        watching = [
            (logical_id, alarm)
            for logical_id, alarm in alarms.items()
            if alarm.get("Namespace") == "AWS/SQS"
            and alarm.get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and any(refers_to(d["Value"], queue) for d in alarm.get("Dimensions", []))
        ]
        assert watching, f"{queue}: no alarm on messages in the dead-letter queue"
        for logical_id, alarm in watching:
            assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold", logical_id
            assert alarm.get("AlarmActions"), f"{logical_id}: an alarm nobody hears about"


def test_each_queue_of_the_send_path_alarms_when_its_oldest_message_is_old(
    scenario: tuple[dict[str, str], dict[str, dict[str, Any]]],
) -> None:
    """A provider down for long (every command retried) shows as age on the queues, bulk included: a broadcast whose
    recipients wait for hours alarms even when no transactional send is waiting."""
    _, resources = scenario
    alarms = of_type(resources, "AWS::CloudWatch::Alarm").values()
    for queue in ("SendQueue", "PriorityLaneQueue", "BulkLaneQueue"):
        assert any(
            alarm.get("MetricName") == "ApproximateAgeOfOldestMessage"
            and any(refers_to(d["Value"], queue) for d in alarm.get("Dimensions", []))
            for alarm in alarms
        ), f"{queue}: no alarm on the age of its oldest message"


def test_every_alarm_notifies_the_alarm_topic(scenario: tuple[dict[str, str], dict[str, dict[str, Any]]]) -> None:
    overrides, resources = scenario
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    expected = [{"Ref": "AlarmTopicArn"} if "AlarmTopicArn" in overrides else {"Ref": "AlarmTopic"}]
    assert alarms
    for logical_id, alarm in alarms.items():
        assert alarm.get("AlarmActions") == expected, (
            f"{logical_id}: must notify the alarm topic, not {alarm.get('AlarmActions')}"
        )
    topics = of_type(resources, "AWS::SNS::Topic")
    if "AlarmTopicArn" in overrides:
        assert not topics, "with AlarmTopicArn given, the stack must not create a topic of its own"
    else:
        assert topics["AlarmTopic"].get("KmsMasterKeyId"), "the alarm topic must be encrypted"
        key = topics["AlarmTopic"]["KmsMasterKeyId"]
        assert uses_customer_key(key) if "KmsKeyArn" in overrides else refers_to(key, "AlarmTopicKey")


def test_alarms_cover_the_flows() -> None:
    resources = deployed(translated(), {})
    watched = {
        (alarm.get("Namespace"), alarm.get("MetricName"), str(alarm.get("Dimensions")))
        for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values()
    }
    wanted = {
        ("AWS/Lambda", "Errors", "SenderFunction"),
        ("AWS/Lambda", "Throttles", "SenderFunction"),
        ("AWS/Lambda", "Errors", "CallbacksFunction"),
        ("AWS/Lambda", "Errors", "MessagesFunction"),
        ("AWS/Lambda", "Errors", "IntakeFunction"),
        ("AWS/Lambda", "Errors", "ParkingFunction"),
        ("AWS/Lambda", "Errors", "WaitsFunction"),
        ("AWS/Lambda", "IteratorAge", "RelayFunction"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "RelayDeadLetterQueue"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "WaitDeadLetterQueue"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "ParkingDeadLetterQueue"),
        ("WhatsAppGateway", "TaskAnswersAbandoned", "whatsapp-gateway"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", "SendQueue"),
        ("AWS/ApiGateway", "5xx", "HttpApi"),
        ("AWS/ApiGateway", "4xx", "HttpApi"),
        ("WhatsAppGateway", "CallbacksRejected", "whatsapp-gateway"),
        ("WhatsAppGateway", "CallbacksRejected", "unauthorized"),  # its `reason` dimension (wab/api.py)
    }
    for namespace, metric, dimension in wanted:
        assert any(w[0] == namespace and w[1] == metric and f"'{dimension}'" in w[2] for w in watched), (
            f"no alarm on {namespace} {metric} for {dimension}"
        )


# ---------------------------------------------------------------------------------------------------------------
# The bus, the rules' deliveries, the alarm topic's key
# ---------------------------------------------------------------------------------------------------------------

PUBLISHERS = {
    "CallbacksFunctionRole",
    "IntakeFunctionRole",
    "ParkingFunctionRole",
    "RelayFunctionRole",
    "SenderFunctionRole",
    "WaitsFunctionRole",
}


def test_only_the_gateways_own_roles_may_publish_its_facts() -> None:
    resources = deployed(translated(), {})
    [policy] = [p for p in of_type(resources, "AWS::Events::EventBusPolicy").values() if "wab.gateway" in str(p)]
    statement = policy["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "events:PutEvents")
    assert statement["Condition"]["StringEquals"] == {"events:source": "wab.gateway"}
    exempt = statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert {arn["Fn::GetAtt"][0] for arn in exempt} == PUBLISHERS
    # ... and those are exactly the roles allowed to put events at all.
    putters = {
        where.split("/")[0] for where, s in allow_statements(resources) if "events:PutEvents" in as_list(s["Action"])
    }
    assert putters == PUBLISHERS


def test_command_sources_can_be_restricted_by_a_parameter() -> None:
    assert not [
        p
        for p in of_type(deployed(translated(), {}), "AWS::Events::EventBusPolicy").values()
        if "detail-type" in str(p)
    ]
    resources = deployed(translated(), {"CommandSources": "shop.orders,crm.privacy"})
    [policy] = [p for p in of_type(resources, "AWS::Events::EventBusPolicy").values() if "detail-type" in str(p)]
    condition = policy["Statement"]["Condition"]
    assert policy["Statement"]["Effect"] == "Deny"
    assert set(condition["StringEquals"]["events:detail-type"]) == {
        "WhatsApp Send Requested",
        "WhatsApp Broadcast Requested",
        "WhatsApp Media Upload Requested",
        "WhatsApp Contact Erasure Requested",
        "WhatsApp Template Catalogue Updated",
    }
    assert condition["StringNotEquals"] == {"events:source": {"Ref": "CommandSources"}}


def test_every_rule_into_the_send_queue_retries_then_dead_letters_into_an_alarmed_queue() -> None:
    resources = deployed(translated(), {})
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    rules = of_type(resources, "AWS::Events::Rule")
    assert rules
    for name, rule in rules.items():
        for target in rule["Targets"]:
            assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 86400, name
            assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["RuleDeadLetterQueue", "Arn"]}, name
    assert any(
        alarm.get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and any(refers_to(d["Value"], "RuleDeadLetterQueue") for d in alarm["Dimensions"])
        for alarm in alarms.values()
    )
    assert any(alarm.get("MetricName") == "FailedInvocations" for alarm in alarms.values())


def test_cloudwatch_may_use_the_alarm_topics_key_only_for_this_accounts_alarms() -> None:
    key = deployed(translated(), {})["AlarmTopicKey"]["Properties"]["KeyPolicy"]
    [statement] = [s for s in key["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "alarm:*" in str(statement["Condition"]["ArnLike"]["aws:SourceArn"])


def test_inbound_messages_the_models_do_not_type_are_alarmed() -> None:
    resources = deployed(translated(), {})
    watched = [
        query["MetricStat"]["Metric"]
        for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values()
        for query in alarm.get("Metrics", [])
        if "MetricStat" in query
    ]
    service = {"Name": "service", "Value": "whatsapp-gateway"}
    assert {"Namespace": "WhatsAppGateway", "MetricName": "MessagesUnsupported", "Dimensions": [service]} in watched
    unknown_types = {"Name": "type", "Value": "unknown"}  # `known_type` (wab/models/inbound.py)
    assert {
        "Namespace": "WhatsAppGateway",
        "MetricName": "MessagesReceived",
        "Dimensions": [service, unknown_types],
    } in watched


def referenced_names(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*map(referenced_names, node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = set().union(*map(referenced_names, node.values())) if node else set()
    if "Ref" in node:
        found.add(node["Ref"])
    if "Fn::GetAtt" in node:
        target = node["Fn::GetAtt"]
        found.add(target[0] if isinstance(target, list) else target.split(".")[0])
    return found


@pytest.mark.parametrize("region", ["mx-central-1", "ap-south-2", "il-central-1"])
def test_the_stack_deploys_without_the_schema_registry_where_the_region_has_none(region: str) -> None:
    template = translated()
    resources = deployed(template, {"AWS::Region": region})
    assert not of_type(resources, "AWS::EventSchemas::Registry") and not of_type(resources, "AWS::EventSchemas::Schema")
    assert not {name for name in referenced_names(resources) if name.startswith("EventSchema")}
    conditions = condition_values(template, parameter_values(template, {"AWS::Region": region}))
    outputs = {name for name, output in template["Outputs"].items() if conditions.get(output.get("Condition"), True)}
    assert "EventSchemaRegistryName" not in outputs


def test_the_schema_registry_and_every_schema_are_deployed_where_offered() -> None:
    template = translated()
    resources = deployed(template, {"AWS::Region": "eu-west-1"})
    schemas = {name for name, r in template["Resources"].items() if r["Type"] == "AWS::EventSchemas::Schema"}
    assert len(of_type(resources, "AWS::EventSchemas::Registry")) == 1
    assert schemas and set(of_type(resources, "AWS::EventSchemas::Schema")) == schemas


def test_the_callbacks_function_url_is_opt_in() -> None:
    resources = deployed(translated(), {})
    assert not of_type(resources, "AWS::Lambda::Url") and not of_type(resources, "AWS::Lambda::Permission").keys() & {
        "CallbacksFunctionUrlPermission",
        "CallbacksFunctionUrlInvokePermission",
    }
    assert "ReservedConcurrentExecutions" not in of_type(resources, "AWS::Lambda::Function")["CallbacksFunction"]


def test_the_callbacks_function_url_reaches_only_the_callbacks_function_bounded_by_its_concurrency() -> None:
    template = translated()
    resources = deployed(template, {"CallbackEndpoint": "FunctionUrl", "CallbackConcurrency": "40"})
    [url] = of_type(resources, "AWS::Lambda::Url").values()
    assert (url["AuthType"], url["TargetFunctionArn"], url["Qualifier"]) == (
        "NONE",
        {"Fn::GetAtt": ["CallbacksFunction", "Arn"]},
        "live",
    )
    public = {
        logical_id: permission
        for logical_id, permission in of_type(resources, "AWS::Lambda::Permission").items()
        if permission["Principal"] == "*"
    }
    # Anyone may call the URL (the function checks the callbacks' credentials), and nothing else: both grants are
    # for calls through the URL only, on the alias the URL serves.
    assert sorted(
        (p["Action"], p.get("FunctionUrlAuthType"), p.get("InvokedViaFunctionUrl")) for p in public.values()
    ) == [
        ("lambda:InvokeFunction", None, True),
        ("lambda:InvokeFunctionUrl", "NONE", None),
    ]
    assert all(refers_to(p["FunctionName"], "CallbacksFunctionAliaslive") for p in public.values())
    function = of_type(resources, "AWS::Lambda::Function")["CallbacksFunction"]
    assert function["ReservedConcurrentExecutions"] == {"Ref": "CallbackConcurrency"}
    conditions = condition_values(template, parameter_values(template, {"CallbackEndpoint": "FunctionUrl"}))
    assert conditions[template["Outputs"]["CallbacksFunctionUrl"]["Condition"]]
    # What the HTTP API's 5xx alarm watches when the callbacks go through it is watched on the URL instead.
    watched = {
        alarm["MetricName"]
        for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if alarm.get("Namespace") == "AWS/Lambda"
        and alarm.get("Dimensions") == [{"Name": "FunctionName", "Value": {"Ref": "CallbacksFunction"}}]
    }
    assert {"Url5xxCount", "Throttles", "Errors"} <= watched


@pytest.mark.parametrize("region", ["mx-central-1", "eu-central-2", "us-gov-west-1"])
def test_a_function_url_is_refused_where_the_region_offers_none(region: str) -> None:
    template = translated()
    resources = deployed(template, {"CallbackEndpoint": "FunctionUrl", "AWS::Region": region})
    assert not of_type(resources, "AWS::Lambda::Url")
    [rule] = template["Rules"].values()
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "CallbackEndpoint"}, "FunctionUrl"]}
    [assertion] = rule["Assertions"]
    refused_regions = assertion["Assert"]["Fn::Not"][0]["Fn::Contains"][0]
    assert region in refused_regions and "eu-west-1" not in refused_regions


# What each service that encrypts on its own behalf needs from the key policy, by the resource types that make it do
# so when they are given the customer key (their AWS documentation: EventBridge's "Authorizing EventBridge to use a
# customer managed key", CloudWatch Logs' "Encrypt log data", SNS's "Enable compatibility between event sources from
# AWS services and encrypted topics").
SERVICE_KEY_NEEDS = {
    "AWS::Events::EventBus": ("events.amazonaws.com", {"kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"}),
    "AWS::Events::Archive": (
        "events.amazonaws.com",
        {"kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt", "kms:ReEncrypt*"},
    ),
    "AWS::Logs::LogGroup": (
        "logs.${AWS::Region}.amazonaws.com",
        {"kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*"},
    ),
    "AWS::SNS::Topic": ("cloudwatch.amazonaws.com", {"kms:Decrypt", "kms:GenerateDataKey*"}),
}


def test_the_example_key_lets_every_service_the_gateway_encrypts_with_use_it_for_this_account_only() -> None:
    from local.template import load_template

    key = load_template(ROOT / "examples" / "customer-key" / "template.yaml")["Resources"]["GatewayKey"]["Properties"]
    statements = [s for s in key["KeyPolicy"]["Statement"] if "Fn::If" not in s]
    by_service = {
        (
            s["Principal"]["Service"]["Fn::Sub"]
            if isinstance(s["Principal"]["Service"], dict)
            else s["Principal"]["Service"]
        ): s
        for s in statements
        if "Service" in s["Principal"]
    }
    encrypting = {
        r["Type"]
        for r in deployed(translated(), {"KmsKeyArn": CUSTOMER_KEY}).values()
        if any(uses_customer_key(value) for value in (r.get("Properties") or {}).values())
    }
    assert set(SERVICE_KEY_NEEDS) <= encrypting  # a service the gateway stops using would make this test stale
    for service, actions in SERVICE_KEY_NEEDS.values():
        statement = by_service[service]
        assert actions <= set(as_list(statement["Action"])), service
        assert statement.get("Condition"), f"{service} may use the key for any account's resources"


@pytest.mark.parametrize(
    ("parameter", "refused"),
    [("ProviderBaseUrl", 'https://x.test/"}, "password": "p'), ("ProviderUsername", 'api\\", "x": "1')],
)
def test_values_written_into_the_provider_secret_cannot_break_out_of_their_json_string(parameter, refused) -> None:
    import re

    spec = translated()["Parameters"][parameter]
    assert re.fullmatch(spec["AllowedPattern"], str(spec["Default"]))
    assert not re.fullmatch(spec["AllowedPattern"], refused)
