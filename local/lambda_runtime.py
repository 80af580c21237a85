"""Run the template's Python Lambda handlers in this process, the way the Lambda runtime would call them.

Each function's module is imported under a unique name (every handler lives in a file called `app.py`), once per
execution environment (see `LocalFunction`), with the layers' folders on `sys.path` like `/opt/python`. All handlers
share one process, so all functions' environment variables are merged into `os.environ` once; two functions giving
one variable different values is an error found at start (`merge_function_environments`). What a handler writes
to stdout/stderr (Powertools logs, EMF metrics, stray prints) goes to `.wab-local/logs/<LogicalId>.log`:
`sys.stdout`/`sys.stderr` are replaced by streams that write to the log of the function the current invocation is
running (threads it starts included), and to the original stream otherwise.

Differences from Lambda worth knowing: concurrent invocations get their own import of the handler module but share
everything it imports (the layer's package, Powertools' class-level metric store, loggers: each log line still
names its own function and request), and a handler running
past its Timeout is not killed — its result is thrown away and the invocation fails as "Task timed out", as in
Lambda.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)


class EnvironmentConflict(Exception):
    """Two functions set one environment variable to different values; one shared process cannot hold both."""


class InvocationError(Exception):
    """An invocation failed the way Lambda reports it: `error_type` is Lambda's errorType."""

    def __init__(self, error_type: str, message: str):
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


def merge_function_environments(environments: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Merge every function's (resolved) variables into one mapping; raise EnvironmentConflict on a disagreement."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    conflicts = []
    for function_id, variables in environments.items():
        for name, value in variables.items():
            value = str(value)
            if name in merged and merged[name] != value:
                conflicts.append(f"{name} is {merged[name]!r} in {owner[name]} but {value!r} in {function_id}")
                continue
            merged.setdefault(name, value)
            owner.setdefault(name, function_id)
    if conflicts:
        raise EnvironmentConflict(
            "functions share one process locally, so their environment variables must agree: " + "; ".join(conflicts)
        )
    return merged


class ProcessEnvironment:
    """Puts variables into os.environ and folders onto sys.path, and takes exactly those changes back."""

    def __init__(self, variables: Mapping[str, str], paths: list[Path]):
        self.variables = dict(variables)
        self.paths = [str(path) for path in paths]
        self._previous: dict[str, str | None] = {}
        self._added_paths: list[str] = []

    def apply(self) -> None:
        for name, value in self.variables.items():
            self._previous[name] = os.environ.get(name)
            os.environ[name] = value
        for path in reversed(self.paths):
            if path not in sys.path:
                sys.path.insert(0, path)
                self._added_paths.append(path)

    def restore(self) -> None:
        for name, value in self._previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._previous.clear()
        for path in self._added_paths:
            if path in sys.path:
                sys.path.remove(path)
        self._added_paths.clear()


# ---------------------------------------------------------------------------------------------------------------
# Output routing: what a handler prints goes to its function's log file
# ---------------------------------------------------------------------------------------------------------------


# The Lambda context keys of the invocation a thread runs for. Every handler here shares one Powertools logger (one
# process, one `wab` package), whose keys the last invocation to start set: a concurrent invocation's lines would
# name another function and request. A filter on every log handler puts each line's own keys on it instead.
_INVOCATION_KEYS: ContextVar[dict[str, Any] | None] = ContextVar("invocation_keys", default=None)


class _InvocationKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        keys = _INVOCATION_KEYS.get()
        if keys:
            record.__dict__.update(keys)  # structured formatters put a record's extra attributes over their own keys
        return True


_INVOCATION_FILTER = _InvocationKeys()


def _filter_every_log_handler() -> None:
    """Add the filter to every handler any logger has by now (a handler module's import creates its loggers)."""
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if _INVOCATION_FILTER not in handler.filters:
                handler.addFilter(_INVOCATION_FILTER)


class FunctionLog:
    """A function's log file (fresh at each start), which several threads write whole chunks to."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = open(path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 (open until close())
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            if not self._file.closed:
                self._file.write(text)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


class _RoutedStream:
    """Stands in for sys.stdout/sys.stderr: writes go to the current thread's function log, else to the original."""

    def __init__(self, original: TextIO, router: OutputRouter):
        self._original = original
        self._router = router

    def write(self, text: str) -> int:
        target = self._router.current()
        return (target or self._original).write(text)

    def flush(self) -> None:
        target = self._router.current()
        (target or self._original).flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


class OutputRouter:
    """Process-wide switch of sys.stdout/sys.stderr to per-thread function logs. Install it before importing handlers:
    loggers created at import time keep a reference to the stream they saw."""

    _lock = threading.Lock()
    _installed: OutputRouter | None = None
    _users = 0

    def __init__(self) -> None:
        # A context variable, not a thread-local: threads a handler starts for its work (the sender's records) run in
        # a copy of the invocation's context, so their output reaches the same function log.
        self._target: ContextVar[FunctionLog | None] = ContextVar("function_log", default=None)
        self._originals: tuple[TextIO, TextIO] = (sys.stdout, sys.stderr)
        self._streams = (_RoutedStream(sys.stdout, self), _RoutedStream(sys.stderr, self))

    @classmethod
    def install(cls) -> OutputRouter:
        with cls._lock:
            if cls._installed is None:
                router = cls()
                sys.stdout, sys.stderr = router._streams
                cls._installed = router
            cls._users += 1
            return cls._installed

    @classmethod
    def uninstall(cls) -> None:
        with cls._lock:
            cls._users = max(cls._users - 1, 0)
            router = cls._installed
            if cls._users or router is None:
                return
            # Only put the originals back if nobody (pytest's capture, for one) replaced our streams meanwhile.
            if sys.stdout is router._streams[0]:
                sys.stdout = router._originals[0]
            if sys.stderr is router._streams[1]:
                sys.stderr = router._originals[1]
            cls._installed = None

    def current(self) -> FunctionLog | None:
        return self._target.get()

    @contextmanager
    def routed_to(self, target: FunctionLog) -> Iterator[None]:
        token = self._target.set(target)
        try:
            yield
        finally:
            self._target.reset(token)


# ---------------------------------------------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class LambdaContext:
    """The context object of Lambda's Python runtime (same attribute names and types)."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: str  # the Python runtime reads it from an environment variable, so it is a string
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_monotonic: float
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.deadline_monotonic - time.monotonic()) * 1000), 0)


@dataclass
class ExecutionEnvironment:
    """One import of a function's module: like a Lambda execution environment, it runs one invocation at a time."""

    module_name: str
    handler: Callable[[Any, LambdaContext], Any]


class HandlerUnavailable(Exception):
    def __init__(self, error_type: str, reason: str):
        super().__init__(reason)
        self.error_type = error_type
        self.reason = reason


class LocalFunction:
    """One Lambda function of the template, loaded from its folder and invoked in this process.

    Each concurrent invocation gets an execution environment of its own: a separate import of the handler's module
    (`_wab_local_<LogicalId>_<n>`), reused afterwards and created on demand up to `max_environments`. Handler modules
    keep per-request state in globals (Powertools' event resolvers do), so sharing one module between concurrent
    invocations would let them read each other's requests. What the modules import (the layer's package, libraries)
    is shared, as one process has one `sys.modules`."""

    _import_lock = threading.Lock()  # environment creation touches sys.path and sys.modules

    def __init__(
        self,
        *,
        logical_id: str,
        name: str,
        arn: str,
        code_dir: Path,
        handler: str,
        timeout_seconds: int,
        memory_mb: int,
        log_dir: Path,
        router: OutputRouter,
        max_environments: int = 32,
    ):
        self.logical_id = logical_id
        self.name = name
        self.arn = arn
        self.code_dir = code_dir
        self.handler_name = handler
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb
        self.router = router
        self.max_environments = max_environments
        self.log = FunctionLog(log_dir / f"{logical_id}.log")
        self.unavailable_reason: str | None = "not loaded"
        self.unavailable_error_type = "Runtime.ImportModuleError"
        self._environments: list[ExecutionEnvironment] = []
        self._idle: list[ExecutionEnvironment] = []
        self._creating = 0
        self._pool = threading.Condition()

    @property
    def ready(self) -> bool:
        return self.unavailable_reason is None

    @property
    def environment_count(self) -> int:
        return len(self._environments)

    def load(self) -> None:
        """Create the first execution environment; a missing module, import error or missing handler leaves the
        function unavailable (its invocations fail as they would in Lambda)."""
        try:
            environment = self._new_environment()
        except HandlerUnavailable as exc:
            self.unavailable_error_type, self.unavailable_reason = exc.error_type, exc.reason
            return
        self.unavailable_reason = None
        self._idle.append(environment)

    def _new_environment(self) -> ExecutionEnvironment:
        module_path, _, attribute = self.handler_name.rpartition(".")
        source = self.code_dir / (module_path.replace(".", "/") + ".py")
        if not source.is_file():
            raise HandlerUnavailable("Runtime.ImportModuleError", f"{source} does not exist")
        with self._import_lock:
            module_name = f"_wab_local_{self.logical_id}_{len(self._environments)}"
            spec = importlib.util.spec_from_file_location(module_name, source)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            sys.path.insert(0, str(self.code_dir))  # lets the handler import modules next to it, as Lambda does
            try:
                with self.router.routed_to(self.log):
                    spec.loader.exec_module(module)
                _filter_every_log_handler()
            except Exception:
                sys.modules.pop(module_name, None)
                self.log.write(traceback.format_exc())
                raise HandlerUnavailable(
                    "Runtime.ImportModuleError", f"importing {source} failed (traceback in {self.log.path})"
                ) from None
            finally:
                sys.path.remove(str(self.code_dir))
            handler = getattr(module, attribute, None)
            if not callable(handler):
                sys.modules.pop(module_name, None)
                raise HandlerUnavailable("Runtime.HandlerNotFound", f"{source} has no {attribute}()")
            environment = ExecutionEnvironment(module_name, handler)
            self._environments.append(environment)
            return environment

    def _acquire(self) -> ExecutionEnvironment:
        with self._pool:
            while not self._idle and len(self._environments) + self._creating >= self.max_environments:
                self._pool.wait()
            if self._idle:
                return self._idle.pop()
            self._creating += 1
        try:
            return self._new_environment()
        except HandlerUnavailable as exc:
            raise InvocationError(exc.error_type, exc.reason) from None
        finally:
            with self._pool:
                self._creating -= 1
                self._pool.notify()

    def _release(self, environment: ExecutionEnvironment) -> None:
        with self._pool:
            self._idle.append(environment)
            self._pool.notify()

    def unload(self) -> None:
        for environment in self._environments:
            sys.modules.pop(environment.module_name, None)
        self._environments.clear()
        self._idle.clear()
        self.log.close()

    def invoke(self, event: Any) -> Any:
        """Call the handler like Lambda: JSON in, JSON out. Raises InvocationError when Lambda would report one."""
        if not self.ready:
            raise InvocationError(self.unavailable_error_type, str(self.unavailable_reason))
        environment = self._acquire()
        try:
            return self._invoke_in(environment, event)
        finally:
            self._release(environment)

    def _invoke_in(self, environment: ExecutionEnvironment, event: Any) -> Any:
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        context = LambdaContext(
            function_name=self.name,
            function_version="$LATEST",
            invoked_function_arn=self.arn,
            memory_limit_in_mb=str(self.memory_mb),
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{self.name}",
            log_stream_name=f"local/[$LATEST]{uuid.uuid4().hex}",
            deadline_monotonic=started + self.timeout_seconds,
        )
        self.log.write(f"START RequestId: {request_id} Version: $LATEST\n")
        error: InvocationError | None = None
        result: Any = None
        keys = _INVOCATION_KEYS.set(
            {
                "function_name": self.name,
                "function_arn": self.arn,
                "function_memory_size": self.memory_mb,
                "function_request_id": request_id,
            }
        )
        with self.router.routed_to(self.log):
            try:
                result = environment.handler(json.loads(json.dumps(event)), context)
            except Exception as exc:
                self.log.write(f"[ERROR] {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                error = InvocationError(type(exc).__name__, str(exc))
            finally:
                _INVOCATION_KEYS.reset(keys)
        elapsed = time.monotonic() - started
        if error is None and elapsed > self.timeout_seconds:
            self.log.write(f"{request_id} Task timed out after {self.timeout_seconds:.2f} seconds\n")
            error = InvocationError("Sandbox.Timedout", f"Task timed out after {self.timeout_seconds} seconds")
        if error is None:
            try:
                result = json.loads(json.dumps(result))  # what is not JSON-serialisable fails in Lambda too
            except (TypeError, ValueError) as exc:
                self.log.write(f"[ERROR] Runtime.MarshalError: {exc}\n")
                error = InvocationError("Runtime.MarshalError", f"Unable to marshal response: {exc}")
        self.log.write(
            f"END RequestId: {request_id}\nREPORT RequestId: {request_id}\tDuration: {elapsed * 1000:.2f} ms\t"
            f"Memory Size: {self.memory_mb} MB\n"
        )
        if error is not None:
            log.warning("%s failed: %s (see %s)", self.logical_id, error, self.log.path)
            raise error
        return result
