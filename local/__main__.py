"""`python -m local` (what `make local` runs): the local stack in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from local.lambda_runtime import EnvironmentConflict, OutputRouter
from local.stack import (
    DEFAULT_PORTS,
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    PROJECT_DIR,
    LocalStack,
    PortInUseError,
    StackStartError,
)
from local.template import TemplateError

log = logging.getLogger("local")

DESCRIPTION = """\
Run the WhatsApp Business gateway locally, without Docker or an AWS account, until Ctrl-C or SIGTERM:
moto's server emulates the AWS services (resources created from template.yaml), the HTTP API routes of
template.yaml call the real handlers in-process, an SQS poller feeds the send queue to the sender function,
and a provider simulator plays the WhatsApp provider. When ready, <state-dir>/stack.json says where everything
is (it is removed on stop); function, simulator and moto logs are in <state-dir>/logs/.
"""

EPILOG = """\
Every port option also reads an environment variable (WAB_API_PORT, WAB_AWS_PORT, WAB_SIMULATOR_PORT);
0 picks a free port. Other environment variables: WAB_STACK_NAME, WAB_REGION, WAB_STATE_DIR.
Example: python -m local --api-port 3100 --parameter WindowPolicy=warn
"""


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name}={value!r} is not a port number") from None


def _parameter(text: str) -> tuple[str, str]:
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected Name=Value, got {text!r}")
    return name, value


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--api-port",
        type=int,
        default=_env_int("WAB_API_PORT", DEFAULT_PORTS["api"]),
        help="port of the HTTP API emulation (default %(default)s)",
    )
    parser.add_argument(
        "--aws-port",
        type=int,
        default=_env_int("WAB_AWS_PORT", DEFAULT_PORTS["aws"]),
        help="port of moto's server, the AWS endpoint (default %(default)s)",
    )
    parser.add_argument(
        "--simulator-port",
        type=int,
        default=_env_int("WAB_SIMULATOR_PORT", DEFAULT_PORTS["simulator"]),
        help="port of the provider simulator (default %(default)s)",
    )
    parser.add_argument(
        "--stack-name",
        default=os.environ.get("WAB_STACK_NAME", DEFAULT_STACK_NAME),
        help="prefix of the physical resource names (default %(default)s)",
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("WAB_REGION", DEFAULT_REGION),
        help="AWS region to emulate (default %(default)s)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("WAB_STATE_DIR", PROJECT_DIR / ".wab-local")),
        help="where stack.json and logs/ go (default %(default)s)",
    )
    parser.add_argument(
        "--parameter",
        action="append",
        type=_parameter,
        default=[],
        metavar="NAME=VALUE",
        help="override a template parameter (repeatable); others keep their defaults",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="console log level of the local stack itself (default %(default)s)",
    )
    return parser.parse_args(argv)


def ready_block(stack: LocalStack) -> str:
    info = stack.info
    routes: list[str] = []
    if stack.template is not None:
        for api in stack.template.http_apis():
            routes.extend(route.route_key for route in api.routes)
    rows = [
        ("HTTP API", f"{info['api_url']}   {', '.join(sorted(routes))}"),
        *((f"URL {name}", f"{url}   (every path, to its function)") for name, url in info["function_urls"].items()),
        ("AWS endpoint", f"{info['aws_endpoint_url']}   (moto, region {info['region']})"),
        ("Provider sim", f"{info['simulator_url']}   (API under /rest/wab/v1, control under /_sim)"),
        ("Table", info["table_name"]),
        ("Event bus", info["event_bus_name"]),
        ("Send queue", info["send_queue_url"]),
        ("Dead letters", info["dlq_url"]),
        ("Event tap", f"{info['event_tap_queue_url']}   (every wab.gateway event)"),
        ("Media bucket", info["media_bucket"]),
        ("Callback login", f"{info['callback_username']} / {info['callback_password']}"),
        ("Parameters", " ".join(f"{name}={value}" for name, value in info["parameters"].items()) or "the template's"),
        ("Details", f"{stack.stack_json}   logs: {stack.log_dir}/"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"Local stack {stack.stack_name!r} ready in {stack.startup_seconds:.1f} s"]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    lines.append(f"Stop with Ctrl-C (or: kill {os.getpid()}).")
    return "\n".join(lines)


class _StopRequested(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    OutputRouter.install()  # before logging is set up, so handler threads' log lines go to their function's log
    logging.basicConfig(
        level=arguments.log_level,
        format="%(asctime)s %(levelname)-7s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("botocore").setLevel(logging.WARNING)  # its INFO lines are noise in the function logs
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            return
        stopping.set()
        raise _StopRequested()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    stack = LocalStack(
        api_port=arguments.api_port,
        aws_port=arguments.aws_port,
        simulator_port=arguments.simulator_port,
        state_dir=arguments.state_dir,
        stack_name=arguments.stack_name,
        region=arguments.region,
        parameter_overrides=dict(arguments.parameter),
    )
    try:
        stack.start()
        print(ready_block(stack), flush=True)
        while not stopping.wait(3600):
            pass
    except _StopRequested:
        pass
    except PortInUseError as exc:
        log.error("%s", exc)
        return 2
    except (StackStartError, TemplateError, EnvironmentConflict) as exc:
        log.error("the local stack could not start: %s", exc)
        return 1
    finally:
        # A second Ctrl-C must not interrupt the clean-up half-way (it would leave processes behind).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if stopping.is_set():
            log.info("stopping the local stack…")
        stack.stop()
        OutputRouter.uninstall()
    log.info("local stack stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
