"""Lane messages for the sender's flows, made by the gateway's own code as the intake makes them (wab.lanes,
wab.broadcasts), and the intake's chunk size (wab.pacing).

The gateway's code runs here in a process of its own (`python -m bench.lane_bodies`, a JSON request on stdin): the
worker processes that time the handlers must not import wab before the handler's own import is timed (nor into the
hand-written baseline's process, which never loads it), and the benchmark's own process must not either, since the
local stack imports the handlers into it later with their environment (wab.observability reads it at import).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from bench import lambda_env as L


def _run(request: dict[str, Any]) -> Any:
    return json.loads(L.run_module("bench.lane_bodies", request, timeout=120))


def from_requests(events: list[dict[str, Any]], chunk_size: int) -> list[list[str]]:
    """The lane messages the intake makes of each request on the send queue (a bus event): one for a send, one per
    chunk for a broadcast."""
    return _run({"requests": events, "chunk_size": chunk_size})


def sends(indices: range | list[int], run: str) -> dict[str, str]:
    """`send` flow #index: a free-form reply to customer #index, requested on the bus."""
    indices = list(indices)
    bodies = from_requests([L.send_request(index, run) for index in indices], 1)
    return {str(index): body for index, [body] in zip(indices, bodies, strict=True)}


def chunks(count: int, run: str, chunk_size: int) -> dict[str, str]:
    """`chunk` flow #0 … #count-1: the chunks of one broadcast of count × chunk_size recipients, in order."""
    destinations = [f"+6424{index:08d}" for index in range(count * chunk_size)]
    [bodies] = from_requests([L.broadcast_request(destinations, f"broadcast-{run}")], chunk_size)
    return {str(index): body for index, body in enumerate(bodies)}


def chunk_size(broadcast_chunk_size: int, rate_per_second: float, bulk_share: float) -> int:
    """How many recipients the intake puts in a broadcast chunk: BroadcastChunkSize, or fewer when bulk's share of
    the number's burst is smaller."""
    return int(_run({"chunk_size_of": [broadcast_chunk_size, rate_per_second, bulk_share]}))


def install(flow: str, bodies: dict[str, str]) -> None:
    """Make these bodies what `lambda_env.flow_event` gives for `flow` in this process."""
    L.LANE_BODIES.setdefault(flow, {}).update(bodies)


# --- in the process of its own ---------------------------------------------------------------------------------------


def _route(event: dict[str, Any], size: int) -> list[str]:
    """What `wab.intake.Intake._route` does with one request, without its queues."""
    from wab.broadcasts import split_broadcast
    from wab.lanes import Request, entry, lane_for
    from wab.models.commands import BroadcastCommand, parse_delivery

    delivery = parse_delivery(json.dumps(event))
    command = delivery.command
    request = Request(command, delivery.event_id or "", delivery.requested_by, int(time.time() * 1000))
    lane = lane_for(command)
    if not isinstance(command, BroadcastCommand):
        return [entry(request, lane).body]
    parts = split_broadcast(command, size)
    return [
        entry(request._replace(command=part), lane, part=f"chunk-{number}").body for number, part in enumerate(parts, 1)
    ]


def main() -> None:
    request = json.load(sys.stdin)
    if "chunk_size_of" in request:
        from wab.pacing import RatePolicy

        ceiling, rate, share = request["chunk_size_of"]
        answer: Any = min(int(ceiling), RatePolicy(float(rate), float(share)).largest_bulk_take())
    else:
        answer = [_route(event, request["chunk_size"]) for event in request["requests"]]
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
