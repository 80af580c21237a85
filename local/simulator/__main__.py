"""The command line: `python -m local.simulator`, as the local stack starts it in a process of its own."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

import local.simulator as package
from local.simulator.config import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_SOURCE, Faults, SimulatorConfig, SimulatorError
from local.simulator.core import Simulator

log = logging.getLogger(__name__)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.simulator", description=package.__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=DEFAULT_HOST, help="loopback address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port (default %(default)s)")
    parser.add_argument("--api-username", required=True, help="HTTP Basic username clients must send")
    parser.add_argument("--api-password", required=True, help="HTTP Basic password clients must send")
    parser.add_argument("--mo-url", help="where MO callbacks go, e.g. http://user:pass@127.0.0.1:3000/callbacks/mo")
    parser.add_argument("--dlr-url", help="where DLR callbacks go, e.g. http://user:pass@127.0.0.1:3000/callbacks/dlr")
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="business number MOs go to (default %(default)s)")
    parser.add_argument("--seed", type=int, help="seed of the fault dice")
    parser.add_argument("--no-enforce-window", action="store_true", help="allow free-form sends to anyone")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=arguments.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = SimulatorConfig(
        host=arguments.host, port=arguments.port, api_username=arguments.api_username,
        api_password=arguments.api_password, mo_url=arguments.mo_url, dlr_url=arguments.dlr_url,
        source=arguments.source, faults=Faults(seed=arguments.seed, enforce_window=not arguments.no_enforce_window),
    )
    try:
        simulator = Simulator(config).start()
    except SimulatorError as exc:
        log.error("%s", exc)
        return 1
    stop_requested = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop_requested.set())
    print(f"provider simulator ready on {simulator.url} (API {simulator.api_url}, control {simulator.url}/_sim)",
          flush=True)
    try:
        while not stop_requested.wait(0.5):
            pass
    finally:
        simulator.stop()
        log.info("provider simulator stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
