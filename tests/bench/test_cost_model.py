"""The cost model's arithmetic (bench/cost.py, bench/analysis.py): X-Ray's traced share, how full an SQS batch and a
relay batch are, what the relay's counters write, what a stored item costs, and the fixed monthly costs counted in the
real template.yaml. Pure functions, no run."""

import re

import pytest

from bench import analysis as A
from bench import cost as C
from bench import template_info as T
from bench.awscalls import storage_change, stored_bytes
from bench.lambda_env import ROOT

TEMPLATE = (ROOT / "template.yaml").read_text()
EDITS = (ROOT / "layers" / "wab" / "wab" / "edits.py").read_text()
RECORD = {
    "pk": {"S": "MSG#m1"},  # 2 + 6 bytes
    "contact_key": {"S": "+64211234567"},  # 11 + 12
    "created_at": {"S": "2026-11-30T10:00:00Z"},  # 10 + 20
}  # 61 bytes of attributes


def test_xray_traces_one_request_a_second_and_five_percent_of_the_rest() -> None:
    assert C.xray_share(10) == pytest.approx(0.145)  # (1 + 0.05 × 9) / 10
    assert C.xray_share(20) == pytest.approx(0.0975)
    assert C.xray_share(1000) == pytest.approx(0.05095)
    assert C.xray_share(1) == C.xray_share(0.2) == 1.0  # under the reservoir every request is traced


def test_traces_per_message_add_up_each_function_at_its_own_rate() -> None:
    assert A.traced({"CallbacksFunction": 1.0}, 10) == pytest.approx(0.145)
    # A sender invoked once per 2.5 sends (4 a second) and an intake per send (10 a second)
    assert A.traced({"SenderFunction": 0.4, "IntakeFunction": 1.0}, 10) == pytest.approx(0.4 * 1.15 / 4 + 0.145)


def test_a_batch_holds_what_arrived_while_the_last_one_ran() -> None:
    poll = C.ASSUMPTIONS["poll_to_invoke_ms"]
    assert C.batch_fill(10, 230 - poll) == pytest.approx(2.3)
    assert C.batch_fill(10, 40 - poll) == 1.0  # never fewer than one
    assert C.batch_fill(1000, 30) == 10.0  # never more than a full batch
    assert C.batch_fill(0.001, 5000) == 1.0


def test_an_item_is_billed_with_100_bytes_and_its_index_entries_as_keys_plus_100() -> None:
    assert stored_bytes(RECORD) == {"table": 161, "index": 161}  # by-contact only: no reference_key
    with_reference = {**RECORD, "reference_key": {"S": "spring#3"}}  # 13 + 8
    assert stored_bytes(with_reference) == {"table": 182, "index": 161 + (8 + 21 + 30 + 100)}
    assert storage_change(None, RECORD) == {"MSG table": 161, "MSG index": 161}
    # A status report that makes the record longer adds its bytes, and nothing in the keys-only indexes
    grown = {**RECORD, "status": {"S": "sent"}}  # 6 + 4
    assert storage_change(RECORD, grown) == {"MSG table": 10, "MSG index": 0}


def test_storage_and_point_in_time_recovery_of_a_kilobyte_kept_180_days() -> None:
    gb_months = C.storage_gb_months(1024, 180)
    assert gb_months == pytest.approx(1024 / 2**30 * 180 / 30.4)
    lines = C.per_million(
        C.flow_cost(
            lambda_invocations=0,
            duration_ms=0,
            memory_mb=512,
            http_api_requests=0,
            sqs_requests=0,
            write_units=0,
            read_units=0,
            event_chunks=0,
            secret_calls=0,
            log_bytes=0,
            traced_invocations=0,
            table_gb_months=gb_months,
            index_gb_months=gb_months / 4,
        )
    )
    # A million 1 KiB records: 0.954 GB for 5.92 months, 5.65 GB-months on the table
    assert lines["DynamoDB storage"] == pytest.approx(1.76, abs=0.01)  # 5.65 GB-months and a quarter more × $0.25
    assert lines["DynamoDB PITR"] == pytest.approx(1.13, abs=0.01)  # the table only × $0.20
    assert lines["total"] == pytest.approx(lines["DynamoDB storage"] + lines["DynamoDB PITR"])


def test_each_kind_of_item_lives_as_long_as_its_ttl_says() -> None:
    retention = int(re.search(r"RetentionDays:\n\s+Type: Number\n\s+Default: (\d+)", TEMPLATE).group(1))  # type: ignore[union-attr]
    pointer_days = int(re.search(r"^POINTER_DAYS = (\d+)", EDITS, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert A.retention_days() == {"MSG": retention, "WAMID": min(retention, pointer_days), "IDEMPOTENCY": 7}
    assert A.retention_days(3)["WAMID"] == 3  # a pointer never outlives its record
    inputs = A.storage_inputs({"MSG table": 1024.0, "MSG index": 200.0, "IDEMPOTENCY table": 300.0}, per=2)
    assert inputs["stored_bytes"] == {"MSG table": 512.0, "MSG index": 100.0, "IDEMPOTENCY table": 150.0}
    assert inputs["table_gb_months"] == pytest.approx(C.storage_gb_months(512, retention) + C.storage_gb_months(150, 7))


def test_only_the_items_a_message_leaves_behind_are_stored_per_message() -> None:
    steady = {
        "dynamodb.PutItem": {"stored": {"MSG table": 700.0, "MSG index": 300.0, "CONTACT table": 80.0}},
        "dynamodb.UpdateItem": {"stored": {"SUMMARY table": 90.0, "WAMID table": 150.0}},
        "events.PutEvents": {},
    }
    assert A.stored(steady) == {"MSG table": 700.0, "MSG index": 300.0, "WAMID table": 150.0}


def test_fixed_costs_count_the_real_template() -> None:
    fixed = A.fixed_costs()
    lines = {line["item"]: line for line in fixed["lines"]}
    # every alarm in the template but those that exist only with CallbackEndpoint FunctionUrl or a customer key
    conditional_alarms = {"CallbacksUrl5xxAlarm", "CallbacksThrottlesAlarm", "BusDeadLetterAlarm"}
    alarms = len(re.findall(r"Type: AWS::CloudWatch::Alarm\b", TEMPLATE)) - len(conditional_alarms)
    assert fixed["alarms"] == alarms
    assert not conditional_alarms & set(T.resources_of("AWS::CloudWatch::Alarm"))
    # one metric-math alarm watches two metrics
    assert lines["CloudWatch alarms"]["usd"] == pytest.approx((alarms + 1) * 0.10)
    assert lines["Secrets Manager secrets"]["usd"] == pytest.approx(2 * 0.40)
    assert lines["CloudWatch dashboards"]["count"] == 1
    # no alarm topic and no customer key given: the stack makes a key for its own topic
    assert T.resources_of("AWS::KMS::Key") == ["AlarmTopicKey"]
    # every mapping but the relay's on the table's stream polls a queue; a stream's reads are free
    mappings = len(re.findall(r"Type: AWS::Lambda::EventSourceMapping\b", TEMPLATE)) - len(T.stream_mappings())
    assert T.stream_mappings() == ["RelayStreamMapping"]
    assert T.sqs_event_sources() == mappings == 5
    assert lines["DynamoDB stream polling"]["usd"] == 0.0
    assert {"RelayIteratorAgeAlarm", "RelayDeadLetterAlarm"} <= set(T.resources_of("AWS::CloudWatch::Alarm"))
    polls = mappings * 15 * 60 * 24 * 30.4  # 15 long polls a minute each
    assert lines["SQS idle long polls"]["usd"] == pytest.approx(polls * 0.50 / 1e6)
    assert fixed["total"] == pytest.approx(sum(line["usd"] for line in fixed["lines"]))


def test_custom_metrics_are_found_with_their_dimensions() -> None:
    metrics = {metric["metric"]: metric["dimensions"] for metric in A.custom_metrics()}
    assert metrics["StatusTransitions"] == ["status"]
    assert metrics["MessagesReceived"] == ["type"]
    assert metrics["CallbacksRejected"] == ["reason"]  # named by the callbacks' resolver
    assert metrics["StatusReports"] == []
    fixed = A.fixed_costs()
    dimensioned = sum(1 for dimensions in metrics.values() if dimensions)
    values = C.ASSUMPTIONS["metric_values_per_dimension"]
    assert fixed["metric_series"] == len(metrics) - dimensioned + dimensioned * values
    assert fixed["lines"][0]["usd"] == pytest.approx(fixed["metric_series"] * 0.30)


def test_the_fixed_part_stops_mattering_at_ten_times_its_cost_in_variable_cost() -> None:
    # $24 a month is 10 % of the variable cost of 40 M messages at $6 per million
    assert A.break_even(24.0, 6.0) == pytest.approx(40e6)


def test_an_outbound_message_is_a_send_and_two_status_reports() -> None:
    def flow(**lines: float) -> dict[str, dict[str, float]]:
        return {"per_million_measured": {**lines, "total": sum(lines.values())}}

    costs = {
        "mo": flow(writes=3.0, storage=2.0),
        "dlr": flow(writes=1.5, storage=0.25),
        "send": flow(writes=4.0, storage=1.5),
        "broadcast": flow(writes=2.0, storage=1.0),
    }
    paths = A.end_to_end(costs)
    assert paths["inbound"] == {"writes": 3.0, "storage": 2.0, "total": 5.0}
    assert paths["outbound"] == {"writes": 7.0, "storage": 2.0, "total": 9.0}
    assert paths["broadcast"]["total"] == 6.5


def test_the_stream_has_a_shard_per_partition_by_size_or_writes() -> None:
    assert C.stream_shards(5.0, 100.0) == 4.0  # a new on-demand table's partitions
    assert C.stream_shards(205.0, 100.0) == 21.0  # 10 GB a partition
    assert C.stream_shards(5.0, 13_500.0) == 14.0  # 1,000 write units a second a partition


def test_a_relay_batch_holds_the_first_record_and_what_its_window_gathers() -> None:
    assert C.stream_batch_fill(0.0, 1.0, 100) == 1.0
    assert C.stream_batch_fill(2.5, 1.0, 100) == pytest.approx(3.5)
    assert C.stream_batch_fill(500.0, 1.0, 100) == 100.0  # never more than the batch size


def test_a_batch_of_one_references_events_writes_each_counter_shard_it_reaches_once() -> None:
    assert C.distinct_keys(0, 16) == 0.0
    assert C.distinct_keys(1, 16) == pytest.approx(1.0)
    assert C.distinct_keys(33, 16) == pytest.approx(16 * (1 - (15 / 16) ** 33))
    assert C.distinct_keys(1000, 16) == pytest.approx(16.0)
    assert A.summary_shards() == 16


def _basis(pattern: str) -> dict:
    """A flow whose invocation left one stream record carrying one counted event (a send's `Accepted`)."""
    return {
        "records": 1,
        "events": 1,
        "counted": 1,
        "counter_keys": 1,
        "messages": 1.0,
        "pattern": pattern,
        "log_bytes_per_invocation": 0.0,
        "steady": {
            "events.PutEvents": {"count": 1, "chunks": 1, "entries": 1, "event_bytes": 300, "wru": 0.0, "rru": 0.0},
            "dynamodb.UpdateItem": {"count": 1, "wru": 1.0, "rru": 0.0, "chunks": 0, "entries": 1},
        },
        "timing": {"records_per_invocation": 1.0, "median_ms": 4.0, "median_not_moto_ms": 2.0},
    }


def test_the_relay_is_invoked_once_a_batch_and_counts_a_batch_of_one_reference_per_shard() -> None:
    own = A.relay_part(_basis("own"), 4.0, 512)
    assert own["invocations"] == pytest.approx(0.25)
    assert own["adds"]["lambda_invocations"] == pytest.approx(0.25)
    assert own["counter_writes"] == pytest.approx(1.0)  # every send its own reference: a write per event
    assert own["adds"]["event_chunks"] == pytest.approx(1.0)
    assert own["put_events_calls"] == pytest.approx(0.25)  # four events, one call
    shared = A.relay_part(_basis("shared"), 4.0, 512)
    assert shared["counter_writes"] == pytest.approx(C.distinct_keys(4, 16) / 4)
    nothing = A.relay_part({**_basis("none"), "records": 0, "events": 0, "counted": 0}, 4.0, 512)
    assert nothing["invocations"] == 0.0


def test_a_single_send_under_summary_scope_broadcasts_writes_no_counter_but_is_still_relayed() -> None:
    uncounted = A.relay_part(_basis("uncounted"), 4.0, 512)
    assert uncounted["counter_writes"] == 0.0 and uncounted["adds"]["write_units"] == 0.0
    assert uncounted["counted_events"] == 0.0
    assert uncounted["adds"]["event_chunks"] == pytest.approx(1.0)  # its event still goes out
    assert uncounted["invocations"] == pytest.approx(0.25)


def test_the_lean_deploy_environment_deploys_the_settings_the_cost_model_prices() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = config["lean"]["deploy"]["parameters"]["parameter_overrides"]
    assert dict(pair.split("=") for pair in overrides.split()) == A.LEAN_SETTINGS
    parameters = T.template()["Parameters"]
    for name, value in A.LEAN_SETTINGS.items():
        assert value in [str(allowed) for allowed in parameters[name].get("AllowedValues", [value])]
