"""The bench's seeded records sit where the gateway's own would: same index keys, so a DLR moves nothing."""

from wab.store import reference_key

from bench import inproc


def test_seeded_records_carry_the_gateways_reference_key() -> None:
    for message_id in ("wamid.A", "0f9e7c1d", "MSG-1", ""):
        assert inproc.seeded_reference_key("order-7", message_id) == reference_key("order-7", message_id)
