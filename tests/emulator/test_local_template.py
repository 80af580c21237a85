"""The local stack's pure parts: what it reads from template.yaml, the env merge, and the API Gateway emulation."""

import base64
import json
import socket
import sys
import textwrap
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools import Logger
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.aws import check_supported, creation_order, register_in_process_resources
from local.event_source import records_to_delete, sqs_record
from local.http_api import (
    HttpApi,
    HttpApiServer,
    HttpRequest,
    MalformedResponse,
    RouteTable,
    build_event,
    encode_body,
    lambda_result_to_http,
    parse_sigv4,
)
from local.lambda_runtime import (
    EnvironmentConflict,
    InvocationError,
    LocalFunction,
    OutputRouter,
    merge_function_environments,
)
from local.stream_source import matches, parse_filter_patterns
from local.template import (
    IamAuth,
    PhysicalResource,
    Resolver,
    RouteSpec,
    TemplateError,
    TranslatedTemplate,
    UnsupportedAuth,
)

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


@pytest.fixture(scope="module")
def template() -> TranslatedTemplate:
    return TranslatedTemplate(ROOT / "template.yaml", region=REGION)


@pytest.fixture
def resolver(template: TranslatedTemplate) -> Resolver:
    """A resolver with made-up physical values for every resource, as if the stack had created them."""
    resolver = template.resolver("wab-local", REGION)
    for logical_id in template.resources:
        resolver.physical[logical_id] = PhysicalResource(
            ref=f"ref-of-{logical_id}", attributes={"Arn": f"arn-of-{logical_id}", "Name": f"name-of-{logical_id}"}
        )
    return resolver


# -- what the translation finds -----------------------------------------------------------------------------------


def test_routes_come_from_the_template(template: TranslatedTemplate) -> None:
    (api,) = template.http_apis()
    routes = {route.route_key: route for route in api.routes}
    assert set(routes) == {
        "POST /callbacks/mo",
        "POST /callbacks/dlr",
        "GET /messages/{id}",
        "GET /references/{reference}/messages",
        "GET /references/{reference}/summary",
        "GET /contacts/{number}/messages",
    }
    assert routes["POST /callbacks/mo"].function_id == "CallbacksFunction"
    assert routes["POST /callbacks/mo"].auth is None  # the callbacks function checks HTTP Basic itself
    assert routes["GET /messages/{id}"].function_id == "MessagesFunction"
    assert routes["GET /messages/{id}"].auth == IamAuth()
    assert routes["GET /contacts/{number}/messages"].auth == IamAuth()
    assert {route.payload_format_version for route in api.routes} == {"2.0"}


def test_the_stage_throttles_come_from_the_template(template: TranslatedTemplate, resolver: Resolver) -> None:
    (api,) = template.http_apis()
    assert (resolver.resolve(api.default_throttle.rate), resolver.resolve(api.default_throttle.burst)) == (100, 200)
    callbacks = {
        key: (int(resolver.resolve(t.rate)), int(resolver.resolve(t.burst))) for key, t in api.route_throttles.items()
    }
    assert callbacks == {"POST /callbacks/mo": (1000, 2000), "POST /callbacks/dlr": (1000, 2000)}


def test_functions_know_their_code_handler_timeout_and_layer(template: TranslatedTemplate) -> None:
    functions = template.functions()
    assert set(functions) == {
        "CallbacksFunction",
        "IntakeFunction",
        "MessagesFunction",
        "ParkingFunction",
        "RelayFunction",
        "SenderFunction",
        "WaitsFunction",
    }
    sender = functions["SenderFunction"]
    assert sender.code_dir == ROOT / "functions" / "sender"
    assert sender.handler == "app.lambda_handler"
    assert sender.timeout_seconds == 60
    assert functions["CallbacksFunction"].timeout_seconds == 10  # from Globals
    assert functions["CallbacksFunction"].memory_mb == 512  # from Globals
    (layer_id,) = sender.layer_ids
    assert template.layers()[layer_id].content_dir == ROOT / "layers" / "wab"
    # Globals' variables are merged into each function's own.
    assert sender.environment["POWERTOOLS_SERVICE_NAME"] == "whatsapp-gateway"
    assert sender.environment["PRIORITY_LANE_URL"] == {"Ref": "PriorityLaneQueue"}


def test_table_has_its_keys_indexes_and_ttl(template: TranslatedTemplate) -> None:
    (table_id,) = template.of_type("AWS::DynamoDB::Table")
    table = template.properties(table_id)
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    indexes = {index["IndexName"]: index["KeySchema"] for index in table["GlobalSecondaryIndexes"]}
    assert indexes == {
        "by-reference": [
            {"AttributeName": "reference_key", "KeyType": "HASH"},
            {"AttributeName": "created_at", "KeyType": "RANGE"},
        ],
        "by-contact": [
            {"AttributeName": "contact_key", "KeyType": "HASH"},
            {"AttributeName": "created_at", "KeyType": "RANGE"},
        ],
    }
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_the_send_queue_and_the_lanes_are_fifo_and_redrive_to_the_dead_letter_queue(
    template: TranslatedTemplate, resolver: Resolver
) -> None:
    queues = template.of_type("AWS::SQS::Queue")
    assert set(queues) == {
        "SendQueue",
        "PriorityLaneQueue",
        "BulkLaneQueue",
        "SendDeadLetterQueue",
        "RuleDeadLetterQueue",
        "ParkingQueue",
        "ParkingDeadLetterQueue",
        "WaitQueue",
        "WaitDeadLetterQueue",
        "RelayDeadLetterQueue",
    }
    # Six times the timeout of the function that reads each: intake 30 s, sender 60 s.
    for name, visibility in (("SendQueue", 180), ("PriorityLaneQueue", 360), ("BulkLaneQueue", 360)):
        queue = resolver.resolve(template.properties(name))
        # A backstop only: the gateway moves what crashes it to the dead-letter queue itself, reported first.
        assert queue["RedrivePolicy"] == {"deadLetterTargetArn": "arn-of-SendDeadLetterQueue", "maxReceiveCount": 1000}
        assert (queue["FifoQueue"], queue["VisibilityTimeout"]) == (True, visibility)
    assert resolver.resolve(template.properties("SendQueue"))["ContentBasedDeduplication"] is True
    assert "ContentBasedDeduplication" not in resolver.resolve(template.properties("PriorityLaneQueue"))
    # The waits' timers: a standard queue (delays per message), six times the waits function's 30 s.
    waits = resolver.resolve(template.properties("WaitQueue"))
    assert ("FifoQueue" not in waits, waits["VisibilityTimeout"]) == (True, 180)
    assert waits["RedrivePolicy"]["deadLetterTargetArn"] == "arn-of-WaitDeadLetterQueue"
    # Parked messages' timers: a dead-letter queue of their own, to move back to the parking queue.
    parking = resolver.resolve(template.properties("ParkingQueue"))
    assert parking["RedrivePolicy"]["deadLetterTargetArn"] == "arn-of-ParkingDeadLetterQueue"


def test_rules_route_commands_from_other_sources_to_the_send_queue(
    template: TranslatedTemplate, resolver: Resolver
) -> None:
    rules = {
        logical_id: resolver.resolve(template.properties(logical_id))
        for logical_id in template.of_type("AWS::Events::Rule")
    }
    detail_types = set()
    for rule in rules.values():
        assert rule["EventBusName"] == "ref-of-EventBus"
        assert rule["EventPattern"]["source"] == [{"anything-but": ["wab.gateway"]}]
        detail_types.update(rule["EventPattern"]["detail-type"])
        assert [target["Arn"] for target in rule["Targets"]] == ["arn-of-SendQueue"]
    assert detail_types == {
        "WhatsApp Send Requested",
        "WhatsApp Broadcast Requested",
        "WhatsApp Media Upload Requested",
        "WhatsApp Contact Erasure Requested",
        "WhatsApp Template Catalogue Updated",
    }


def test_event_source_mapping_has_batching_partial_failures_and_concurrency(
    template: TranslatedTemplate, resolver: Resolver
) -> None:
    mappings = {resolver.resolve(mapping.queue_arn): mapping for mapping in template.event_source_mappings()}
    assert {queue: mapping.function_id for queue, mapping in mappings.items()} == {
        "arn-of-SendQueue": "IntakeFunction",
        "arn-of-PriorityLaneQueue": "SenderFunction",
        "arn-of-BulkLaneQueue": "SenderFunction",
        "arn-of-ParkingQueue": "ParkingFunction",
        "arn-of-WaitQueue": "WaitsFunction",
    }
    for mapping in mappings.values():
        assert int(resolver.resolve(mapping.batch_size)) == 10
        assert mapping.report_batch_item_failures is True
        assert int(resolver.resolve(mapping.maximum_concurrency)) == 2


def test_the_stream_mapping_reads_the_table_stream_with_its_filter_and_retries(
    template: TranslatedTemplate, resolver: Resolver
) -> None:
    resolver.physical["MessagesTable"].attributes["StreamArn"] = "stream-arn-of-MessagesTable"
    (mapping,) = template.stream_event_source_mappings()
    assert (mapping.logical_id, mapping.function_id) == ("RelayStreamMapping", "RelayFunction")
    assert resolver.resolve(mapping.stream_arn) == "stream-arn-of-MessagesTable"
    assert resolver.resolve(mapping.starting_position) == "TRIM_HORIZON"
    assert (int(resolver.resolve(mapping.batch_size)), resolver.resolve(mapping.maximum_batching_window_seconds)) == (
        100,
        1,
    )
    assert mapping.report_batch_item_failures is True
    assert (mapping.maximum_retry_attempts, mapping.maximum_record_age_seconds) == (-1, -1)
    pattern, tombstones = parse_filter_patterns(mapping.filter_patterns)  # the local filter can apply them
    message = {"Keys": {"pk": {"S": "MSG#1"}}, "NewImage": {"pk": {"S": "MSG#1"}, "relay_version": {"N": "1"}}}
    assert matches(pattern, {"eventName": "MODIFY", "dynamodb": message})
    assert not matches(pattern, {"eventName": "REMOVE", "dynamodb": message})
    assert not matches(pattern, {"eventName": "INSERT", "dynamodb": {**message, "Keys": {"pk": {"S": "CONTACT#1"}}}})
    erased = {"Keys": {"pk": {"S": "MSG#1"}}, "NewImage": {"pk": {"S": "MSG#1"}, "erased_at": {"N": "1796000000"}}}
    assert matches(tombstones, {"eventName": "MODIFY", "dynamodb": erased}) and not matches(
        pattern, {"dynamodb": erased}
    )
    assert resolver.resolve(mapping.on_failure) == "arn-of-RelayDeadLetterQueue"
    assert all(resolver.resolve(queue.queue_arn) != mapping.stream_arn for queue in template.event_source_mappings())


def test_stream_mapping_options_the_local_poller_does_not_emulate_stop_the_stack(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(
        textwrap.dedent(
            """\
            Resources:
              Table:
                Type: AWS::DynamoDB::Table
                Properties:
                  KeySchema: [{AttributeName: pk, KeyType: HASH}]
                  AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
                  BillingMode: PAY_PER_REQUEST
                  StreamSpecification: {StreamViewType: NEW_IMAGE}
              Function:
                Type: AWS::Serverless::Function
                Properties: {CodeUri: functions/x/, Handler: app.handler, Runtime: python3.13}
              Mapping:
                Type: AWS::Lambda::EventSourceMapping
                Properties:
                  EventSourceArn: !GetAtt Table.StreamArn
                  FunctionName: !Ref Function
                  StartingPosition: LATEST
                  ParallelizationFactor: 2
            """
        ),
        encoding="utf-8",
    )
    template = TranslatedTemplate(tmp_path / "template.yaml", region=REGION)
    assert template.event_source_mappings() == []
    with pytest.raises(TemplateError, match="ParallelizationFactor other than 1 is not emulated"):
        template.stream_event_source_mappings()


def test_parameters_use_defaults_unless_overridden() -> None:
    overridden = TranslatedTemplate(ROOT / "template.yaml", region=REGION, parameter_overrides={"SenderBatchSize": "3"})
    assert overridden.parameters["SenderBatchSize"] == "3"
    assert overridden.parameters["WindowPolicy"] == "enforce"
    with pytest.raises(TemplateError, match="MaxValue"):
        TranslatedTemplate(ROOT / "template.yaml", region=REGION, parameter_overrides={"SenderBatchSize": "11"})
    with pytest.raises(TemplateError, match="unknown"):
        TranslatedTemplate(ROOT / "template.yaml", region=REGION, parameter_overrides={"Nope": "1"})


def test_every_resource_type_is_known_and_created_after_what_it_refers_to(template: TranslatedTemplate) -> None:
    check_supported(template)
    order = creation_order(template)
    assert order.index("SendDeadLetterQueue") < order.index("SendQueue")
    for rule in template.of_type("AWS::Events::Rule"):
        assert order.index("EventBus") < order.index(rule)
        assert order.index("SendQueue") < order.index(rule)
    assert "CallbacksFunctionRole" not in order and "SendDeadLetterAlarm" not in order


def test_an_unknown_resource_type_stops_the_stack(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Api:\n    Type: AWS::AppSync::GraphQLApi\n", encoding="utf-8"
    )
    with pytest.raises(TemplateError, match=r"Api \(AWS::AppSync::GraphQLApi\)"):
        check_supported(TranslatedTemplate(tmp_path / "template.yaml", region=REGION))


def test_a_function_url_serves_every_path_of_its_function_and_exists_only_when_asked_for(
    template: TranslatedTemplate,
) -> None:
    assert template.function_urls() == []
    with_url = TranslatedTemplate(
        ROOT / "template.yaml", region=REGION, parameter_overrides={"CallbackEndpoint": "FunctionUrl"}
    )
    [url] = with_url.function_urls()
    assert (url.logical_id, url.function_id, url.auth) == ("CallbacksFunctionUrl", "CallbacksFunction", None)
    [route] = url.routes
    assert (route.method, route.route_key, route.payload_format_version) == ("ANY", "$default", "2.0")


def test_conditions_decide_which_resources_exist_and_which_branch_is_used(template: TranslatedTemplate) -> None:
    assert template.conditions == {
        "UseCustomerKey": False,
        "CreateAlarmTopic": True,
        "CreateAlarmTopicKey": True,
        "UseSnapStart": False,
        "RestrictCommandSources": False,
        "KeepEventArchive": True,
        "HasSchemaRegistry": True,
        "OffersFunctionUrls": True,
        "UseCallbacksFunctionUrl": False,
    }
    assert {"AlarmTopic", "AlarmTopicKey"} <= set(template.resources)
    resolver = template.resolver("wab-local", REGION)
    queue = resolver.resolve(template.properties("SendDeadLetterQueue"))
    assert queue == {"FifoQueue": True, "SqsManagedSseEnabled": True, "MessageRetentionPeriod": 1209600}  # no NoValue

    key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    customer = TranslatedTemplate(
        ROOT / "template.yaml",
        region=REGION,
        parameter_overrides={"KmsKeyArn": key_arn, "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:alarms"},
    )
    assert "AlarmTopic" not in customer.resources and "AlarmTopicKey" not in customer.resources
    queue = customer.resolver("wab-local", REGION).resolve(customer.properties("SendDeadLetterQueue"))
    assert queue == {"FifoQueue": True, "KmsMasterKeyId": key_arn, "MessageRetentionPeriod": 1209600}


def test_resolver_turns_intrinsics_into_local_values(template: TranslatedTemplate) -> None:
    resolver = Resolver(parameters=template.parameters, stack_name="wab-local", region=REGION)
    register_in_process_resources(
        template, resolver, stack_name="wab-local", region=REGION, api_url="http://127.0.0.1:3000"
    )
    resolver.physical["SendQueue"] = PhysicalResource(ref="http://q", attributes={"Arn": "arn:q", "QueueName": "q"})
    assert resolver.resolve({"Ref": "SendQueue"}) == "http://q"
    assert resolver.resolve({"Fn::GetAtt": ["SendQueue", "Arn"]}) == "arn:q"
    assert resolver.resolve({"Fn::GetAtt": "SendQueue.QueueName"}) == "q"
    assert resolver.resolve({"Fn::Sub": "${AWS::StackName}-bus in ${AWS::Region}"}) == "wab-local-bus in us-east-1"
    assert resolver.resolve({"Fn::Sub": "${SendQueue.Arn}/${RetentionDays}/${!Literal}"}) == "arn:q/180/${Literal}"
    assert resolver.resolve({"Fn::Sub": ["${X}-${Y}", {"X": {"Ref": "SendQueue"}, "Y": "y"}]}) == "http://q-y"
    assert resolver.resolve({"Ref": "CallbacksFunction"}) == "wab-local-CallbacksFunction"
    assert resolver.resolve({"Fn::GetAtt": ["CallbacksFunction", "Arn"]}).endswith(
        ":function:wab-local-CallbacksFunction"
    )
    with pytest.raises(TemplateError, match="Nope"):
        resolver.resolve({"Ref": "Nope"})


# -- one process, one environment -----------------------------------------------------------------------------------


def test_function_environments_merge_when_they_agree() -> None:
    merged = merge_function_environments(
        {"A": {"TABLE_NAME": "t", "ONLY_A": "1"}, "B": {"TABLE_NAME": "t", "ONLY_B": 2}}
    )
    assert merged == {"TABLE_NAME": "t", "ONLY_A": "1", "ONLY_B": "2"}


def test_function_environments_that_disagree_fail_loudly() -> None:
    with pytest.raises(EnvironmentConflict) as caught:
        merge_function_environments({"A": {"TABLE_NAME": "t1"}, "B": {"TABLE_NAME": "t2"}})
    assert "TABLE_NAME" in str(caught.value) and "A" in str(caught.value) and "B" in str(caught.value)


def test_the_template_functions_environments_agree(template: TranslatedTemplate, resolver: Resolver) -> None:
    merge_function_environments(
        {logical_id: resolver.resolve(spec.environment) for logical_id, spec in template.functions().items()}
    )


# -- the in-process Lambda runtime --------------------------------------------------------------------------------

HANDLER_SOURCE = """
import time
from decimal import Decimal

calls = []

def lambda_handler(event, context):
    calls.append(event)
    print("printed by the handler")
    if event.get("raise"):
        raise ValueError("boom")
    if event.get("decimal"):
        return {"n": Decimal("1.5")}
    if event.get("wait"):
        time.sleep(0.2)
    return {"module": __name__, "remaining": context.get_remaining_time_in_millis(),
            "memory": context.memory_limit_in_mb, "name": context.function_name, "calls_here": len(calls)}
"""


@pytest.fixture
def router() -> OutputRouter:
    """An output router that is not installed: what handlers print stays on the test's stdout."""
    return OutputRouter()


@contextmanager
def routed_output() -> Iterator[OutputRouter]:
    """Install the output router inside the test's own phase (pytest swaps sys.stdout between phases)."""
    try:
        yield OutputRouter.install()
    finally:
        OutputRouter.uninstall()


def local_function(tmp_path: Path, router: OutputRouter, source: str | None) -> LocalFunction:
    code_dir = tmp_path / "code"
    code_dir.mkdir(exist_ok=True)
    if source is not None:
        (code_dir / "app.py").write_text(textwrap.dedent(source), encoding="utf-8")
    function = LocalFunction(
        logical_id="TestFunction",
        name="wab-local-TestFunction",
        arn="arn:test",
        code_dir=code_dir,
        handler="app.lambda_handler",
        timeout_seconds=3,
        memory_mb=128,
        log_dir=tmp_path / "logs",
        router=router,
    )
    function.load()
    return function


def test_function_is_called_like_lambda_and_its_output_goes_to_its_log(tmp_path: Path) -> None:
    with routed_output() as router:
        function = local_function(tmp_path, router, HANDLER_SOURCE)
        try:
            assert function.ready
            result = function.invoke({"hello": "world"})
            assert result["name"] == "wab-local-TestFunction" and result["memory"] == "128"
            assert 0 < result["remaining"] <= 3000
            with pytest.raises(InvocationError) as raised:
                function.invoke({"raise": True})
            assert raised.value.error_type == "ValueError"
            with pytest.raises(InvocationError) as unmarshalable:
                function.invoke({"decimal": True})
            assert unmarshalable.value.error_type == "Runtime.MarshalError"
        finally:
            function.unload()
    log_text = (tmp_path / "logs" / "TestFunction.log").read_text()
    assert "printed by the handler" in log_text and "ValueError: boom" in log_text
    assert log_text.count("START RequestId") == 3 and log_text.count("REPORT RequestId") == 3


def test_output_of_threads_a_handler_starts_in_its_context_goes_to_its_log(tmp_path: Path) -> None:
    source = """
        import contextvars
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=1)

        def lambda_handler(event, context):
            pool.submit(contextvars.copy_context().run, print, "printed by a worker thread").result()
            return "ok"
    """
    with routed_output() as router:
        function = local_function(tmp_path, router, source)
        try:
            assert function.invoke({}) == "ok"
        finally:
            function.unload()
    assert "printed by a worker thread" in (tmp_path / "logs" / "TestFunction.log").read_text()


def test_concurrent_invocations_get_their_own_execution_environment(tmp_path: Path, router: OutputRouter) -> None:
    function = local_function(tmp_path, router, HANDLER_SOURCE)
    results: list[dict[str, Any]] = []
    try:
        threads = [threading.Thread(target=lambda: results.append(function.invoke({"wait": True}))) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({result["module"] for result in results}) == 3  # three imports of app.py, one per invocation
        assert {result["calls_here"] for result in results} == {1}
        assert function.invoke({})["module"] in {result["module"] for result in results}  # an idle one is reused
        assert function.environment_count == 3
    finally:
        function.unload()


@pytest.mark.parametrize(
    ("source", "error_type"),
    [
        (None, "Runtime.ImportModuleError"),
        ("x = 1\n", "Runtime.HandlerNotFound"),
        ("raise RuntimeError('import fails')\n", "Runtime.ImportModuleError"),
    ],
)
def test_a_function_without_a_usable_handler_is_unavailable(
    tmp_path: Path, router: OutputRouter, source: str | None, error_type: str
) -> None:
    function = local_function(tmp_path, router, source)
    assert not function.ready and function.unavailable_reason
    with pytest.raises(InvocationError) as raised:
        function.invoke({})
    assert raised.value.error_type == error_type
    function.unload()


# -- API Gateway HTTP API emulation ---------------------------------------------------------------------------------

ROUTES = [
    RouteSpec("GET", "/messages/{id}", "Messages", "2.0", IamAuth()),
    RouteSpec("GET", "/messages", "Messages", "2.0", IamAuth()),
    RouteSpec("GET", "/messages/latest", "Latest", "2.0", None),
    RouteSpec("ANY", "/files/{proxy+}", "Files", "2.0", None),
    RouteSpec("POST", "/callbacks/mo", "Callbacks", "2.0", None),
]


def request(
    method: str = "POST",
    path: str = "/callbacks/mo",
    *,
    query: str = "",
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
) -> HttpRequest:
    return HttpRequest(
        method=method, raw_path=path, raw_query=query, headers=headers or [], body=body, source_ip="10.1.2.3"
    )


def test_routes_match_the_most_specific_route_and_decode_path_parameters() -> None:
    table = RouteTable(ROUTES)
    assert table.match("GET", "/messages/latest").route.function_id == "Latest"
    found = table.match("GET", "/messages/abc%2F1")
    assert found.route.route_key == "GET /messages/{id}" and found.path_parameters == {"id": "abc/1"}
    assert table.match("DELETE", "/files/a/b.txt").path_parameters == {"proxy": "a/b.txt"}
    assert table.match("POST", "/messages/abc") is None
    assert table.match("GET", "/messages/") is None
    assert table.match("GET", "/nowhere") is None


@pytest.mark.parametrize(
    ("body", "content_type", "expect_base64"),
    [
        (b'{"a": "\xc3\xa9"}', "application/json", False),
        (b'{"a": 1}', "application/json; charset=utf-8", False),
        (b"<a/>", "application/soap+xml", False),
        (b"hello", "text/plain", False),
        (b'{"a": 1}', None, True),  # no content type: API Gateway base64-encodes
        (b"a=1&b=2", "application/x-www-form-urlencoded", True),
        (b"\x89PNG\r\n", "image/png", True),
        (b'{"a": "\xff"}', "application/json", True),  # not UTF-8
    ],
)
def test_body_is_base64_encoded_unless_text_and_utf8(
    body: bytes, content_type: str | None, expect_base64: bool
) -> None:
    text, is_base64 = encode_body(body, content_type)
    assert is_base64 is expect_base64
    assert (base64.b64decode(text) if is_base64 else text.encode()) == body


def test_event_is_payload_format_2() -> None:
    incoming = request(
        "GET",
        "/messages/m%201",
        query="reference=r1&contact=a&contact=b",
        headers=[
            ("Content-Type", "application/json"),
            ("X-Multi", "1"),
            ("x-multi", "2"),
            ("User-Agent", "ua/1"),
            ("Cookie", "a=1; b=2"),
            ("Host", "127.0.0.1:3000"),
        ],
    )
    match = RouteTable(ROUTES).match("GET", "/messages/m%201")
    event = build_event(incoming, match, api_id="abc123", account_id="123456789012", request_id="rid", now=1700000000.5)
    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "GET /messages/{id}"
    assert event["rawPath"] == "/messages/m%201"
    assert event["rawQueryString"] == "reference=r1&contact=a&contact=b"
    assert event["queryStringParameters"] == {"reference": "r1", "contact": "a,b"}
    assert event["pathParameters"] == {"id": "m 1"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["content-type"] == "application/json"
    assert event["headers"]["x-multi"] == "1,2"
    assert all(name == name.lower() for name in event["headers"])
    context = event["requestContext"]
    assert context["accountId"] == "123456789012" and context["apiId"] == "abc123"
    assert context["stage"] == "$default" and context["requestId"] == "rid"
    assert context["http"] == {
        "method": "GET",
        "path": "/messages/m%201",
        "protocol": "HTTP/1.1",
        "sourceIp": "10.1.2.3",
        "userAgent": "ua/1",
    }
    assert context["timeEpoch"] == 1700000000500
    assert context["time"] == "14/Nov/2023:22:13:20 +0000"
    assert context["domainName"] == "127.0.0.1:3000"
    assert "body" not in event and event["isBase64Encoded"] is False


def test_event_without_query_or_path_parameters_leaves_them_out() -> None:
    incoming = request(body=b'{"x": 1}', headers=[("content-type", "application/json")])
    event = build_event(incoming, RouteTable(ROUTES).match("POST", "/callbacks/mo"), api_id="a", account_id="1")
    assert "queryStringParameters" not in event and "pathParameters" not in event and "cookies" not in event
    assert event["body"] == '{"x": 1}' and event["isBase64Encoded"] is False


def signed_headers(url: str) -> list[tuple[str, str]]:
    aws_request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("AKIDEXAMPLE", "secret"), "execute-api", REGION).add_auth(aws_request)
    return list(aws_request.headers.items())


def test_sigv4_header_is_parsed_not_verified() -> None:
    credential = parse_sigv4(request("GET", "/messages/x", headers=signed_headers("http://127.0.0.1/messages/x")))
    assert credential is not None
    assert (credential.access_key, credential.region, credential.service) == ("AKIDEXAMPLE", REGION, "execute-api")


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("Authorization", "Bearer abc"), ("X-Amz-Date", "20240101T000000Z")],
        [
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/execute-api/aws4_request, "
                "SignedHeaders=host;x-amz-date, Signature=" + "a" * 64,
            )
        ],  # no x-amz-date
        [
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/s3/aws4_request, "
                "SignedHeaders=host;x-amz-date, Signature=" + "a" * 64,
            ),
            ("X-Amz-Date", "20240101T000000Z"),
        ],
        [
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/execute-api/aws4_request, "
                "SignedHeaders=host;x-amz-date, Signature=nothex",
            ),
            ("X-Amz-Date", "20240101T000000Z"),
        ],
    ],
)
def test_missing_or_malformed_sigv4_is_rejected(headers: list[tuple[str, str]]) -> None:
    assert parse_sigv4(request("GET", "/messages/x", headers=headers)) is None


def test_answer_without_status_code_becomes_200_json() -> None:
    response = lambda_result_to_http({"hello": "world"})
    assert response.status == 200
    assert ("content-type", "application/json") in response.headers
    assert json.loads(response.body) == {"hello": "world"}


def test_structured_answer_keeps_status_headers_cookies_and_binary_body() -> None:
    response = lambda_result_to_http(
        {
            "statusCode": 201,
            "headers": {"X-One": 1},
            "multiValueHeaders": {"X-Many": ["a", "b"]},
            "cookies": ["c=1; Path=/"],
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
        }
    )
    assert response.status == 201
    assert response.headers == [("X-One", "1"), ("X-Many", "a"), ("X-Many", "b"), ("set-cookie", "c=1; Path=/")]
    assert response.body == b"\x00\x01"


@pytest.mark.parametrize("answer", [{"statusCode": "abc"}, {"statusCode": 200, "body": {"not": "a string"}}])
def test_malformed_answers_are_rejected(answer: dict[str, Any]) -> None:
    with pytest.raises(MalformedResponse):
        lambda_result_to_http(answer)


class FakeFunction:
    def __init__(self, answer: Any = None, error: Exception | None = None):
        self.answer, self.error, self.events = answer, error, []

    def invoke(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if self.error:
            raise self.error
        return self.answer


def test_http_api_dispatch_answers_like_api_gateway() -> None:
    messages = FakeFunction({"statusCode": 200, "body": "{}"})
    callbacks = FakeFunction(error=InvocationError("ValueError", "boom"))
    api = HttpApi(ROUTES, {"Messages": messages, "Callbacks": callbacks}, api_id="a", account_id="123456789012")
    assert api.handle(request("GET", "/nope")).status == 404
    assert json.loads(api.handle(request("GET", "/nope")).body) == {"message": "Not Found"}
    forbidden = api.handle(request("GET", "/messages/x"))
    assert (forbidden.status, json.loads(forbidden.body)) == (403, {"message": "Forbidden"})
    assert messages.events == []
    signed = api.handle(request("GET", "/messages/x", headers=signed_headers("http://127.0.0.1/messages/x")))
    assert signed.status == 200
    iam = messages.events[0]["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == "AKIDEXAMPLE" and iam["accountId"] == "123456789012" and iam["userArn"]
    failed = api.handle(request("POST", "/callbacks/mo", body=b"{}"))
    assert (failed.status, json.loads(failed.body)) == (500, {"message": "Internal Server Error"})


def test_a_route_over_its_stage_throttle_gets_429_before_anything_runs() -> None:
    callbacks = FakeFunction({"statusCode": 200, "body": "{}"})
    messages = FakeFunction({"statusCode": 200, "body": "{}"})
    api = HttpApi(
        ROUTES,
        {"Messages": messages, "Callbacks": callbacks},
        api_id="a",
        account_id="123456789012",
        throttles={"POST /callbacks/mo": (0.001, 3)},  # refills far slower than the test runs
        default_throttle=(0.001, 1),
    )
    statuses = [api.handle(request("POST", "/callbacks/mo", body=b"{}")).status for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert len(callbacks.events) == 3
    throttled = api.handle(request("POST", "/callbacks/mo"))
    assert json.loads(throttled.body) == {"message": "Too Many Requests"}
    # each route has its own bucket: the callbacks' flood leaves the record API its own
    assert (
        api.handle(request("GET", "/messages/x", headers=signed_headers("http://127.0.0.1/messages/x"))).status == 200
    )
    assert (
        api.handle(request("GET", "/messages/x", headers=signed_headers("http://127.0.0.1/messages/x"))).status == 429
    )


AUTHORIZED_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Check
        Authorizers:
          Check: {authorizer}
  Guarded:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/guarded/
      Handler: app.handler
      Runtime: python3.11
      Events:
        Post:
          Type: HttpApi
          Properties: {{ApiId: !Ref Api, Method: POST, Path: /guarded}}
  Authorizer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/authorizer/
      Handler: app.handler
      Runtime: python3.11
"""


@pytest.mark.parametrize(
    ("authorizer", "kind"),
    [
        (
            "{FunctionArn: !GetAtt Authorizer.Arn, AuthorizerPayloadFormatVersion: '2.0', EnableSimpleResponses: true,"
            " Identity: {Headers: [Authorization]}}",
            "request",
        ),
        (
            "{JwtConfiguration: {issuer: 'https://issuer.example.com', audience: [wab]},"
            " IdentitySource: $request.header.Authorization}",
            "jwt",
        ),
    ],
)
def test_a_route_whose_authorizer_cannot_run_locally_is_never_open(
    tmp_path: Path, authorizer: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "template.yaml").write_text(AUTHORIZED_TEMPLATE.format(authorizer=authorizer), encoding="utf-8")
    (spec,) = TranslatedTemplate(tmp_path / "template.yaml", region=REGION).http_apis()
    (route,) = spec.routes
    assert route.auth == UnsupportedAuth(name="Check", kind=kind)

    guarded = FakeFunction({"statusCode": 204})
    api = HttpApi(spec.routes, {"Guarded": guarded}, api_id="a", account_id="1")
    assert f"route POST /guarded uses a {kind} authorizer (Check)" in caplog.text
    answer = api.handle(request("POST", "/guarded", headers=[("Authorization", "token")]))
    assert (answer.status, json.loads(answer.body)) == (500, {"message": "Internal Server Error"})
    assert guarded.events == []


# -- SQS event source ---------------------------------------------------------------------------------------------


def records(*ids: str) -> list[dict[str, Any]]:
    return [{"messageId": message_id, "receiptHandle": f"rh-{message_id}"} for message_id in ids]


def test_partial_batch_response_deletes_all_but_the_failures() -> None:
    batch = records("a", "b", "c")
    assert records_to_delete(
        batch, {"batchItemFailures": [{"itemIdentifier": "b"}]}, report_batch_item_failures=True
    ) == [batch[0], batch[2]]
    assert records_to_delete(batch, {"batchItemFailures": []}, report_batch_item_failures=True) == batch
    assert records_to_delete(batch, None, report_batch_item_failures=True) == batch
    assert (
        records_to_delete(batch, {"batchItemFailures": [{"itemIdentifier": "zzz"}]}, report_batch_item_failures=True)
        == []
    )
    assert (
        records_to_delete(batch, {"batchItemFailures": [{"itemIdentifier": ""}]}, report_batch_item_failures=True) == []
    )
    assert (
        records_to_delete(batch, {"batchItemFailures": [{"itemIdentifier": "b"}]}, report_batch_item_failures=False)
        == batch
    )


def test_sqs_record_is_shaped_like_lambdas() -> None:
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "MD5OfMessageAttributes": "abc",
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1",
            "SenderId": "s",
            "ApproximateFirstReceiveTimestamp": "2",
        },
        "MessageAttributes": {
            "kind": {"DataType": "String", "StringValue": "send"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00"},
        },
    }
    record = sqs_record(message, "arn:aws:sqs:us-east-1:123456789012:q", REGION)
    assert record == {
        "messageId": "m1",
        "receiptHandle": "rh",
        "body": "{}",
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1",
            "SenderId": "s",
            "ApproximateFirstReceiveTimestamp": "2",
        },
        "messageAttributes": {
            "kind": {"stringValue": "send", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "raw": {"binaryValue": "AA==", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
        },
        "md5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "md5OfMessageAttributes": "abc",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": REGION,
    }


def test_a_request_line_too_long_to_read_is_answered_414_not_dropped() -> None:
    api = HttpApi(ROUTES, {"Messages": FakeFunction({"statusCode": 200, "body": "{}"})}, api_id="a", account_id="1")
    server = HttpApiServer("127.0.0.1", 0, api)
    server.start(api)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
            connection.sendall(b"GET /messages/x?cursor=" + b"c" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = connection.recv(200)
    finally:
        server.stop()
    assert answer.startswith(b"HTTP/1.1 414") or answer.startswith(b"HTTP/1.0 414")


def test_each_log_line_names_its_own_function_and_request_though_handlers_share_a_logger(tmp_path: Path) -> None:
    """Handlers here share one process and the loggers of what they import: the last invocation to start set the
    shared Powertools logger's Lambda keys, so a concurrent one's lines named another function."""
    source = """
        import shared_for_test as shared

        @shared.logger.inject_lambda_context
        def lambda_handler(event, context):
            shared.barrier.wait(timeout=5)  # both have set the shared logger's keys before either logs
            shared.logger.warning("logged by " + context.function_name)
            return context.aws_request_id
    """
    with routed_output() as router:
        shared = types.ModuleType("shared_for_test")
        shared.logger = Logger(service="shared-for-test")  # type: ignore[attr-defined]
        shared.barrier = threading.Barrier(2)  # type: ignore[attr-defined]
        sys.modules["shared_for_test"] = shared
        functions = []
        try:
            for name in ("One", "Two"):
                (tmp_path / name).mkdir()
                function = local_function(tmp_path / name, router, source)
                function.name = f"wab-local-{name}"
                functions.append(function)
            request_ids: dict[str, str] = {}
            threads = [
                threading.Thread(target=lambda f=function: request_ids.update({f.name: f.invoke({})}))
                for function in functions
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            for function in functions:
                function.unload()
            del sys.modules["shared_for_test"]
    for name in ("One", "Two"):
        lines = (tmp_path / name / "logs" / "TestFunction.log").read_text().splitlines()
        [line] = [json.loads(line) for line in lines if line.startswith("{")]
        assert line["message"] == f"logged by wab-local-{name}"
        assert (line["function_name"], line["function_request_id"]) == (
            f"wab-local-{name}",
            request_ids[f"wab-local-{name}"],
        )
