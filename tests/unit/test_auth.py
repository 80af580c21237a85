import base64

import pytest
from wab.auth import check_basic
from wab.errors import Unauthorized

CREDENTIALS = [(b"wab-callbacks", b"s3cret"), (b"wab-callbacks", b"old-s3cret")]


def header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("password", ["s3cret", "old-s3cret"])
def test_current_and_previous_credentials_pass(password):
    check_basic(header("wab-callbacks", password), CREDENTIALS)


def test_scheme_is_case_insensitive_and_password_may_hold_colons():
    check_basic("basic " + base64.b64encode(b"u:p:q").decode(), [(b"u", b"p:q")])


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Basic",
        "Basic ",
        "Bearer abc",
        "Basic ***",
        header("wab-callbacks", "S3CRET"),
        header("WAB-CALLBACKS", "s3cret"),
        header("wab-callbacks", "s3cret "),
        header("", ""),
        "Basic " + base64.b64encode(b"no-colon").decode(),
    ],
)
def test_anything_else_is_unauthorized(authorization):
    with pytest.raises(Unauthorized):
        check_basic(authorization, CREDENTIALS)
