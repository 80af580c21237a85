"""The command line: `python -m local.simulator`, as the local stack starts it in a process of its own.

The options on the command line are not secret; the provider API password and the callback credentials come from
the environment variables named in `local.simulator.config`.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from urllib.parse import quote, urlsplit, urlunsplit

import local.simulator as package
from local.simulator.config import (
    API_PASSWORD_ENV,
    CALLBACK_PASSWORD_ENV,
    CALLBACK_USERNAME_ENV,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_SOURCE,
    Faults,
    SimulatorConfig,
    SimulatorError,
)
from local.simulator.core import Simulator

log = logging.getLogger(__name__)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.simulator", description=package.__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=DEFAULT_HOST, help="loopback address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port (default %(default)s)")
    parser.add_argument(
        "--api-username",
        required=True,
        help=f"HTTP Basic username clients must send (the password: ${API_PASSWORD_ENV})",
    )
    parser.add_argument(
        "--mo-url",
        help="where MO callbacks go, e.g. http://127.0.0.1:3000/callbacks/mo "
        f"(with Basic credentials ${CALLBACK_USERNAME_ENV} and ${CALLBACK_PASSWORD_ENV} when set)",
    )
    parser.add_argument("--dlr-url", help="where DLR callbacks go, e.g. http://127.0.0.1:3000/callbacks/dlr")
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="business number MOs go to (default %(default)s)")
    parser.add_argument("--seed", type=int, help="seed of the fault dice")
    parser.add_argument("--no-enforce-window", action="store_true", help="allow free-form sends to anyone")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def simulator_config(arguments: argparse.Namespace, environ: Mapping[str, str]) -> SimulatorConfig:
    """The configuration from the command line and the secrets from the environment."""
    api_password = environ.get(API_PASSWORD_ENV)
    if not api_password:
        raise SimulatorError(f"{API_PASSWORD_ENV} is not set: it holds the password clients of the API must send")
    callback_username = environ.get(CALLBACK_USERNAME_ENV)
    callback_password = environ.get(CALLBACK_PASSWORD_ENV, "")
    if callback_username is None and callback_password:
        raise SimulatorError(f"{CALLBACK_PASSWORD_ENV} is set without {CALLBACK_USERNAME_ENV}")
    mo_url, dlr_url = arguments.mo_url, arguments.dlr_url
    if callback_username is not None:
        mo_url = mo_url and with_credentials(mo_url, callback_username, callback_password)
        dlr_url = dlr_url and with_credentials(dlr_url, callback_username, callback_password)
    return SimulatorConfig(
        host=arguments.host,
        port=arguments.port,
        api_username=arguments.api_username,
        api_password=api_password,
        mo_url=mo_url,
        dlr_url=dlr_url,
        source=arguments.source,
        faults=Faults(seed=arguments.seed, enforce_window=not arguments.no_enforce_window),
    )


def with_credentials(url: str, username: str, password: str) -> str:
    """`url` carrying Basic credentials, percent-encoded as `CallbackTarget.from_url` reads them."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"))


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=arguments.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        simulator = Simulator(simulator_config(arguments, os.environ)).start()
    except SimulatorError as exc:
        log.error("%s", exc)
        return 1
    stop_requested = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop_requested.set())
    print(
        f"provider simulator ready on {simulator.url} (API {simulator.api_url}, control {simulator.url}/_sim)",
        flush=True,
    )
    try:
        while not stop_requested.wait(0.5):
            pass
    finally:
        simulator.stop()
        log.info("provider simulator stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
