"""How many sends per second the provider simulator takes (POST /messages over keep-alive connections, loopback only).

    python -m bench.simulator_throughput [seconds]

The simulator runs in this process (as `Simulator`) with automatic DLRs off, so the figure is for the API alone; the
client threads share the interpreter with it, which makes the figure a floor: the local stack runs the simulator
in a process of its own.
"""

from __future__ import annotations

import sys
import threading
import time

import requests

from local.simulator import Faults, Simulator, SimulatorConfig

USERNAME = "bench"
PASSWORD = "bench-secret"
CLIENT_THREADS = 2
SEND_BODY = {
    "destination": "+64211234567",
    "type": "text",
    "text": {"body": "benchmark"},
    "source": "1234567890",
    "reference": "bench",
}


def _hammer(url: str, deadline: float, counts: list[int], index: int, failures: list[int]) -> None:
    with requests.Session() as session:
        session.auth = (USERNAME, PASSWORD)
        session.trust_env = False
        while time.monotonic() < deadline:
            if session.post(url, json=SEND_BODY, timeout=10).status_code == 202:
                counts[index] += 1
            else:
                failures[index] += 1


def measure(seconds: float = 3) -> float:
    """Sends per second accepted (202) by a fresh simulator on a free port, from a few keep-alive client threads."""
    config = SimulatorConfig(
        port=0,
        api_username=USERNAME,
        api_password=PASSWORD,
        faults=Faults(auto_dlr=False, enforce_window=False),
        max_messages=10_000,
    )
    with Simulator(config) as simulator:
        url = simulator.api_url + "/messages"
        counts, failures = [0] * CLIENT_THREADS, [0] * CLIENT_THREADS
        started = time.monotonic()
        deadline = started + seconds
        threads = [
            threading.Thread(target=_hammer, args=(url, deadline, counts, index, failures))
            for index in range(CLIENT_THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    if any(failures):
        raise RuntimeError(f"{sum(failures)} sends were not accepted")
    return sum(counts) / elapsed


if __name__ == "__main__":
    print(f"{measure(float(sys.argv[1]) if len(sys.argv) > 1 else 3):.0f} sends/s")
