"""HTTP Basic authentication of the provider's callbacks, against credentials kept in Secrets Manager.

The secret is `{"username", "password"}`; during a rotation it may also hold `previous_username` and
`previous_password`, and both pairs are accepted. Comparisons are constant-time and every pair is checked, so the
answer's timing says nothing about which part was wrong. The header is never logged.
"""

import base64
import binascii
import hmac

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from wab import aws
from wab.errors import DependencyFailed, Unauthorized

Credentials = list[tuple[bytes, bytes]]


def callback_credentials(secret_arn: str, max_age: int) -> Credentials:
    try:
        secret = aws.secrets().get(secret_arn, transform="json", max_age=max_age)
    except GetParameterError as exc:
        raise DependencyFailed("the callback credentials could not be read") from exc
    pairs = [
        (secret.get("username"), secret.get("password")),
        (secret.get("previous_username"), secret.get("previous_password")),
    ]
    credentials = [(user.encode(), password.encode()) for user, password in pairs if user and password]
    if not credentials:
        raise DependencyFailed("the callback credentials secret holds no username and password")
    return credentials


def check_basic(authorization: str | None, credentials: Credentials) -> None:
    """Raise Unauthorized unless the header carries one of the credential pairs."""
    username, password = _parse_basic(authorization)
    matched = False
    for expected_user, expected_password in credentials:
        user_ok = hmac.compare_digest(username, expected_user)
        password_ok = hmac.compare_digest(password, expected_password)
        matched |= user_ok & password_ok
    if not matched:
        raise Unauthorized("wrong credentials")


def _parse_basic(authorization: str | None) -> tuple[bytes, bytes]:
    if not authorization:
        raise Unauthorized("credentials required")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        raise Unauthorized("HTTP Basic credentials required")
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Unauthorized("malformed Basic credentials") from None
    username, separator, password = decoded.partition(b":")
    if not separator:
        raise Unauthorized("malformed Basic credentials")
    return username, password
