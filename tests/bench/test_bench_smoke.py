"""`python -m bench --smoke` runs every benchmark end to end with tiny sizes and writes what `make bench` writes.

Structure only: the figures themselves are never asserted (they are timings on a shared machine). It does check
that each hand-written baseline makes the same AWS requests as the handler it is compared with, since every ratio in
the report depends on that.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ("mo", "dlr", "send", "get")


def test_bench_smoke_writes_results_and_report(tmp_path: Path) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--no-plots", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["meta"]["mode"] == "smoke"
    for key in (
        "simulator_throughput",
        "cold_start",
        "warm",
        "aws_calls",
        "memory",
        "callback_load",
        "broadcast",
        "broadcast_summary",
        "sender_profile",
        "cost",
        "sizing",
        "headline",
        "sendpath",
        "sendpath_cost",
        "cost_high_volume",
        "fixed_costs",
        "all_in",
    ):
        assert key in results, key

    assert Path(results["meta"]["layer"]).joinpath("wab", "__pycache__").is_dir(), (
        "cold starts must use the built layer"
    )
    for handler in ("callbacks", "messages", "sender"):
        imports = results["cold_start"]["import"][handler]
        assert math.isfinite(imports["ratio"])
        assert imports["libraries_ms"] and imports["ours_sources_only_ms"]
        assert all(0 < own < imports["ours_ms"][0] * 2 for own in imports["own_in_process_ms"])
        assert math.isfinite(results["cold_start"]["first_invocation"][handler]["ratio"])
        assert math.isfinite(results["cold_start"]["first_invocation_preloaded"][handler]["ratio"])
    for flow in FLOWS:
        assert math.isfinite(results["warm"][flow]["ratio"])
        assert results["aws_calls"][flow]["same_calls"], f"{flow}: the baseline makes different AWS requests"
    # A send's `Accepted` and a DLR's `Status Changed` go out from the table's stream: the relay's requests are counted
    # with the flow that wrote them, and priced with it.
    for flow in ("send", "dlr"):
        relay = results["aws_calls"][flow]["ours"]["relay"]
        assert relay["records"] == relay["events"] == 1, flow
        assert (
            "events.PutEvents" in relay["steady"]
            and "events.PutEvents" not in results["aws_calls"][flow]["ours"]["steady"]
        )
        assert results["cost_inputs"][flow]["relay"]["invocations"] > 0
    assert results["aws_calls"]["chunk"]["ours"]["relay"]["events"] == results["aws_calls"]["chunk"]["recipients"]
    assert results["aws_calls"]["get"]["ours"]["relay"]["records"] == 0
    assert results["relay_model"]["measured"]
    assert results["broadcast"]["runs"], "no broadcast ran"
    for flow in ("mo", "dlr"):
        assert results["callback_load"][flow]["requests"] > 0
    for flow in ("inbound_message", "outbound_message", "outbound_broadcast_recipient"):
        assert results["cost"][flow]["per_million_measured"] > 0
    # Every message leaves a record behind: storage and point-in-time recovery are priced for each path.
    for path, lines in results["all_in"]["paths"].items():
        assert lines["DynamoDB storage"] > 0 and lines["DynamoDB PITR"] > 0, path
        assert lines["total"] == pytest.approx(sum(value for name, value in lines.items() if name != "total"))
    assert results["all_in"]["fixed_per_month"] > 0
    for function in ("CallbacksFunction", "MessagesFunction", "SenderFunction"):
        assert results["sizing"][function]["recommended_mb"] >= 128

    # The send path's scenarios ran and produced numbers (never judged here: they are timings on a shared machine).
    send = results["sendpath"]
    assert send["stack_parameters"]["NumberRatePerSecond"] == str(send["rate"])
    outage = send["outage"]
    assert outage["requested"] > 0 and outage["calls_answered_500"] > 0
    for key in ("delivered", "duplicates", "dead_letters", "failed_events"):
        assert isinstance(outage[key], int), key
    assert isinstance(outage["recovery_to_last_s"], float)
    pacing = send["pacing"]
    assert pacing["alone"]["latency"]["n"] > 0
    for key in ("throttled_share", "throughput_share", "total_rate"):
        assert isinstance(pacing["with_broadcast"][key], float), key
    assert pacing["with_broadcast"]["provider_calls"]["total"] > 0
    assert pacing["aws_requests"]["per_message"] and pacing["alone"]["aws_requests"]["per_message"]
    legacy = send["legacy"]
    assert legacy.get("skipped") or [variant["name"] for variant in legacy["variants"]] == ["defaults", "lane_chunks"]
    order = send["order"]
    assert order["order"]["contacts"] == order["contacts"]
    assert order["provider_calls"]["total"] >= order["delivered"]
    cost = results["sendpath_cost"]
    assert cost["steady_total"]["single_send"] > 0 and cost["outbound"]["per_million_measured"] > 0
    assert "under_faults" in cost and "budget_writes" in cost

    report = (tmp_path / "report.md").read_text()
    for heading in (
        "## 1. Cold start",
        "## 2. Warm overhead",
        "## 3. AWS requests per message",
        "## 4. Broadcast end to end",
        "## 5. Sustained callbacks",
        "## 6. Cost per 1,000,000 messages",
        "## 7. Memory size per function",
        "## 8. The send path under faults and limits",
        "### 8a. A provider outage",
        "### 8b. Pacing",
        "### 8c. The same pacing scenario on the send path before the lanes",
        "### 8d. Order through errors and throttling",
        "## 9. What pacing and ordering cost",
    ):
        assert heading in report
    assert (tmp_path / "README-section.md").read_text().startswith("## Benchmarks")
