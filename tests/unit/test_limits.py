"""DynamoDB's and EventBridge's sizes, as the gateway measures them before writing (rounded up, never down)."""

from decimal import Decimal

from boto3.dynamodb.types import TypeSerializer
from wab import limits


def test_strings_count_their_utf8_bytes_and_names_count_too():
    assert limits.item_size({"pk": "MSG#1", "text": "ā🇳🇿"}) == 2 + 5 + 4 + 2 + 8


def test_maps_and_lists_count_their_overhead_and_every_member():
    assert limits.value_size({}) == 3
    assert limits.value_size([]) == 3
    assert limits.value_size({"a": "xy"}) == 3 + 1 + 1 + 2
    assert limits.value_size([[0], [0]]) == 3 + 2 * (1 + 3 + 1 + 2)


def test_numbers_are_counted_at_least_a_byte_a_digit():
    for number in (0, 7, 9223372036854775807, Decimal("-36.848461123456789012345"), Decimal("1E-130")):
        digits = len(TypeSerializer().serialize(number)["N"].replace("-", "").replace(".", ""))
        assert limits.value_size(number) >= digits // 2 + 1


def test_an_event_detail_is_measured_as_its_json_text():
    assert limits.detail_size({"t": "a\\b", "n": Decimal("1.50")}) == len('{"t":"a\\\\b","n":1.50}')


def test_numbers_dynamodb_or_eventbridge_cannot_take_are_found_anywhere():
    assert not limits.has_unstorable_number({"a": [1, Decimal("1.5"), True, "1e400", {"b": 2**63 - 1}]})
    assert limits.has_unstorable_number({"a": [{"b": Decimal("1E+400")}]})
    assert limits.has_unstorable_number([2**63])
    assert limits.has_unstorable_number({"price": Decimal("1.234567890123456789012345678901234567891")})


def test_keys_dynamodb_refuses_are_found_anywhere():
    assert not limits.has_unstorable_key({"a": [{"b": ""}], "c": " ", "é" * 32767: 1})
    assert limits.has_unstorable_key({"a": [{"b": {"": 1}}]})
    assert limits.has_unstorable_key({"a": [{"é" * 32768: 1}]})  # 64 KB of UTF-8
