"""The local stack: everything `template.yaml` declares, running on this machine without Docker or an AWS account.

    with LocalStack(api_port=0, aws_port=0, simulator_port=0, state_dir=tmp) as stack:
        stack.info["api_url"], stack.info["send_queue_url"], …

Start-up, in order: check the ports (a busy one stops everything before anything starts); start moto's server and,
while it boots, translate the template and check every resource type is known; start the provider simulator; let
moto run state machines; create the template's resources in moto (plus the event tap); import the handlers
in-process with the template's environment; serve the HTTP API; start the event source pollers (SQS queues, the
table's DynamoDB stream); write `<state_dir>/stack.json`. `stop()` undoes all of it in
reverse and removes stack.json. A failed start stops whatever had started.

Why moto runs as a child process (`python -m local.moto_sqs`: moto's server with its FIFO order fixed) rather than
`ThreadedMotoServer`: in-process, moto would share the interpreter lock with the handlers, the HTTP API and the pollers
(every AWS call costs milliseconds of moto CPU), and it would share moto's global backends with any `mock_aws` of tests
running in the same process, so a test's reset would wipe the stack's resources. The provider simulator runs as a child
process for the same GIL reason. Children are started in their own session (Ctrl-C reaches only this process, which
stops them in order) and, on Linux, die with this process even if it is killed outright.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local import strict_aws
from local.aws import (
    FAKE_ACCESS_KEY_ID,
    FAKE_SECRET_ACCESS_KEY,
    AwsService,
    CreationContext,
    api_id_for,
    aws_client,
    check_supported,
    create_event_tap,
    create_resources,
    register_in_process_resources,
    run_state_machines,
)
from local.event_source import DEFAULT_POLLERS, SqsEventSource, SqsEventSourceConfig
from local.http_api import HttpApi, HttpApiServer
from local.lambda_runtime import LocalFunction, OutputRouter, ProcessEnvironment, merge_function_environments
from local.simulator.config import API_PASSWORD_ENV, CALLBACK_PASSWORD_ENV, CALLBACK_USERNAME_ENV
from local.stream_source import (
    DynamoDBStreamEventSource,
    FilterPatternError,
    StreamEventSourceConfig,
    parse_filter_patterns,
)
from local.template import (
    ACCOUNT_ID,
    FunctionUrlSpec,
    Resolver,
    RouteThrottle,
    StreamEventSourceMappingSpec,
    TemplateError,
    TranslatedTemplate,
    referenced_logical_ids,
)

log = logging.getLogger(__name__)

EventSource = SqsEventSource | DynamoDBStreamEventSource

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_HOST = "127.0.0.1"
DEFAULT_STACK_NAME = "wab-local"
DEFAULT_REGION = "us-east-1"
DEFAULT_PORTS = {"api": 3000, "aws": 5000, "simulator": 4010}
START_TIMEOUT_SECONDS = 20

# The logical ids of template.yaml that stack.json names (everything else is found by type).
CALLBACK_SECRET_ID = "CallbackCredentialsSecret"
PROVIDER_SECRET_ID = "ProviderSecret"
BUSINESS_NUMBER_PARAMETER = "BusinessNumber"
INFO_FROM_RESOURCES = {
    "table_name": "MessagesTable",
    "event_bus_name": "EventBus",
    "send_queue_url": "SendQueue",
    "priority_lane_url": "PriorityLaneQueue",
    "bulk_lane_url": "BulkLaneQueue",
    "dlq_url": "SendDeadLetterQueue",
    "media_bucket": "MediaBucket",
    "wait_queue_url": "WaitQueue",
}
PORT_OPTIONS = {
    "api": "--api-port / WAB_API_PORT",
    "aws": "--aws-port / WAB_AWS_PORT",
    "simulator": "--simulator-port / WAB_SIMULATOR_PORT",
}


class StackStartError(RuntimeError):
    """The local stack could not start; the message says why."""


class PortInUseError(StackStartError):
    def __init__(self, port: int, what: str, host: str = DEFAULT_HOST):
        super().__init__(
            f"port {port} ({what}) is already in use on {host}: stop what holds it or choose another port "
            f"with {PORT_OPTIONS[what]}"
        )
        self.port = port
        self.what = what


# ---------------------------------------------------------------------------------------------------------------
# Ports and child processes
# ---------------------------------------------------------------------------------------------------------------


def ensure_port_free(host: str, port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is not "busy"
        try:
            probe.bind((host, port))
        except OSError:
            raise PortInUseError(port, what, host) from None


def pick_free_ports(host: str, count: int) -> list[int]:
    """`count` distinct free ports (all probes stay open until every port is chosen, so none repeats)."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((host, 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


# Runs a module like `python -m`, but first asks Linux to end the child when its parent dies (PR_SET_PDEATHSIG).
_CHILD_BOOTSTRAP = """\
import os, runpy, signal, sys
try:
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)
except Exception:
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit("parent already gone")
module = sys.argv[2]
sys.argv = [module] + sys.argv[3:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


class ChildProcess:
    """A `python -m <module>` child whose output goes to a log file; `environment` is added to this process's."""

    def __init__(
        self,
        name: str,
        module: str,
        args: list[str],
        log_path: Path,
        cwd: Path,
        environment: Mapping[str, str] | None = None,
    ):
        self.name = name
        self.log_path = log_path
        self._log_file = open(log_path, "wb")  # noqa: SIM115 (the child's; each start begins a fresh log)
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CHILD_BOOTSTRAP, str(os.getpid()), module, *args],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**os.environ, **environment} if environment else None,
            start_new_session=True,
        )

    def wait_until_listening(self, host: str, port: int, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackStartError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection((host, port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.03)
        raise StackStartError(f"{self.name} did not listen on {host}:{port} within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        self._log_file.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def request_stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()

    def stop(self, timeout: float = 5) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %s s: killing it", self.name, timeout)
                self.process.kill()
                self.process.wait()
        self._log_file.close()


def wait_for_http(url: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            if time.monotonic() > deadline:
                raise StackStartError(f"{url} did not answer within {timeout} s") from None
            time.sleep(0.03)


@dataclass(frozen=True)
class Endpoints:
    host: str
    api_port: int
    aws_port: int
    simulator_port: int

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def aws_url(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def simulator_url(self) -> str:
        return f"http://{self.host}:{self.simulator_port}"


@dataclass(frozen=True)
class LocalCredentials:
    """Fresh for every start: what the provider puts in callback URLs, and what the gateway uses on the provider."""

    callback_username: str
    callback_password: str
    provider_username: str
    provider_password: str

    @classmethod
    def generate(cls, *, callback_username: str) -> LocalCredentials:
        return cls(
            callback_username=callback_username,
            callback_password=secrets.token_urlsafe(30),
            provider_username=f"wab-local-{secrets.token_hex(4)}",
            provider_password=secrets.token_urlsafe(24),
        )


def simulator_command(
    endpoints: Endpoints, credentials: LocalCredentials, source: str | None, callback_host: str | None = None
) -> tuple[list[str], dict[str, str]]:
    """The provider simulator's arguments, and the environment variables that carry its secrets: a command line is
    visible to every user of the machine (`ps`). `source` is the business number customers write to;
    `callback_host` where its callbacks go (the callbacks function's URL when it has one), by default the HTTP API."""
    callback_root = f"{callback_host or endpoints.api_url}/callbacks"
    options = {
        "host": endpoints.host,
        "port": endpoints.simulator_port,
        "api-username": credentials.provider_username,
        "mo-url": f"{callback_root}/mo",
        "dlr-url": f"{callback_root}/dlr",
    }
    if source is not None:
        options["source"] = source
    # `--name=value`: a value that starts with "-" is not taken for an option.
    args = [f"--{name}={value}" for name, value in options.items()]
    environment = {
        API_PASSWORD_ENV: credentials.provider_password,
        CALLBACK_USERNAME_ENV: credentials.callback_username,
        CALLBACK_PASSWORD_ENV: credentials.callback_password,
    }
    return args, environment


def environment_text(value: Any) -> str:
    """A resolved value as CloudFormation writes it into an environment variable (booleans in lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def forget_library_clients() -> None:
    """Drop the AWS clients libraries keep process-wide, bound to whatever endpoint was configured when they were made
    (Powertools' parameter providers): a stack started later in the same process must not reach a stopped one."""
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()


# ---------------------------------------------------------------------------------------------------------------
# The stack
# ---------------------------------------------------------------------------------------------------------------


class LocalStack:
    """Start with `start()` or `with`; `info` is what stack.json holds. Start it from a thread that outlives it (the
    main thread, a pytest fixture): on Linux the child processes are tied to the thread that started them."""

    def __init__(
        self,
        *,
        api_port: int = DEFAULT_PORTS["api"],
        aws_port: int = DEFAULT_PORTS["aws"],
        simulator_port: int = DEFAULT_PORTS["simulator"],
        host: str = DEFAULT_HOST,
        state_dir: Path | str | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
        template_path: Path | str | None = None,
        parameter_overrides: Mapping[str, str] | None = None,
    ):
        self.ports = {"api": api_port, "aws": aws_port, "simulator": simulator_port}
        self.host = host
        self.state_dir = Path(state_dir) if state_dir else PROJECT_DIR / ".wab-local"
        self.log_dir = self.state_dir / "logs"
        self.stack_json = self.state_dir / "stack.json"
        self.stack_name = stack_name
        self.region = region
        self.template_path = Path(template_path) if template_path else PROJECT_DIR / "template.yaml"
        self.parameter_overrides = dict(parameter_overrides or {})
        self.info: dict[str, Any] = {}
        self.startup_seconds: float | None = None
        self.template: TranslatedTemplate | None = None
        self.resolver: Resolver | None = None
        self.functions: dict[str, LocalFunction] = {}
        self.event_sources: list[EventSource] = []
        self._children: list[ChildProcess] = []
        self._api_server: HttpApiServer | None = None
        self._url_servers: dict[str, HttpApiServer] = {}  # function URLs, by logical id
        self._environment: ProcessEnvironment | None = None
        self._router_installed = False
        self._modules_before: set[str] = set()
        self._code_folders: list[Path] = []
        self._access_log_handler: logging.Handler | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def start(self) -> LocalStack:
        started = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        log.info("local stack ready in %.2f s", self.startup_seconds)
        return self

    def _start(self) -> None:
        endpoints = self._reserve_ports()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        moto = self._spawn(
            "moto server", "local.moto_sqs", ["-H", self.host, "-p", str(endpoints.aws_port)], "moto.log"
        )
        template = self._translate_template()  # while moto boots (about 0.4 s)
        function_urls = self._bind_function_urls(template)
        credentials = LocalCredentials.generate(callback_username=self._callback_username(template))
        simulator = self._start_simulator(template, endpoints, credentials, self._callbacks_url(template))
        moto.wait_until_listening(self.host, endpoints.aws_port)
        wait_for_http(f"{endpoints.aws_url}/moto-api/")
        run_state_machines(endpoints.aws_url)

        resolver = self._create_aws_resources(template, endpoints, credentials)
        event_tap_queue_url = create_event_tap(
            self._creation_context(endpoints, credentials), resolver.ref(INFO_FROM_RESOURCES["event_bus_name"])
        )
        self._load_functions(template, resolver, endpoints.aws_url)
        self._serve_http_api(template, resolver)
        self._serve_function_urls(function_urls)
        self._start_event_sources(template, resolver, endpoints.aws_url)
        if simulator is not None:
            simulator.wait_until_listening(self.host, endpoints.simulator_port)

        self.info = {
            "api_url": endpoints.api_url,
            "function_urls": {logical_id: self._url_of(logical_id) for logical_id in self._url_servers},
            "aws_endpoint_url": endpoints.aws_url,
            "region": self.region,
            "simulator_url": endpoints.simulator_url,
            "callback_username": credentials.callback_username,
            "callback_password": credentials.callback_password,
            **{key: resolver.ref(logical_id) for key, logical_id in INFO_FROM_RESOURCES.items()},
            "event_tap_queue_url": event_tap_queue_url,
            "provider_username": credentials.provider_username,
            "provider_password": credentials.provider_password,
            "stack_name": self.stack_name,
            "parameters": dict(sorted(self.parameter_overrides.items())),  # those given; the rest are the template's
            "log_dir": str(self.log_dir),
            "pid": os.getpid(),
        }
        self._write_stack_json()

    def stop(self) -> None:
        """Stop everything this stack started (safe to call more than once, or after a failed start)."""
        if self._api_server is not None:
            self._api_server.stop()
            self._api_server = None
        for server in self._url_servers.values():
            server.stop()
        self._url_servers = {}
        for source in self.event_sources:
            source.request_stop()
        for source in self.event_sources:
            source.stop()
        self.event_sources = []
        for child in self._children:
            child.request_stop()
        for child in reversed(self._children):
            child.stop()
        self._children = []
        for function in self.functions.values():
            function.unload()
        self.functions = {}
        self._forget_imported_modules()
        forget_library_clients()
        if self._environment is not None:
            self._environment.restore()
            self._environment = None
        if self._router_installed:
            OutputRouter.uninstall()
            self._router_installed = False
        if self._access_log_handler is not None:
            logging.getLogger("local.http_api.access").removeHandler(self._access_log_handler)
            self._access_log_handler.close()
            self._access_log_handler = None
        if self.info:
            self.stack_json.unlink(missing_ok=True)
            self.info = {}

    # -- parts ---------------------------------------------------------------------------------------------------

    def _reserve_ports(self) -> Endpoints:
        """Fail on a busy port before anything starts; bind the HTTP API now; pick free ports for those given as 0."""
        for what, port in self.ports.items():
            if port:
                ensure_port_free(self.host, port, what)
        try:
            self._api_server = HttpApiServer(self.host, self.ports["api"])
        except OSError:
            raise PortInUseError(self.ports["api"], "api", self.host) from None
        spare = pick_free_ports(self.host, 2)
        return Endpoints(
            host=self.host,
            api_port=self._api_server.port,
            aws_port=self.ports["aws"] or spare[0],
            simulator_port=self.ports["simulator"] or spare[1],
        )

    def _translate_template(self) -> TranslatedTemplate:
        template = self.template = TranslatedTemplate(
            self.template_path,
            region=self.region,
            stack_name=self.stack_name,
            parameter_overrides=self.parameter_overrides,
        )
        check_supported(template)
        if len(template.http_apis()) > 1:
            raise TemplateError("the local stack serves one HTTP API; the template declares more")
        return template

    def _creation_context(self, endpoints: Endpoints, credentials: LocalCredentials) -> CreationContext:
        return CreationContext(
            stack_name=self.stack_name,
            region=self.region,
            endpoint_url=endpoints.aws_url,
            account_id=ACCOUNT_ID,
            secret_overrides={
                CALLBACK_SECRET_ID: {
                    "username": credentials.callback_username,
                    "password": credentials.callback_password,
                },
                PROVIDER_SECRET_ID: {
                    "base_url": f"{endpoints.simulator_url}/rest/wab/v1",
                    "username": credentials.provider_username,
                    "password": credentials.provider_password,
                },
            },
        )

    def _create_aws_resources(
        self, template: TranslatedTemplate, endpoints: Endpoints, credentials: LocalCredentials
    ) -> Resolver:
        resolver = self.resolver = template.resolver(self.stack_name, self.region)
        register_in_process_resources(
            template, resolver, stack_name=self.stack_name, region=self.region, api_url=endpoints.api_url
        )
        create_resources(template, resolver, self._creation_context(endpoints, credentials))
        return resolver

    def _serve_http_api(self, template: TranslatedTemplate, resolver: Resolver) -> None:
        assert self._api_server is not None
        self._attach_access_log()
        for api in template.http_apis():
            self._api_server.start(
                HttpApi(
                    api.routes,
                    self.functions,
                    api_id=resolver.ref(api.logical_id),
                    account_id=ACCOUNT_ID,
                    throttles={key: _limits(resolver, throttle) for key, throttle in api.route_throttles.items()},
                    default_throttle=_limits(resolver, api.default_throttle) if api.default_throttle else None,
                )
            )

    def _bind_function_urls(self, template: TranslatedTemplate) -> list[FunctionUrlSpec]:
        """Each function URL gets a port of its own (its own host, as on AWS), bound before the simulator starts."""
        urls = template.function_urls()
        for url in urls:
            self._url_servers[url.logical_id] = HttpApiServer(self.host, 0)
        return urls

    def _url_of(self, logical_id: str) -> str:
        return f"http://{self.host}:{self._url_servers[logical_id].port}"

    def _callbacks_url(self, template: TranslatedTemplate) -> str | None:
        """The URL of the function that serves the callback routes, if it has one: the provider then calls it."""
        callback_functions = {
            route.function_id for api in template.http_apis() for route in api.routes if route.path == "/callbacks/mo"
        }
        urls = [url for url in template.function_urls() if url.function_id in callback_functions]
        return self._url_of(urls[0].logical_id) if urls else None

    def _serve_function_urls(self, urls: list[FunctionUrlSpec]) -> None:
        for url in urls:
            self._url_servers[url.logical_id].start(
                HttpApi(
                    url.routes,
                    self.functions,
                    api_id=api_id_for(self.stack_name, url.logical_id),
                    account_id=ACCOUNT_ID,
                )
            )

    def _spawn(
        self, name: str, module: str, args: list[str], log_name: str, environment: Mapping[str, str] | None = None
    ) -> ChildProcess:
        child = ChildProcess(name, module, args, self.log_dir / log_name, cwd=PROJECT_DIR, environment=environment)
        self._children.append(child)
        return child

    def _start_simulator(
        self,
        template: TranslatedTemplate,
        endpoints: Endpoints,
        credentials: LocalCredentials,
        callback_host: str | None = None,
    ) -> ChildProcess | None:
        if not (PROJECT_DIR / "local" / "simulator" / "__main__.py").is_file():
            log.warning("local/simulator/__main__.py does not exist: the provider simulator is not running")
            return None
        source = template.parameters.get(BUSINESS_NUMBER_PARAMETER)
        args, environment = simulator_command(endpoints, credentials, source, callback_host)
        return self._spawn("provider simulator", "local.simulator", args, "simulator.log", environment)

    @staticmethod
    def _callback_username(template: TranslatedTemplate) -> str:
        generated = template.properties(CALLBACK_SECRET_ID).get("GenerateSecretString") or {}
        try:
            return str(json.loads(generated["SecretStringTemplate"])["username"])
        except (KeyError, TypeError, ValueError):
            return "wab-callbacks"

    def _load_functions(self, template: TranslatedTemplate, resolver: Resolver, aws_url: str) -> None:
        strict_aws.install()  # before any handler makes a client: each copies the session's hooks when made
        specs = template.functions()
        layers = template.layers()
        environments: dict[str, Mapping[str, str]] = {
            "the local stack": {
                "AWS_ENDPOINT_URL": aws_url,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        }
        for logical_id, spec in specs.items():
            environments[logical_id] = {
                name: environment_text(value) for name, value in resolver.resolve(spec.environment).items()
            }
        layer_dirs = sorted(
            {
                layers[layer_id].content_dir
                for spec in specs.values()
                for layer_id in spec.layer_ids
                if layer_id in layers
            }
        )
        self._code_folders = [*layer_dirs, *(spec.code_dir for spec in specs.values())]
        self._environment = ProcessEnvironment(merge_function_environments(environments), layer_dirs)
        self._environment.apply()
        forget_library_clients()
        router = OutputRouter.install()
        self._router_installed = True
        self._modules_before = set(sys.modules)
        for logical_id, spec in specs.items():
            function = LocalFunction(
                logical_id=logical_id,
                name=resolver.ref(logical_id),
                arn=resolver.get_att(logical_id, "Arn"),
                code_dir=spec.code_dir,
                handler=spec.handler,
                timeout_seconds=spec.timeout_seconds,
                memory_mb=spec.memory_mb,
                log_dir=self.log_dir,
                router=router,
            )
            function.load()
            if not function.ready:
                log.warning(
                    "%s is not available: %s — its routes answer 500 and its queues are not polled",
                    logical_id,
                    function.unavailable_reason,
                )
            self.functions[logical_id] = function

    def _forget_imported_modules(self) -> None:
        """Drop the modules the handlers imported from the functions' and layers' folders (not libraries), so a later
        stack in this process imports them afresh, with its own settings."""
        if not self._modules_before:
            return
        folders = [str(folder) + os.sep for folder in self._code_folders]
        for name in set(sys.modules) - self._modules_before:
            source = getattr(sys.modules.get(name), "__file__", None) or ""
            if any(source.startswith(folder) for folder in folders):
                sys.modules.pop(name, None)
        self._modules_before = set()

    def _start_event_sources(self, template: TranslatedTemplate, resolver: Resolver, aws_url: str) -> None:
        for spec in template.event_source_mappings():
            function = self.functions[spec.function_id]
            if not function.ready:
                log.warning("%s: %s is not available, so its queue is not polled", spec.logical_id, spec.function_id)
                continue
            if environment_text(resolver.resolve(spec.enabled)) == "false":
                log.info("%s is disabled in the template: its queue is not polled", spec.logical_id)
                continue
            queue_id = (referenced_logical_ids(spec.queue_arn) & set(template.of_type("AWS::SQS::Queue"))).pop()
            concurrency = resolver.resolve(spec.maximum_concurrency)
            config = SqsEventSourceConfig(
                queue_url=resolver.ref(queue_id),
                queue_arn=resolver.resolve(spec.queue_arn),
                region=self.region,
                batch_size=int(resolver.resolve(spec.batch_size)),
                report_batch_item_failures=spec.report_batch_item_failures,
                maximum_concurrency=int(concurrency) if concurrency is not None else DEFAULT_POLLERS,
                batching_window_seconds=float(resolver.resolve(spec.maximum_batching_window_seconds) or 0),
            )
            source = SqsEventSource(function, config, lambda: aws_client("sqs", aws_url, self.region, read_timeout=30))
            source.start()
            self.event_sources.append(source)
        for stream_spec in template.stream_event_source_mappings():
            self._start_stream_source(stream_spec, resolver, aws_url)

    def _start_stream_source(self, spec: StreamEventSourceMappingSpec, resolver: Resolver, aws_url: str) -> None:
        function = self.functions[spec.function_id]
        if not function.ready:
            log.warning("%s: %s is not available, so its stream is not read", spec.logical_id, spec.function_id)
            return
        if environment_text(resolver.resolve(spec.enabled)) == "false":
            log.info("%s is disabled in the template: its stream is not read", spec.logical_id)
            return
        try:
            filters = parse_filter_patterns(resolver.resolve(list(spec.filter_patterns)))
        except FilterPatternError as exc:
            raise TemplateError(f"{spec.logical_id}: {exc}") from None
        starting_position = str(resolver.resolve(spec.starting_position))
        if starting_position not in ("TRIM_HORIZON", "LATEST"):
            raise TemplateError(f"{spec.logical_id}: StartingPosition {starting_position} is not emulated locally")
        config = StreamEventSourceConfig(
            stream_arn=str(resolver.resolve(spec.stream_arn)),
            region=self.region,
            batch_size=int(resolver.resolve(spec.batch_size)),
            batching_window_seconds=float(resolver.resolve(spec.maximum_batching_window_seconds) or 0),
            starting_position=starting_position,
            report_batch_item_failures=spec.report_batch_item_failures,
            maximum_retry_attempts=int(resolver.resolve(spec.maximum_retry_attempts)),
            maximum_record_age_seconds=int(resolver.resolve(spec.maximum_record_age_seconds)),
            filters=filters,
            on_failure_arn=resolver.resolve(spec.on_failure),
        )
        source = DynamoDBStreamEventSource(function, config, lambda service: aws_client(service, aws_url, self.region))
        source.start()
        self.event_sources.append(source)

    def _attach_access_log(self) -> None:
        handler = logging.FileHandler(self.log_dir / "http-api.log", mode="w", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        access_log = logging.getLogger("local.http_api.access")
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False
        self._access_log_handler = handler

    def _write_stack_json(self) -> None:
        temporary = self.stack_json.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(self.info, indent=2) + "\n", encoding="utf-8")
        temporary.chmod(0o600)  # it holds the local credentials
        temporary.replace(self.stack_json)

    # -- for tests and demos -------------------------------------------------------------------------------------

    @contextmanager
    def paused_event_sources(self) -> Iterator[None]:
        """Hold the pollers (after their in-flight batches) so a test can look at what reaches the queues and the
        table's stream."""
        for source in self.event_sources:
            source.pause()
        try:
            yield
        finally:
            for source in self.event_sources:
                source.resume()

    def client(self, service: AwsService) -> Any:
        """A boto3 client for the stack's AWS emulation."""
        return aws_client(service, self.info["aws_endpoint_url"], self.region)


def _limits(resolver: Resolver, throttle: RouteThrottle) -> tuple[float, int]:
    return float(resolver.resolve(throttle.rate)), int(resolver.resolve(throttle.burst))
