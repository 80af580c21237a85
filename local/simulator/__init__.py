"""A fake of the messaging provider's WhatsApp Business API, for the local stack, `make demo`, e2e tests and benchmarks.

    WAB_SIM_API_PASSWORD=P WAB_SIM_CALLBACK_USERNAME=user WAB_SIM_CALLBACK_PASSWORD=pass \
    python -m local.simulator --port 4010 --api-username U \
        --mo-url http://127.0.0.1:3000/callbacks/mo --dlr-url http://127.0.0.1:3000/callbacks/dlr

(secrets in the environment, never on the command line, which `ps` shows to everyone),
or in-process: `sim = Simulator(SimulatorConfig(port=0, ...)); sim.start(); sim.url; ...; sim.stop()`.
It only binds to, and only calls, loopback addresses.

Provider API (HTTP Basic auth; errors as the provider answers them, `{"error", "message", "statusCode"}`):
    POST /rest/wab/v1/messages             {destination|to, type, <type object>, source, reference?}
                                           → 202 [{id, status: "accepted", reference}] · 400 · 401 · 429 · 500
    POST /rest/wab/v1/messages/broadcast   same, destination a list (1..10000) → 202 [{destination, id, status}]
    POST /rest/wab/v1/media?source=…       multipart field `file` → 200 [{id}]
                                           · 422 {errors: [{field, code, description}]}
    GET  /rest/wab/v1/messages?id=…        → 200 {id, source, destination, direction, reference, content} · 404
                                           (content is a JSON string, as the provider's page shows)
Callbacks made: DLRs `{id, status, reference}` (`sent`, then `received`/`rejected`) to the DLR URL for every accepted
message, from a small pool of workers, retried with backoff; MOs `{id, source, destination, content}` to the MO URL
when asked through /_sim/mo. Credentials in a callback URL are sent as an `Authorization: Basic` header.

Control (unauthenticated JSON):
    GET|POST /_sim/faults   read / partially update the fault config (see `Faults`)
    GET  /_sim/stats        faults answered since the last reset: {"throttled", "errors", "held", "pair_rate_limited"}
    POST /_sim/ids          {ids: [...]} ids to give, in order, to the next accepted messages
    GET  /_sim/messages     every accepted message with its DLR deliveries (?reference= filters)
    POST /_sim/mo           make a customer send an inbound message (see `inbound_message` and `Simulator.simulate_mo`)
    POST /_sim/dlr          {id, status, reference?} send one DLR now
    POST /_sim/reset        forget messages, MOs, queued ids, pending DLRs and contact windows; restore the faults
"""

from local.simulator.config import Faults, RetryPolicy, SimulatorConfig, SimulatorError
from local.simulator.core import Simulator

__all__ = ["Faults", "RetryPolicy", "Simulator", "SimulatorConfig", "SimulatorError"]
