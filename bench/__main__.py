"""`python -m bench [--quick | --smoke] [--out DIR]`: measure the gateway against hand-written baselines and write
DIR/results.json, DIR/report.md, DIR/README-section.md and DIR/*.png (DIR defaults to bench/).

What runs, in order (each figure is a ratio against a baseline measured in the same run):
 0. the provider simulator's throughput (context);
 1a. importing each handler against a bare `import boto3`, each in a new interpreter;
 1b, 2, 3. first invocation, warm invocations and every AWS request per flow, ours against the hand-written handlers in
     bench/baseline/, each in a fresh process against in-process moto (bench.inproc);
 then the local stack (bench.stackbench): memory per handler, sustained MO and DLR callbacks, broadcasts of growing
 size end to end, and where a broadcast chunk's time goes;
 8. the send path under faults and limits on a local stack of its own, paced at a rate it carries (bench.sendbench,
    bench.sendpath): a provider outage, a broadcast beside single sends on one number's rate (and the same on the send
    path before the lanes, commit 6e415a8, as a stack of its own), order per contact through errors and throttling;
 6, 7, 9. cost per million messages, memory sizes and what pacing and ordering cost, computed from all of the above
    (bench.analysis).
The cold-start and warm figures of the run this one replaces (DIR/results.json) are kept under `previous` and shown
beside this run's.
Every function runs with the template's parameters but two (bench.template_info.bench_parameters): a number rate at
which the rate budget never makes a send wait, and the broadcast chunk size the default rate gives, so the figures are
the gateway's own cost, not its pacing. Section 8 is about pacing, and runs with its own rate (see bench.sendbench).
Nothing here is a pass/fail test: `make test` only runs `--smoke` and checks the shape of what it writes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CONFIGS: dict[str, dict[str, Any]] = {
    "full": {
        "simulator_seconds": 3,
        "import_samples": 7,
        "like_for_like_samples": 15,
        "diagnostic_samples": 3,
        "cold_samples": 7,
        "warm_n": 200,
        "warmup": 10,
        "count_n": 3,
        "memory_n": 20,
        "memory_warmup": 5,
        "broadcast_memory_recipients": 10_000,
        "load_clients": 4,
        "load_seconds": 10,
        "load_max_requests": 4000,
        "broadcast_sizes": [1000, 5000, 10_000],
        "profile_chunks": 5,
        "budget_s": 600,  # the local stack's broadcasts of 5,000 and 10,000 need it after sections 1-3c
    },
    "quick": {
        "simulator_seconds": 1,
        "import_samples": 3,
        "like_for_like_samples": 5,
        "diagnostic_samples": 1,
        "cold_samples": 3,
        "warm_n": 60,
        "warmup": 5,
        "count_n": 2,
        "memory_n": 8,
        "memory_warmup": 3,
        "broadcast_memory_recipients": 5000,
        "load_clients": 4,
        "load_seconds": 4,
        "load_max_requests": 2000,
        "broadcast_sizes": [500, 1000, 2000],
        "profile_chunks": 3,
        "budget_s": 120,
    },
    "smoke": {
        "simulator_seconds": 0.3,
        "import_samples": 1,
        "like_for_like_samples": 0,  # needs the older tree's layer built for python3.11: left to real runs
        "diagnostic_samples": 1,
        "cold_samples": 1,
        "warm_n": 4,
        "warmup": 1,
        "count_n": 1,
        "memory_n": 2,
        "memory_warmup": 1,
        "memory_flows": ["mo"],
        "broadcast_memory_recipients": 300,
        "load_clients": 2,
        "load_seconds": 1,
        "load_max_requests": 100,
        "broadcast_sizes": [20, 50],
        "profile_chunks": 1,
        "budget_s": 100,
    },
}
BENCH_DIR = Path(__file__).resolve().parent


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_const", dest="mode", const="quick", help="smaller sizes, ~2 min")
    mode.add_argument(
        "--smoke",
        action="store_const",
        dest="mode",
        const="smoke",
        help="tiny sizes, end to end in about a minute (for tests)",
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR, help="where results.json, report.md and plots go")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots (no matplotlib needed)")
    mode.add_argument(
        "--rederive",
        action="store_true",
        help="measure nothing: work out the costs of the run in --out again and rewrite its report",
    )
    mode.add_argument(
        "--inproc",
        action="store_true",
        help="measure again only what runs against in-process moto (sections 1b, 2, 3, 3b, 3c: first invocations, "
        "warm invocations, AWS requests per flow with the relay's, index writes, checks) at full size; keep the "
        "other measurements of the run in --out, then work out the costs again and rewrite its report",
    )
    mode.add_argument(
        "--imports",
        action="store_true",
        help="measure again only the imports (section 1a, with the like-for-like comparison across runtimes) at full "
        "size; keep the other measurements of the run in --out and rewrite its report",
    )
    args = parser.parse_args(argv)
    if args.rederive:
        return rederive(args.out)
    if args.inproc:
        return remeasure_inproc(args.out, plots=not args.no_plots)
    if args.imports:
        return remeasure_imports(args.out, plots=not args.no_plots)
    mode_name = args.mode or "full"
    config = CONFIGS[mode_name]
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    deadline = started + config["budget_s"]

    from bench import analysis, handlers, report, sendreport
    from bench.sendbench import SENDPATH_SIZES, SendPathBench
    from bench.simulator_throughput import measure
    from bench.stackbench import StackBench

    config = {**config, "sendpath": SENDPATH_SIZES[mode_name]}  # section 8's sizes live beside its code

    prior = _read_json(args.out / "results.json")  # the run this one replaces: its figures are kept beside ours
    results: dict[str, Any] = {
        "meta": {
            "mode": mode_name,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine_before": machine(),
            "config": config,
        }
    }
    log(f"mode {mode_name}; machine {results['meta']['machine_before']}")

    log("provider simulator throughput")
    results["simulator_throughput"] = {
        "sends_per_s": measure(config["simulator_seconds"]),
        "seconds": config["simulator_seconds"],
    }

    log("the wab layer, built by its recipe for this machine (cold starts import from it)")
    results["meta"]["layer"] = handlers.build_layer()
    results["cold_start"] = measure_imports(config)

    log("first invocations (libraries preloaded), warm overhead, AWS requests: ours vs hand-written, in-process moto")
    reduced = run_inproc(config)
    results["cold_start"]["first_invocation_preloaded"] = reduced["cold_first_invocation"]
    results["warm"] = reduced["warm"]
    results["aws_calls"] = reduced["aws_calls"]

    from bench import indexwrites  # 3b: index writes of a broadcast, through the handlers against in-process moto

    log("index writes of a broadcast: per message and on the busiest index key")
    results["index_writes"] = indexwrites.run(mode_name)

    from bench import screening  # 3c: what the template and opt-out checks save and cost, in-process

    log("checks before the provider: a broadcast with a wrong template, and a marketing send's extra requests")
    results["screening"] = screening.run(mode_name)

    log("local stack: memory, callback load, broadcasts, sender profile")
    stack_results = StackBench(config, log).run(deadline - 15)
    results["cold_start"]["first_invocation"] = stack_results.pop("cold_starts")
    results.update(stack_results)
    results["broadcast_summary"] = analysis.broadcast_summary(
        stack_results["broadcast"], stack_results["sender_profile"], config["broadcast_sizes"]
    )

    log("the send path under faults and limits: outage, pacing (and before the lanes), order")
    results["sendpath"] = SendPathBench(config["sendpath"], log).run()

    log("cost and memory sizing")
    derive(results)
    results["previous"] = sendreport.previous_runs(prior)
    results["meta"]["machine_after"] = machine()
    results["meta"]["duration_s"] = time.monotonic() - started

    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=_json_default) + "\n")
    plots = [] if args.no_plots else report.plots(results, args.out)
    report.write(results, args.out, plots)
    log(
        f"wrote {args.out / 'results.json'}, report.md, README-section.md and {len(plots)} plots "
        f"in {results['meta']['duration_s']:.0f} s"
    )
    return 0


def derive(results: dict[str, Any]) -> None:
    """What the cost model and the memory sizing work out from a run's measurements (nothing is measured here)."""
    from bench import analysis

    high = analysis.C.ASSUMPTIONS["high_volume_messages_per_second"]
    inputs = analysis.flow_inputs(results)
    results["cost_inputs"] = inputs
    results["cost"] = analysis.cost_tables(inputs)
    results["cost_high_volume"] = analysis.cost_tables(analysis.flow_inputs(results, high))
    results["cost_lean"] = analysis.cost_tables(analysis.lean_inputs(inputs))
    results["cost_lean_high_volume"] = analysis.cost_tables(analysis.lean_inputs(analysis.flow_inputs(results, high)))
    results["fixed_costs"] = analysis.fixed_costs()
    results["sizing"] = analysis.sizing(results, inputs)
    recommended = {function: value["recommended_mb"] for function, value in results["sizing"].items()}
    results["cost_at_recommended_memory"] = analysis.cost_tables(inputs, recommended)
    results["sendpath_cost"] = analysis.sendpath_cost(results)
    results["relay_model"] = analysis.relay_summary(results)
    results["all_in"] = analysis.all_in(results)
    results["headline"] = analysis.headline(results)


def measure_imports(config: dict[str, Any]) -> dict[str, Any]:
    """Section 1a: each handler's import against `import boto3`, where its time goes, and wab's own part like for
    like across runtimes (the older tree's layer built for python3.11, which a smoke run leaves out)."""
    from bench import handlers

    log("cold start 1a: handler import vs `import boto3`, each in a new interpreter")
    imports = {}
    for handler in handlers.HANDLER_FLOW:
        imports[handler] = handlers.import_times(handler, config["import_samples"])
        imports[handler]["breakdown_ms"] = handlers.import_breakdown(handler)
        imports[handler]["own_modules_ms"] = handlers.own_modules(handler, config["import_samples"])
    cold: dict[str, Any] = {
        "import": imports,
        "boto3_import_breakdown_ms": handlers.import_breakdown(None),
        "secrets_session": handlers.session_diagnostic("callbacks", config["diagnostic_samples"]),
    }
    if config["like_for_like_samples"]:
        log(f"cold start 1a: wab's own part like for like, the tree of {handlers.THEN_COMMIT} on both runtimes")
        try:
            cold["like_for_like"] = handlers.like_for_like(config["like_for_like_samples"])
        except (OSError, subprocess.SubprocessError, RuntimeError) as exc:  # pip's index unreachable, say
            log(f"could not compare like for like ({type(exc).__name__}); the report leaves it out")
    return cold


def remeasure_imports(out: Path, *, plots: bool) -> int:
    """`--imports`: section 1a measured again (full size) into the run in `out`, whose other measurements are kept."""
    from bench import handlers, report

    results = _read_json(out / "results.json")
    if not results:
        log(f"no results in {out}: run the bench first")
        return 1
    started = time.monotonic()
    log("the wab layer, built by its recipe for this machine (cold starts import from it)")
    results["meta"]["layer"] = handlers.build_layer()
    measured = measure_imports(CONFIGS["full"])
    results["cold_start"].update(measured)
    results["meta"]["remeasured_imports"] = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "duration_s": time.monotonic() - started,
    }
    derive(results)  # the sizing and the summary read the imports
    (out / "results.json").write_text(json.dumps(results, indent=1, default=_json_default) + "\n")
    written = report.plots(results, out) if plots else sorted(path.name for path in out.glob("*.png"))
    report.write(results, out, written)
    log(f"measured the imports again in {time.monotonic() - started:.0f} s; wrote report.md")
    return 0


def rederive(out: Path) -> int:
    """`--rederive`: the costs and sizing of the run in `out` worked out again, and its report written again, after a
    change to the cost model or to what the template keeps (prices, retention); the measurements stay as they were."""
    from bench import report

    results = _read_json(out / "results.json")
    if not results:
        log(f"no results in {out}: run the bench first")
        return 1
    derive(results)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=_json_default) + "\n")
    report.write(results, out, sorted(path.name for path in out.glob("*.png")))
    log(f"derived the costs of the run of {results['meta']['started']} again; wrote report.md and README-section.md")
    return 0


def run_inproc(config: dict[str, Any]) -> dict[str, Any]:
    """Sections 1b, 2 and 3 against in-process moto (with a provider simulator of their own): the handlers' first
    invocations with their libraries preloaded, warm invocations, and every AWS request per flow, the relay's too."""
    from bench import handlers
    from bench import lambda_env as L

    with L.provider_simulator(50_000) as simulator:
        provider = L.provider_secret(simulator)
        tasks = handlers.handler_tasks(config["cold_samples"], config["warm_n"], config["warmup"], config["count_n"])
        # every index a task's invocations use is seeded (the relay's timed ones after the counted ones too)
        counted = config["count_n"] + 1 + handlers.RELAY_SAMPLES
        seed = max(config["warm_n"] // 2 + config["warmup"], counted, 2) + 1
        return handlers.reduce_handler_results(handlers.run_worker(handlers.moto_plan(tasks, provider, seed)))


def remeasure_inproc(out: Path, *, plots: bool) -> int:
    """`--inproc`: the in-process sections measured again (full size) into the run in `out`, whose other
    measurements (imports, the local stack, the send path) are kept as they were; then the costs derived again."""
    from bench import handlers, indexwrites, report, screening

    results = _read_json(out / "results.json")
    if not results:
        log(f"no results in {out}: run the bench first")
        return 1
    started = time.monotonic()
    config = CONFIGS["full"]
    log("the wab layer, built by its recipe for this machine")
    try:
        results["meta"]["layer"] = handlers.build_layer()
    except Exception as exc:  # the recipe needs pip and its index: without them, the source folder
        log(f"could not build the layer ({type(exc).__name__}); importing wab from its source folder")
    log("first invocations (libraries preloaded), warm overhead, AWS requests with the relay's: in-process moto")
    reduced = run_inproc(config)
    results["cold_start"]["first_invocation_preloaded"] = reduced["cold_first_invocation"]
    results["warm"] = reduced["warm"]
    results["aws_calls"] = reduced["aws_calls"]
    log("index writes of a broadcast; checks before the provider")
    results["index_writes"] = indexwrites.run("full")
    results["screening"] = screening.run("full")
    results["meta"]["remeasured"] = {
        "inproc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sections": ["1b (preloaded)", "2", "3", "3b", "3c"],
        "machine": machine(),
        "duration_s": time.monotonic() - started,
    }
    derive(results)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=_json_default) + "\n")
    written = report.plots(results, out) if plots else sorted(path.name for path in out.glob("*.png"))
    report.write(results, out, written)
    log(f"measured the in-process sections again in {time.monotonic() - started:.0f} s; wrote report.md")
    return 0


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
