from decimal import Decimal

import pytest
from wab.api import http_status
from wab.errors import InvalidPayload
from wab.jsoncodec import MAX_DEPTH, decode, encode


def test_numbers_keep_every_digit_both_ways():
    text = '{"lat":-36.848461123456789012345,"price":19.99,"tiny":1E-7,"n":42,"big":9223372036854775807}'
    value = decode(text.encode())
    assert value["lat"] == Decimal("-36.848461123456789012345")
    assert value["price"] == Decimal("19.99")
    assert encode(value) == text


@pytest.mark.parametrize(
    "number",
    [
        "1e400",  # beyond DynamoDB's largest magnitude (9.99…E+125)
        "1e-400",  # below its smallest (1E-130)
        "1E+126",
        "1E-131",
        "0e400",  # zero, but with an exponent boto3 would clamp
        "1234567890123456789012345678901234567890",  # 40 significant digits (DynamoDB holds 38)
        "1.234567890123456789012345678901234567891",
        "9223372036854775808",  # one past EventBridge's 64-bit integers
        "-9223372036854775809",
        "123456789012345678901234567890",
        "1" + "0" * 5000,  # more digits than Python converts at all
    ],
)
def test_a_number_dynamodb_or_eventbridge_cannot_take_is_kept_as_its_exact_text(number):
    value = decode(f'{{"n": {number}}}'.encode())
    assert value == {"n": number}
    assert encode(value) == f'{{"n":"{number}"}}'


@pytest.mark.parametrize(
    "number",
    [
        "9.9999999999999999999999999999999999999E+125",
        "1E-130",
        "1.2345678901234567890123456789012345678",  # 38 significant digits
        "-0.00000000000000000000000000000000000001",
        "9223372036854775807",
        "-9223372036854775808",
        "0.0",
    ],
)
def test_numbers_at_the_limits_stay_numbers_and_dynamodb_takes_them(number):
    from boto3.dynamodb.types import TypeSerializer

    value = decode(f"[{number}]".encode())[0]
    assert not isinstance(value, str)
    assert TypeSerializer().serialize(value)["N"]


def test_encode_writes_unicode_as_is_and_escapes_what_json_needs():
    assert encode({"t": 'Māori "quoted" 🇳🇿\n'}) == '{"t":"Māori \\"quoted\\" 🇳🇿\\n"}'


@pytest.mark.parametrize(
    "raw, code, status",
    [
        (b"", "malformed_json", 400),
        (b"{", "malformed_json", 400),
        (b'{"a": 1,}', "malformed_json", 400),
        (b'{"a": NaN}', "malformed_json", 400),
        (b'{"a": Infinity}', "malformed_json", 400),
        (b"\xc3\x28", "invalid_encoding", 400),
        (b'"\\u0000"', "invalid_text", 422),
        (b'{"k\\u0000": 1}', "invalid_text", 422),
        (b'"\\udc00"', "invalid_text", 422),
        (b"[" * 100_000 + b"]" * 100_000, "too_deep", 422),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "too_deep", 422),
    ],
)
def test_unclean_input_is_refused(raw, code, status):
    with pytest.raises(InvalidPayload) as error:
        decode(raw)
    assert (error.value.code, http_status(error.value)) == (code, status)


def test_the_depth_limit_itself_is_allowed():
    value = decode(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    for _ in range(MAX_DEPTH - 1):
        value = value[0]
    assert value == []


def test_nan_cannot_be_encoded():
    with pytest.raises(ValueError):
        encode({"x": Decimal("NaN")})


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'"a\\u0000b"', "a\ufffdb"),
        (b'{"k\\udc00": ["\\ud83d", "\\ud83d\\ude00"]}', {"k\ufffd": ["\ufffd", "\U0001f600"]}),
        (b'{"x\\u0000": "k", "x\\ud800": "l"}', {"x\ufffd": "k", "x\ufffd\ufffd": "l"}),  # two keys stay two
    ],
)
def test_mending_replaces_what_no_store_takes_and_keeps_the_rest(raw, value):
    assert decode(raw, mend=True) == value
