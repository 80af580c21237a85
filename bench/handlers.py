"""Cold start, warm overhead, AWS requests and memory of each handler against its hand-written baseline.

Everything runs in fresh worker processes (`bench.inproc`); this module builds their plans and reduces the results.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import lambda_env as L
from bench import lane_bodies as B
from bench import template_info as T

HANDLER_FLOW = {"callbacks": "mo", "messages": "get", "sender": "send"}  # the flow whose first invocation is timed
HANDLER_FUNCTION = {"callbacks": "CallbacksFunction", "messages": "MessagesFunction", "sender": "SenderFunction"}
# The queues of in-process moto (bench.inproc creates them), keyed as in template_info.QUEUES.
SIM_QUEUE_URLS = {key: f"https://sqs.{L.REGION}.amazonaws.com/{L.ACCOUNT}/{T.NAMES[key]}" for key in T.QUEUES.values()}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def function_env(
    logical_id: str, names: dict[str, str], queue_urls: dict[str, str], extra: dict[str, str] | None = None
) -> dict[str, Any]:
    """Memory, timeout and environment of a function, with the benchmarks' parameters (template_info.UNPACED_RATE)."""
    spec = T.functions()[logical_id]
    return {
        "memory": spec["memory"],
        "timeout": spec["timeout"],
        "env": T.resolved_env(logical_id, names, queue_urls=queue_urls, parameters=T.bench_parameters(), extra=extra),
    }


def run_worker(plan: dict[str, Any], timeout: float = 900) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="wab-bench-") as folder:
        plan = {**plan, "out": os.path.join(folder, "results.json")}
        process = subprocess.run(
            [sys.executable, "-m", "bench.inproc"],
            input=json.dumps(plan),
            text=True,
            capture_output=True,
            timeout=timeout,
            cwd=L.ROOT,
            env=_python_env(),
        )
        if process.returncode != 0 or not os.path.exists(plan["out"]):
            raise RuntimeError(f"bench worker failed ({process.returncode}):\n{process.stderr[-4000:]}")
        results = json.loads(Path(plan["out"]).read_text())
    failed = [result for result in results if not result.get("ok")]
    if failed:
        raise RuntimeError(
            f"{len(failed)} benchmark tasks failed; first: {failed[0].get('error')}\n{failed[0].get('trace', '')}"
        )
    return results


# Installed in this virtualenv (for moto and the SAM CLI) but not in the AWS Lambda Python runtime nor in the wab layer:
# botocore picks up awscrt and (through urllib3) pyOpenSSL when they are importable, which adds ~45 ms to
# `import boto3` here that Lambda never pays. Benchmark processes see stand-ins that fail to import, as in Lambda.
NOT_IN_LAMBDA = ("awscrt", "OpenSSL")
LAMBDA_SITE = L.ROOT / "bench" / ".cache" / "lambda-site"


def lambda_site() -> str:
    for name in NOT_IN_LAMBDA:
        package = LAMBDA_SITE / name
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(f'raise ImportError("{name} is not in the AWS Lambda Python runtime")\n')
    return str(LAMBDA_SITE)


def _python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN"))}
    env["PYTHONPATH"] = os.pathsep.join([lambda_site(), str(L.ROOT)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # as in Lambda, whose file system is read-only
    env.pop("PYTHONSTARTUP", None)
    env.update(extra or {})
    return env


def moto_plan(tasks: list[dict[str, Any]], provider: dict[str, str], seed: int) -> dict[str, Any]:
    functions = {logical_id: function_env(logical_id, T.NAMES, SIM_QUEUE_URLS) for logical_id in T.functions()}
    return {
        "mode": "moto",
        "relay_batch_size": T.relay_mapping()["BatchSize"],
        "relay_filters": [each["Pattern"] for each in T.relay_mapping().get("FilterCriteria", {}).get("Filters", [])],
        "names": T.NAMES,
        "table": T.table_properties(),
        "functions": functions,
        "provider": provider,
        "seed": seed,
        "tasks": tasks,
        "wab_dir": wab_only_dir(),
        "lane_bodies": lane_bodies_for(tasks, f"m{int(time.time())}"),
    }


def task_indices(task: dict[str, Any]) -> range:
    """The flow indices a task's invocations use (bench.inproc.run_task)."""
    counts = {
        "cold": 1,
        "warm": task.get("warmup", 0) + task.get("n", 0),
        "count": task.get("n", 0) + 1 + task.get("relay_samples", 0),
        "memory": task.get("warmup", 0) + task.get("n", 0) + max(task.get("n", 0) // 4, 1),
    }
    base = task.get("offset", 0)
    return range(base, base + counts.get(task["kind"], 0))


def lane_bodies_for(tasks: list[dict[str, Any]], run: str) -> dict[str, dict[str, str]]:
    """The lane messages the tasks' `send` and `chunk` invocations take (bench.lane_bodies)."""
    sends = sorted({index for task in tasks if task["flow"] == "send" for index in task_indices(task)})
    chunks = max((task_indices(task).stop for task in tasks if task["flow"] == "chunk"), default=0)
    bodies = {"send": B.sends(sends, run)}
    if chunks:
        bodies["chunk"] = B.chunks(chunks, run, T.bench_chunk_size())
    return bodies


# --- 1a: importing the handler against a bare `import boto3`, each in a new interpreter -------------------------------

_IMPORT_HANDLER = """
import time
started = time.perf_counter()
{load}
elapsed = time.perf_counter() - started
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1]
print(elapsed * 1000, int(hwm) / 1024)
"""
# A new process importing only the libraries the handler's import loaded (every module in sys.modules that is not
# wab's nor the handler's, in the order they were loaded): the floor the chosen libraries set, with no wab code.
_LIBRARIES_OF_HANDLER = """
import sys
{load}
print("\\n".join(name for name in sys.modules if not name.startswith(("wab.", "handler")) and name != "wab"))
"""
# Import each listed module not loaded yet, with the collector off as the handlers have it while they import.
_LOAD_MODULES = """
import gc, importlib, sys
gc.disable()
for name in {modules!r}:
    if name not in sys.modules:
        try:
            importlib.import_module(name)
        except Exception:
            pass
"""
_IMPORT_LIBRARIES = (
    """
import time
started = time.perf_counter()
"""
    + _LOAD_MODULES
    + """
elapsed = time.perf_counter() - started
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1]
print(elapsed * 1000, int(hwm) / 1024)
"""
)
# The gateway's own part measured directly: in one interpreter, the same libraries first (untimed), then the handler's
# import timed. Free of the difference of two processes' noise and of the order the libraries load in. The collector
# stays off throughout, as in a handler's own import: switched on here, its first collection would walk every object
# the libraries made and charge that to the gateway.
_IMPORT_HANDLER_AFTER_LIBRARIES = (
    _LOAD_MODULES
    + """
import time
started = time.perf_counter()
{load}
print((time.perf_counter() - started) * 1000)
"""
)
_IMPORT_BOTO3 = """
import time
started = time.perf_counter()
import sys
sys.path[:0] = [{layer!r}]
import boto3
elapsed = time.perf_counter() - started
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1]
print(elapsed * 1000, int(hwm) / 1024)
"""


def _load_handler(path: Path, layer: str | None = None) -> str:
    """Source lines importing the handler file at `path` as Lambda does: the layer, then the handler's folder, first
    on sys.path (the module is `module`)."""
    return (
        f"import importlib.util, sys\nsys.path[:0] = [{layer or layer_dir()!r}, {str(path.parent)!r}]\n"
        f"spec = importlib.util.spec_from_file_location('handler', {str(path)!r})\n"
        "module = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(module)\n"
    )


def _handler_path(handler: str) -> Path:
    return L.ROOT / "functions" / handler / "app.py"


def _handler_code(handler: str) -> str:
    return _IMPORT_HANDLER.format(load=_load_handler(_handler_path(handler)))


def _boto3_code() -> str:
    return _IMPORT_BOTO3.format(layer=layer_dir())


# --- the layer as Lambda gets it ---------------------------------------------------------------------------------

BUILT_LAYER = L.ROOT / "bench" / ".cache" / "layer"
_layer: list[str] = []


def layer_dir() -> str:
    """Where cold starts import from: the layer built by its own recipe (layers/wab/Makefile, as `sam build` runs it:
    pinned versions, compiled bytecode) for this machine's platform; until `build_layer`, the source folder."""
    return _layer[0] if _layer else str(L.LAYER_DIR)


def build_layer() -> str:
    """Build it; beside it, the same without bytecode (what `sam build`'s python build method would ship) and a
    folder holding only its `wab` package (for processes that take the other libraries from this virtualenv)."""
    subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(L.LAYER_DIR),
            "layer",
            f"ARTIFACTS_DIR={BUILT_LAYER}",
            "PLATFORM=",
            f"PYTHON={sys.executable}",
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    shutil.copytree(BUILT_LAYER / "python", BUILT_LAYER / "sources-only", ignore=shutil.ignore_patterns("__pycache__"))
    (BUILT_LAYER / "wab-only").mkdir()
    (BUILT_LAYER / "wab-only" / "wab").symlink_to(BUILT_LAYER / "python" / "wab")
    _layer[:] = [str(BUILT_LAYER / "python")]
    return _layer[0]


def wab_only_dir() -> str | None:
    return str(BUILT_LAYER / "wab-only") if _layer else None


def _lambda_process_env(handler: str) -> dict[str, str]:
    logical_id = HANDLER_FUNCTION[handler]
    spec = function_env(logical_id, T.NAMES, SIM_QUEUE_URLS)
    return _python_env(L.lambda_environment(f"wab-{logical_id}", spec["memory"], spec["env"]))


def _run_python(
    code: str, env: dict[str, str], *flags: str, python: str = sys.executable
) -> subprocess.CompletedProcess:
    process = subprocess.run(
        [python, *flags, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd="/"
    )
    if process.returncode != 0:
        raise RuntimeError(f"import benchmark failed: {process.stderr[-2000:]}")
    return process


def import_times(handler: str, samples: int) -> dict[str, Any]:
    """Wall time of importing the handler module vs `import boto3`, alternating, each in a new interpreter; and of
    importing just the libraries the handler's import loads (no wab code, no objects created), the floor they set."""
    env = _lambda_process_env(handler)
    path = _handler_path(handler)
    modules = _libraries_loaded_by(_load_handler(path), env)
    libraries_code = _IMPORT_LIBRARIES.format(modules=modules)
    own_code = _IMPORT_HANDLER_AFTER_LIBRARIES.format(modules=modules, load=_load_handler(path))
    sources_only = (
        _IMPORT_HANDLER.format(load=_load_handler(path, str(BUILT_LAYER / "sources-only"))) if _layer else None
    )
    ours, boto3, libraries, ours_sources, ours_rss, boto3_rss, own = [], [], [], [], [], [], []
    for _ in range(samples):
        ms, rss = map(float, _run_python(_handler_code(handler), env).stdout.split())
        ours.append(ms)
        ours_rss.append(rss)
        ms, rss = map(float, _run_python(_boto3_code(), env).stdout.split())
        boto3.append(ms)
        boto3_rss.append(rss)
        libraries.append(float(_run_python(libraries_code, env).stdout.split()[0]))
        own.append(float(_run_python(own_code, env).stdout.split()[0]))
        if sources_only:
            ours_sources.append(float(_run_python(sources_only, env).stdout.split()[0]))
    return {
        "ours_ms": ours,
        "boto3_ms": boto3,
        "libraries_ms": libraries,
        "ours_sources_only_ms": ours_sources,
        "ours_rss_mb": median(ours_rss),
        "boto3_rss_mb": median(boto3_rss),
        "ratio": median(ours) / median(boto3),
        "libraries_ratio": median(libraries) / median(boto3),
        "own_ms": median(ours) - median(libraries),
        "own_in_process_ms": own,
    }


def _libraries_loaded_by(load: str, env: dict[str, str], python: str = sys.executable) -> list[str]:
    """The library modules the handler import in `load` loads, in their order, beyond a bare interpreter's."""
    before = _INTERPRETER_MODULES if python == sys.executable else _interpreter_modules(python)
    listing = _LIBRARIES_OF_HANDLER.format(load=load)
    return [name for name in _run_python(listing, env, python=python).stdout.split() if name not in before]


def _own_part_code(path: Path, env: dict[str, str], *, layer: str | None = None, python: str = sys.executable) -> str:
    """Source timing wab's own part of importing the handler at `path`: its libraries first (untimed), then the
    handler. With a `layer` of its own, that layer comes first for the libraries too: its pins, for its Python."""
    load = _load_handler(path, layer)
    code = _IMPORT_HANDLER_AFTER_LIBRARIES.format(modules=_libraries_loaded_by(load, env, python), load=load)
    return code if layer is None else f"import sys\nsys.path[:0] = [{layer!r}]\n" + code


# --- 1a, like for like: the code of the last python3.11 run, imported on both runtimes -------------------------------

THEN_COMMIT = "74a868b"  # the tree the last full run on python3.11 measured (2026-11-26T01:14:22Z)
THEN_PYTHON = "python3.11"
LIKE_FOR_LIKE_SAMPLES = 15  # per side and handler: the differences sought are a few ms, the noise about as much


def like_for_like(samples: int = LIKE_FOR_LIKE_SAMPLES) -> dict[str, Any] | None:
    """wab's own part of each handler's import, in one process as `import_times` measures it, for the code of the
    last python3.11 run on python3.11 and on python3.13, and for this tree on python3.13, the three interleaved:
    what the runtime changed, apart from what the code since did. Each tree imports from a layer its own recipe
    built, with its own pins, for the Python it runs on. None when this machine has no python3.11."""
    from bench.sendbench import legacy_tree

    python311 = shutil.which(THEN_PYTHON)
    if python311 is None:
        return None
    then = legacy_tree(THEN_COMMIT)
    venv311 = BUILT_LAYER.parent / "venv-3.11"
    if not (venv311 / "bin" / "python").exists():
        subprocess.run([python311, "-m", "venv", "--clear", str(venv311)], check=True, capture_output=True)
    sides = {
        "then_py311": (
            str(venv311 / "bin" / "python"),
            _built_layer(then, "3.11", str(venv311 / "bin" / "python")),
            then,
        ),
        "then_py313": (sys.executable, _built_layer(then, "3.13", sys.executable), then),
        "now_py313": (sys.executable, layer_dir(), L.ROOT),
    }
    out: dict[str, Any] = {"commit": THEN_COMMIT, "samples": samples, "handlers": {}}
    for handler in HANDLER_FLOW:
        env = _lambda_process_env(handler)
        codes = {
            side: _own_part_code(root / "functions" / handler / "app.py", env, layer=layer, python=python)
            for side, (python, layer, root) in sides.items()
        }
        runs: dict[str, list[float]] = {side: [] for side in sides}
        for _ in range(samples):
            for side, code in codes.items():
                runs[side].append(float(_run_python(code, env, python=sides[side][0]).stdout.split()[0]))
        out["handlers"][handler] = runs
    return out


def _built_layer(root: Path, version: str, python: str) -> str:
    """The layer of the tree at `root`, built once by its own recipe for `python` on this machine."""
    artifacts = root / ".layer" / version
    if not (artifacts / "python" / "wab").is_dir():
        subprocess.run(
            [
                "make",
                "-s",
                "-C",
                str(root / "layers" / "wab"),
                "layer",
                f"ARTIFACTS_DIR={artifacts}",
                "PLATFORM=",
                f"PYTHON={python}",
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return str(artifacts / "python")


def _interpreter_modules(python: str = sys.executable) -> frozenset[str]:
    """What a bare interpreter has loaded before running anything (not part of any import being timed)."""
    listing = subprocess.run(
        [python, "-c", "import sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        env=_python_env(),
        cwd="/",
    )
    return frozenset(listing.stdout.split())


_INTERPRETER_MODULES = _interpreter_modules()


def import_breakdown(handler: str | None) -> dict[str, float]:
    """Self time of every module imported, summed per top-level package (python -X importtime), in ms."""
    env = _lambda_process_env(handler or "callbacks")
    process = _run_python(_handler_code(handler) if handler else _boto3_code(), env, "-X", "importtime")
    totals: dict[str, float] = {}
    for line in process.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line[len("import time:") :].split("|")
        package = name.strip().split(".")[0]
        if package in sys.stdlib_module_names or package.lstrip("_") in sys.stdlib_module_names:
            package = "(standard library)"
        totals[package] = totals.get(package, 0.0) + int(self_us) / 1000
    return dict(sorted(totals.items(), key=lambda total: total[1], reverse=True))


def own_modules(handler: str, samples: int) -> dict[str, float]:
    """Where wab's own part of the import goes: the self time of each of the gateway's modules (python -X importtime)
    in one process after the libraries, as `import_times` measures that part, median of `samples` runs, in ms."""
    env = _lambda_process_env(handler)
    code = _own_part_code(_handler_path(handler), env)
    runs: dict[str, list[float]] = {}
    for _ in range(samples):
        for line in _run_python(code, env, "-X", "importtime").stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, _cumulative, name = line[len("import time:") :].split("|")
            if name.strip().split(".")[0] in ("wab", "handler"):
                runs.setdefault(name.strip(), []).append(int(self_us) / 1000)
    medians = {name: statistics.median(times) for name, times in runs.items()}
    return dict(sorted(medians.items(), key=lambda each: each[1], reverse=True))


_SESSION_CLIENTS = """
import json, sys, time
{load}
import boto3
boto3.client("dynamodb")
t0 = time.perf_counter()
boto3.client("secretsmanager")
t1 = time.perf_counter()
boto3.session.Session().client("secretsmanager")
t2 = time.perf_counter()
print(json.dumps({{"shared_session_client_ms": (t1 - t0) * 1000, "new_session_client_ms": (t2 - t1) * 1000}}))
"""


def session_diagnostic(handler: str, samples: int) -> dict[str, float]:
    """In a fresh interpreter with the handler imported and a first client made: one more client of the default
    session against a client of a new session (what Powertools' parameters utility creates for itself)."""
    code = _SESSION_CLIENTS.format(load=_load_handler(_handler_path(handler)))
    env = _lambda_process_env(handler)
    runs = []
    for _ in range(samples):
        process = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd="/"
        )
        if process.returncode != 0:
            raise RuntimeError(f"session diagnostic failed: {process.stderr[-2000:]}")
        runs.append(json.loads(process.stdout.strip().splitlines()[-1]))
    return {key: median([run[key] for run in runs]) for key in runs[0]}


# --- 1b, 2, 3: first invocation, warm invocations and AWS requests, against in-process moto -------------------------


# Invocations of each counted flow (ours) whose stream records the relay handles timed (bench.inproc.TableStream).
RELAY_SAMPLES = 5


def handler_tasks(cold_samples: int, warm_n: int, warmup: int, count_n: int) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    for handler, flow in HANDLER_FLOW.items():
        for sample in range(cold_samples):
            sides = ("ours", "baseline") if sample % 2 == 0 else ("baseline", "ours")
            tasks += [{"kind": "cold", "handler": handler, "flow": flow, "side": side} for side in sides]
            tasks.append({"kind": "cold", "handler": handler, "flow": flow, "side": "ours", "gc_variant": True})
    for flow in L.FLOWS:
        half = max(warm_n // 2, 1)
        # Two rounds in opposite order, so a drift of the machine's speed does not favour one side.
        for round_, sides in enumerate((("ours", "baseline"), ("baseline", "ours"))):
            tasks += [
                {
                    "kind": "warm",
                    "flow": flow,
                    "side": side,
                    "warmup": warmup,
                    "n": half,
                    "round": round_,
                }
                for side in sides
            ]
        tasks += [{"kind": "count", "flow": flow, "side": "ours", "n": count_n, "relay_samples": RELAY_SAMPLES}]
        tasks.append({"kind": "count", "flow": flow, "side": "baseline", "n": count_n})
    tasks += [
        {"kind": "count", "flow": flow, "side": "ours", "n": count_n, "relay_samples": RELAY_SAMPLES}
        for flow in L.COUNT_ONLY_FLOWS
    ]
    # The intake's own time per batch (no hand-written baseline): it enters the cost of a send.
    tasks.append({"kind": "warm", "flow": "intake", "side": "ours", "warmup": warmup, "n": max(warm_n // 2, 1)})
    return tasks


def reduce_handler_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    cold: dict[str, Any] = {}
    for handler in HANDLER_FLOW:
        sides = {}
        for side in ("ours", "baseline"):
            samples = [
                r
                for r in results
                if r["kind"] == "cold" and r.get("handler") == handler and r["side"] == side and not r.get("gc_variant")
            ]
            totals = [r["import_ms"] + r["first_ms"] for r in samples]
            sides[side] = {
                "total_ms": totals,
                "import_ms": [r["import_ms"] for r in samples],
                "first_ms": [r["first_ms"] for r in samples],
                "median_total_ms": median(totals),
                "median_import_ms": median([r["import_ms"] for r in samples]),
                "median_first_ms": median([r["first_ms"] for r in samples]),
                "median_first_aws_ms": median([r["first_aws_ms"] for r in samples]),
                "median_first_moto_ms": median([r["first_moto_ms"] for r in samples]),
                "median_first_provider_ms": median([r["first_provider_ms"] for r in samples]),
                "first_ops": samples[0]["first_ops"] if samples else [],
                "median_first_gc_ms": median([r["first_gc_ms"] for r in samples]),
                "median_first_full_collections": median([r["first_full_collections"] for r in samples]),
                "first_sessions": max((r["first_sessions"] for r in samples), default=0),
                "handler_freezes": any(r["handler_freezes"] for r in samples),
                "median_import_cpu_ms": median([r["import_cpu_ms"] for r in samples]),
                "median_first_cpu_ms": median([r["first_cpu_ms"] for r in samples]),
                "aws_calls_first": samples[0]["first_calls"] if samples else 0,
            }
        variant = [r for r in results if r["kind"] == "cold" and r.get("handler") == handler and r.get("gc_variant")]
        # The first invocation the other way round: frozen if the handler does not call gc.freeze(), unfrozen if it
        # does.
        sides["ours_gc_variant"] = {
            "frozen": not any(r["handler_freezes"] for r in variant),
            "median_first_ms": median([r["first_ms"] for r in variant]),
            "median_first_gc_ms": median([r["first_gc_ms"] for r in variant]),
            "median_first_full_collections": median([r["first_full_collections"] for r in variant]),
            "median_total_ms": median([r["import_ms"] + r["first_ms"] for r in variant]),
        }
        cold[handler] = {**sides, "ratio": sides["ours"]["median_total_ms"] / sides["baseline"]["median_total_ms"]}

    warm: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    for flow in L.FLOWS:
        sides = {}
        for side in ("ours", "baseline"):
            runs = [r for r in results if r["kind"] == "warm" and r["flow"] == flow and r["side"] == side]
            ms = [value for r in runs for value in r["ms"]]
            aws = [value for r in runs for value in r["aws_ms"]]
            moto = [value for r in runs for value in r["moto_ms"]]
            provider = [value for r in runs for value in r["provider_ms"]]
            own = [total - inside - out for total, inside, out in zip(ms, aws, provider, strict=True)]
            sides[side] = {
                "n": len(ms),
                "median_ms": median(ms),
                "p90_ms": percentile(ms, 0.9),
                "mean_ms": statistics.fmean(ms),
                "median_aws_ms": median(aws),
                "median_moto_ms": median(moto),
                "median_provider_ms": median(provider),
                "median_sdk_ms": median([a - m for a, m in zip(aws, moto, strict=True)]),
                "median_outside_aws_ms": median(own),
                "median_not_moto_ms": median([total - m - p for total, m, p in zip(ms, moto, provider, strict=True)]),
                "log_bytes_per_invocation": sum(r["log_bytes"] for r in runs)
                / max(sum(r["n"] + r["warmup"] for r in runs), 1),
            }
        warm[flow] = {
            **sides,
            "ratio": sides["ours"]["median_ms"] / sides["baseline"]["median_ms"],
            "ratio_outside_moto": sides["ours"]["median_not_moto_ms"] / sides["baseline"]["median_not_moto_ms"],
        }
        count = {}
        for side in ("ours", "baseline"):
            [run] = [r for r in results if r["kind"] == "count" and r["flow"] == flow and r["side"] == side]
            count[side] = {
                "first": [f"{c['service']}.{c['operation']}" for c in run["first"]],
                "steady": run["steady"][-1],
                "log_bytes_per_invocation": run["log_bytes_per_invocation"],
                "info_log_bytes_per_invocation": run.get("info_log_bytes_per_invocation", 0.0),
            }
        count["ours"].update(_relay_counts(run_of(results, flow, "ours")))
        steady_ops = {side: {op: v["count"] for op, v in count[side]["steady"].items()} for side in count}
        counts[flow] = {
            **count,
            "same_calls": steady_ops["ours"] == steady_ops["baseline"]
            and count["ours"]["first"] == count["baseline"]["first"],
        }
    for flow in L.COUNT_ONLY_FLOWS:
        [run] = [r for r in results if r["kind"] == "count" and r["flow"] == flow]
        counts[flow] = {
            "ours": {
                "first": [f"{c['service']}.{c['operation']}" for c in run["first"]],
                "steady": run["steady"][-1],
                "log_bytes_per_invocation": run["log_bytes_per_invocation"],
                "info_log_bytes_per_invocation": run.get("info_log_bytes_per_invocation", 0.0),
                **_relay_counts(run),
            }
        }
        runs = [r for r in results if r["kind"] == "warm" and r["flow"] == flow]
        if runs:
            ms = [value for r in runs for value in r["ms"]]
            moto = [value for r in runs for value in r["moto_ms"]]
            provider = [value for r in runs for value in r["provider_ms"]]
            counts[flow]["ours"]["warm"] = {
                "n": len(ms),
                "median_ms": median(ms),
                "median_not_moto_ms": median([t - m - p for t, m, p in zip(ms, moto, provider, strict=True)]),
                "median_provider_ms": median(provider),
            }
    counts["chunk"]["recipients"] = T.bench_chunk_size()
    counts["intake"]["requests"] = L.INTAKE_BATCH
    _check_flows(counts)
    return {"cold_first_invocation": cold, "warm": warm, "aws_calls": counts}


def run_of(results: list[dict[str, Any]], flow: str, side: str) -> dict[str, Any]:
    [run] = [r for r in results if r["kind"] == "count" and r["flow"] == flow and r["side"] == side]
    return run


def _relay_counts(run: dict[str, Any]) -> dict[str, Any]:
    """What the relay did with the stream records one steady invocation of the flow left (its last), and its time
    per invocation (bench.inproc.TableStream); nothing when the flow had no relay (the hand-written side)."""
    relay = run.get("relay")
    if not relay:
        return {}
    steady = relay["steady"][-1] if relay["steady"] else relay["first"]
    timing = relay["timing"]
    timed = [sample for sample in timing if sample["invocations"]]
    per = lambda key: median([s[key] / s["invocations"] for s in timed])  # noqa: E731
    return {
        "relay": {
            "records": steady["records"],  # stream records the mapping hands the relay, per invocation of the flow
            "invocations": steady["invocations"],
            "events": steady["events"],
            "counted": steady["counted"],
            "counter_keys": steady["counter_keys"],
            "steady": steady["steady"],
            "first": relay["first"]["steady"],
            "log_bytes_per_invocation": steady["log_bytes"] / steady["invocations"] if steady["invocations"] else 0.0,
            "timing": {
                "n": len(timed),
                "records_per_invocation": median([s["records"] / s["invocations"] for s in timed]),
                "median_ms": per("ms"),
                "median_cpu_ms": per("cpu_ms"),
                "median_not_moto_ms": median([(s["ms"] - s["moto_ms"]) / s["invocations"] for s in timed]),
            },
        }
    }


def _check_flows(counts: dict[str, Any]) -> None:
    """Each flow did what it stands for: a handler that answers without failures may still have done something else
    (a sender that could not read its lane message reports it invalid, and that is a success too). Ours publishes
    `Accepted` from the table's stream (the relay); the hand-written sender leaves it in the record it stores."""
    accepted = "WhatsApp Message Accepted"
    for flow in ("send", "chunk"):
        for side in ("ours", "baseline"):
            steady = counts[flow].get(side, {}).get("steady")
            if steady is None:
                continue
            relayed = counts[flow][side].get("relay", {}).get("steady", {})
            notes = [note for calls in (steady, relayed) for note in calls.get("events.PutEvents", {}).get("notes", [])]
            stored = "MSG table" in steady.get("dynamodb.PutItem", {}).get("stored", {}) or "MSG table" in steady.get(
                "dynamodb.BatchWriteItem", {}
            ).get("stored", {})
            if (side == "ours" and accepted not in notes) or (side == "baseline" and not stored):
                raise RuntimeError(f"{flow}/{side}: no `{accepted}` published; the flow did not send ({steady})")
    if "sqs.SendMessageBatch" not in counts["intake"]["ours"]["steady"]:
        raise RuntimeError(f"intake: nothing put on a lane ({counts['intake']['ours']['steady']})")


# --- memory: in a process of its own against a moto server, so only the handler's memory is counted ---------------


def memory_tasks(
    n: int, warmup: int, recipients: int, chunk: int, flows: list[str] | None = None
) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    for position, flow in enumerate(flows or L.FLOWS):
        for side_position, side in enumerate(("ours", "baseline")):
            tasks.append(
                {
                    "kind": "memory",
                    "flow": flow,
                    "side": side,
                    "warmup": warmup,
                    "n": n,
                    "offset": 1000 * (2 * position + side_position),
                }
            )
    # A broadcast as it goes: the intake splits the request into chunks on the (scratch) bulk lane, then the sender
    # takes chunks the intake made (run_memory hands them over). Each function in a process of its own, as in Lambda.
    broadcast = {"kind": "broadcast_memory", "side": "ours", "warmup": 2, "recipients": recipients, "chunk": chunk}
    tasks.append({**broadcast, "stage": "split", "flow": "intake", "offset": 20_000})
    tasks.append({**broadcast, "stage": "chunk", "flow": "chunk"})
    return tasks


def scratch_queues(stack: Any) -> dict[str, str]:
    """FIFO queues on the stack's moto server for the functions run beside the stack (memory, cold starts): what
    they put on a lane must not reach the stack's own sender. Keyed as in template_info.QUEUES."""
    sqs = stack.client("sqs")
    urls = {}
    for key in T.QUEUES.values():
        attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true" if key == "queue" else "false"}
        urls[key] = sqs.create_queue(QueueName=f"bench-scratch-{key.replace('_', '-')}.fifo", Attributes=attributes)[
            "QueueUrl"
        ]
    return urls


def _stack_functions(stack: Any, scratch: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    """The stack's resource names, and each function's settings pointing at the stack's moto server."""
    info = stack.info
    names = {
        "table": info["table_name"],
        "bus": info["event_bus_name"],
        "callback_secret": stack.resolver.ref("CallbackCredentialsSecret"),
        "provider_secret": stack.resolver.ref("ProviderSecret"),
        **{key: url.rsplit("/", 1)[-1] for key, url in scratch.items()},
    }
    extra = {"AWS_ENDPOINT_URL": info["aws_endpoint_url"]}
    return names, {logical_id: function_env(logical_id, names, scratch, extra) for logical_id in T.functions()}


def run_memory(stack: Any, tasks: list[dict[str, Any]], scratch: dict[str, str]) -> list[dict[str, Any]]:
    """Each task in a new process against the local stack's moto server and simulator."""
    from bench.inproc import seed

    info = stack.info
    names, functions = _stack_functions(stack, scratch)
    dynamodb = stack.client("dynamodb")
    for task in tasks:
        if task["kind"] == "memory":  # each task its own MT records and contacts (DLRs must find `accepted`)
            count = task["warmup"] + task["n"] + max(task["n"] // 4, 1) + 1
            seed(dynamodb, info["table_name"], range(task["offset"], task["offset"] + count))
    bodies = lane_bodies_for([task for task in tasks if task["kind"] == "memory"], f"e{int(time.time())}")
    results = []
    for task in tasks:
        if task.get("stage") == "chunk":
            task = {**task, "bodies": _take_lane_messages(stack, scratch["bulk_lane"], task["warmup"] + 2)}
        plan = {
            "mode": "endpoint",
            "names": names,
            "queue_names": {key: names[key] for key in scratch},
            "functions": functions,
            "seed": 0,
            "tasks": [task],
            "lane_bodies": bodies,
            "callback_auth": [info["callback_username"], info["callback_password"]],
        }
        results += run_worker(plan)
    return results


def _take_lane_messages(stack: Any, queue_url: str, count: int) -> list[str]:
    """`count` bodies from a lane (the intake's chunks, in the order it made them)."""
    sqs = stack.client("sqs")
    bodies: list[str] = []
    for _ in range(20):
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        bodies += [message["Body"] for message in answer.get("Messages", [])]
        if len(bodies) >= count:
            return bodies[:count]
    raise RuntimeError(f"the intake put {len(bodies)} chunks on the scratch bulk lane, fewer than {count}")


def reduce_memory(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for result in results:
        if result["kind"] == "memory":
            out.setdefault(result["flow"], {})[result["side"]] = {
                key: result[key] for key in ("rss_import_mb", "rss_warm_mb", "rss_peak_mb", "tracemalloc_peak_mb")
            }
            continue
        broadcast = out.setdefault("broadcast", {})
        broadcast.update(
            recipients=result["recipients"],
            chunk=result["chunk"],
            chunks=-(-result["recipients"] // result["chunk"]),
        )
        function, work = ("intake", "split") if result["stage"] == "split" else ("sender", "chunk")
        broadcast[f"{function}_rss_warm_mb"] = result["rss_warm_mb"]
        broadcast[f"{function}_rss_peak_mb"] = result["rss_peak_mb"]
        broadcast[f"{work}_ms"] = result["ms"]
        broadcast[f"{work}_log_bytes"] = result["log_bytes"]
        broadcast[f"{work}_tracemalloc_peak_mb"] = result["tracemalloc_peak_mb"]
    return out


# --- 1b: import + first invocation, each in a new interpreter against the local stack's moto server ---------------

_COLD_START = """
import json, sys, time
event = json.loads({event!r})


class Context:
    function_name, function_version, memory_limit_in_mb = {function!r}, "$LATEST", {memory!r}
    invoked_function_arn = {arn!r}
    aws_request_id, log_group_name, log_stream_name = "bench-cold-start", "/aws/lambda/" + {function!r}, "bench"

    def get_remaining_time_in_millis(self):
        return 30000


started = time.perf_counter()
{load}
imported = time.perf_counter()
answer = module.lambda_handler(event, Context())
done = time.perf_counter()
with open({out!r}, "w") as out:
    json.dump({{"import_ms": (imported - started) * 1000, "first_ms": (done - imported) * 1000, "answer": answer}}, out)
"""


def run_cold_starts(stack: Any, samples: int, scratch: dict[str, str]) -> dict[str, Any]:
    """1b as Lambda has it: a new interpreter imports the handler (boto3 included, from the built layer on both
    sides) and serves its first request, whose AWS calls go to the stack's moto server over HTTP."""
    from bench.inproc import seed

    names, functions = _stack_functions(stack, scratch)
    L.CALLBACK_USER, L.CALLBACK_PASSWORD = stack.info["callback_username"], stack.info["callback_password"]
    dynamodb = stack.client("dynamodb")
    offset = 40_000
    runs: dict[str, dict[str, list[dict[str, float]]]] = {}
    cold_run = f"cold{int(time.time())}"
    B.install("send", B.sends(range(offset + 1, offset + 1 + 2 * samples * len(HANDLER_FLOW)), cold_run))
    with tempfile.TemporaryDirectory(prefix="wab-bench-cold-") as folder:
        for handler, flow in HANDLER_FLOW.items():
            spec = L.FLOWS[flow]
            function = functions[spec["function"]]
            env = _python_env(L.lambda_environment(f"wab-{spec['function']}", function["memory"], function["env"]))
            for sample in range(samples):
                for side in ("ours", "baseline") if sample % 2 == 0 else ("baseline", "ours"):
                    offset += 1
                    seed(dynamodb, names["table"], range(offset, offset + 1))
                    out = os.path.join(folder, f"{handler}-{side}-{sample}.json")
                    if flow == "send":
                        event = L.sqs_event([L.lane_body(flow, offset)], "priority_lane", names=names)
                    else:
                        event = L.flow_event(flow, offset, f"cold{sample}{side[0]}")
                    code = _COLD_START.format(
                        event=json.dumps(event),
                        function=f"wab-{spec['function']}",
                        memory=str(function["memory"]),
                        arn=f"arn:aws:lambda:{L.REGION}:{L.ACCOUNT}:function:wab-{spec['function']}",
                        load=_load_handler(L.ROOT / spec[side]),
                        out=out,
                    )
                    _run_python(code, env)
                    result = json.loads(Path(out).read_text())
                    if not L.succeeded(flow, result.pop("answer")):
                        raise RuntimeError(f"cold start {handler}/{side}: the first invocation did not succeed")
                    runs.setdefault(handler, {}).setdefault(side, []).append(result)
    cold: dict[str, Any] = {}
    for handler, sides in runs.items():
        cold[handler] = {
            side: {
                "import_ms": [r["import_ms"] for r in results],
                "first_ms": [r["first_ms"] for r in results],
                "total_ms": [r["import_ms"] + r["first_ms"] for r in results],
                "median_import_ms": median([r["import_ms"] for r in results]),
                "median_first_ms": median([r["first_ms"] for r in results]),
                "median_total_ms": median([r["import_ms"] + r["first_ms"] for r in results]),
            }
            for side, results in sides.items()
        }
        cold[handler]["ratio"] = cold[handler]["ours"]["median_total_ms"] / cold[handler]["baseline"]["median_total_ms"]
    return cold
