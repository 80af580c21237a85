"""What the checks before the provider save and cost: a broadcast with a template WhatsApp does not have, and the
AWS requests the template catalogue and the opt-out list add to a send.

Both run through the real intake and sender handlers against in-process moto and the provider simulator, in a
process of their own (`python -m bench.screening`, a JSON request on stdin, the counts on stdout):
- a broadcast of N recipients with the template `does_not_exist` (the simulator answers it `(#132001)`, as WhatsApp
  answers a template it does not have), under each TemplatePolicy: the provider calls made and the recipients put in
  them. `off` is the gateway without a catalogue: every chunk is sent and refused;
- S single marketing template sends (a template the catalogue lists, category marketing), with the checks
  (TemplatePolicy enforce) and without (off): the AWS requests each makes, by operation, and what the difference costs
  a million sends at the cost model's prices.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from typing import Any

from bench import lambda_env as L

RECIPIENTS = {"full": 5000, "quick": 1000, "smoke": 40}
SENDS = {"full": 200, "quick": 100, "smoke": 10}
POLICIES = ("enforce", "warn", "off")
WRONG_TEMPLATE = "does_not_exist"
CATALOGUE = [
    {"name": "spring_sale", "language": "en", "category": "marketing", "body": {"parameters": 1}},
    {"name": "order_shipped", "language": "en", "category": "utility", "body": {"parameters": 1}},
]
# With the checks, a marketing template (the opt-out list is read); without, a utility one (nothing to check).
TEMPLATE_OF = {"marketing": "spring_sale", "utility": "order_shipped"}


def run(mode: str) -> dict[str, Any]:
    from bench import template_info as T

    request = {"recipients": RECIPIENTS[mode], "sends": SENDS[mode], "parameters": T.bench_parameters()}
    output = L.run_module("bench.screening", request, timeout=1200)
    return priced(json.loads(output.strip().splitlines()[-1]))  # the handlers print their metrics before it


def priced(counts: dict[str, Any]) -> dict[str, Any]:
    """The checks' extra requests per send, in dollars per million sends."""
    from bench.cost import PRICES

    price = {
        "dynamodb.GetItem": PRICES["dynamodb_read_unit"],
        "dynamodb.BatchGetItem": PRICES["dynamodb_read_unit"],
        "dynamodb.Query": PRICES["dynamodb_read_unit"],
    }
    checked, unchecked = counts["sends"]["enforce"], counts["sends"]["off"]
    extra = {
        operation: (checked.get(operation, 0) - unchecked.get(operation, 0)) / counts["sends"]["count"]
        for operation in sorted(set(checked) | set(unchecked))
    }
    counts["checks_extra_requests_per_send"] = {name: value for name, value in extra.items() if value}
    counts["checks_cost_per_million_sends"] = sum(value * price.get(name, 0.0) * 1e6 for name, value in extra.items())
    return counts


# --- in the child ----------------------------------------------------------------------------------------------------


class Calls:
    """AWS requests by `service.Operation`, from a hook on every client created after `install`."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def install(self) -> None:
        import botocore.session

        original = botocore.session.Session.create_client
        calls = self

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            service = client.meta.service_model.service_name
            client.meta.events.register(
                "before-call.*.*", lambda model, **_: calls.counts.update([f"{service}.{model.name}"])
            )
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign, assignment]


def template_send(destination: str, category: str, reference: str) -> dict[str, Any]:
    return L.bus_event(
        "WhatsApp Send Requested",
        {
            "destination": destination,
            "type": "template",
            "category": category,
            "reference": reference,
            "template": {
                "name": TEMPLATE_OF[category],
                "language": {"code": "en"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "20%"}]}],
            },
        },
    )


def measure(request: dict[str, Any]) -> dict[str, Any]:
    os.environ.update(
        {
            "AWS_REGION": L.REGION,
            "AWS_DEFAULT_REGION": L.REGION,
            "AWS_ACCESS_KEY_ID": "AKIABENCHMARK000000",
            "AWS_SECRET_ACCESS_KEY": "bench-secret-access-key",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
    )
    import boto3
    from moto import mock_aws
    from moto.core.models import responses_mock

    from bench import template_info as T
    from local.event_source import records_to_delete, sqs_record

    mock_aws().start()
    responses_mock.stop()  # the sender calls the simulator on loopback; moto keeps mocking botocore
    names = T.NAMES
    session = boto3.session.Session(region_name=L.REGION)
    sqs: Any = session.client("sqs")
    urls = T.create_send_path(session)
    recipients, sends = int(request["recipients"]), int(request["sends"])
    with L.provider_simulator(recipients + sends * len(POLICIES) + 100) as simulator:
        provider = L.provider_secret(simulator)
        session.client("secretsmanager").create_secret(Name=names["provider_secret"], SecretString=json.dumps(provider))
        for logical_id in ("IntakeFunction", "SenderFunction"):
            os.environ.update(T.resolved_env(logical_id, names, queue_urls=urls, parameters=request["parameters"]))
        calls = Calls()
        calls.install()
        provider_calls: Counter[str] = Counter()
        from wab import provider as provider_module

        original_send_http = provider_module.ProviderClient._send_http

        def counted(
            self: Any, method: str, url: str, credentials: Any, headers: Any, params: Any, data: Any, *rest: Any
        ) -> Any:
            provider_calls["calls"] += 1
            if isinstance(data, bytes):
                destination = json.loads(data).get("destination")
                provider_calls["recipients"] += len(destination) if isinstance(destination, list) else 1
            return original_send_http(self, method, url, credentials, headers, params, data, *rest)

        provider_module.ProviderClient._send_http = counted  # type: ignore[method-assign,assignment]
        handlers = {
            "intake": L.load_module("functions/intake/app.py", "intake_app"),
            "sender": L.load_module("functions/sender/app.py", "sender_app"),
        }

        def configure(policy: str) -> None:
            from wab import settings

            os.environ["TEMPLATE_POLICY"] = policy
            settings.load.cache_clear()
            handlers["intake"].intake.cache_clear()
            handlers["sender"].sender.cache_clear()

        def through(*requests: dict[str, Any]) -> None:
            split = L.sqs_event(list(requests), "queue", group="requests", names=names)
            handlers["intake"].lambda_handler(split, L.Context("IntakeFunction", 512, 30))
            for lane in ("priority_lane", "bulk_lane"):
                arn = L.queue_arn(lane, names)
                while messages := sqs.receive_message(
                    QueueUrl=urls[lane], MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
                ).get("Messages", []):
                    records = [sqs_record(message, arn, L.REGION) for message in messages]
                    answer = handlers["sender"].lambda_handler(
                        {"Records": records}, L.Context("SenderFunction", 512, 60)
                    )
                    for record in records_to_delete(records, answer, report_batch_item_failures=True):
                        sqs.delete_message(QueueUrl=urls[lane], ReceiptHandle=record["receiptHandle"])

        configure("enforce")
        through(L.bus_event("WhatsApp Template Catalogue Updated", {"templates": CATALOGUE}))
        destinations = [f"+6428{number:07d}" for number in range(recipients)]
        wrong: dict[str, Any] = {}
        for policy in POLICIES:
            configure(policy)
            provider_calls.clear()
            detail = L.broadcast_detail(destinations, f"bench-wrong-template-{policy}")
            detail["template"] = {"name": WRONG_TEMPLATE, "language": {"code": "en"}}
            through(L.bus_event("WhatsApp Broadcast Requested", detail))
            wrong[policy] = {"provider_calls": provider_calls["calls"], "recipients_sent": provider_calls["recipients"]}

        # With the checks: TemplatePolicy enforce and a marketing send (the opt-out list is read). Without: off, and
        # a utility send (no opt-out to check).
        per_policy: dict[str, Any] = {"count": sends}
        for policy, category in (("enforce", "marketing"), ("off", "utility")):
            configure(policy)
            through(template_send("+64290000000", category, "bench-checks-warm"))  # the catalogue's cache, warm
            calls.counts.clear()
            for number in range(sends):
                through(template_send(f"+6429{number:07d}", category, f"bench-checks-{policy}"))
            per_policy[policy] = dict(calls.counts)
    return {"recipients": recipients, "wrong_template": wrong, "sends": per_policy}


def section(results: dict[str, Any]) -> str:
    wrong = results["wrong_template"]
    rows = "\n".join(
        f"| `{policy}` | {figures['provider_calls']} | {figures['recipients_sent']} |"
        for policy, figures in wrong.items()
    )
    extra = ", ".join(f"{name} {value:.2f}" for name, value in results["checks_extra_requests_per_send"].items())
    return (
        "### 3c. What the checks before the provider save and cost\n\n"
        f"A broadcast of {results['recipients']:,} recipients with a template WhatsApp does not have "
        "(`does_not_exist`: the simulator answers `(#132001)`), through the real intake and sender:\n\n"
        "| TemplatePolicy | provider calls | recipients put in them |\n|---|---|---|\n"
        f"{rows}\n\n"
        "`off` is the gateway without a catalogue: every chunk goes to the provider and is refused. Under `warn` the "
        "first refusal marks the template rejected in the catalogue, so the chunks after it fail without a call; under "
        "`enforce` nothing is sent.\n\n"
        f"The checks of a single marketing send (the catalogue, cached per container, and the opt-out list), against a "
        f"utility send under TemplatePolicy off, add per "
        f"send: {extra or 'no request'}; "
        f"${results['checks_cost_per_million_sends']:.2f} a million sends at the cost model's prices.\n"
    )


if __name__ == "__main__":
    print(json.dumps(measure(json.load(sys.stdin))))
