"""What the two hand-written callback handlers share, as one hand-written callbacks function would: clients, the
cached callback credentials and the Basic check."""

import base64
import hmac
import json
import os
import time

import boto3

SECRET_ARN = os.environ["CALLBACK_SECRET_ARN"]
SECRET_MAX_AGE = int(os.environ.get("SECRET_MAX_AGE_SECONDS", "300"))
_clients: dict = {}
_secret: dict = {"value": None, "at": 0.0}


def client(name):
    if name not in _clients:
        _clients[name] = boto3.client(name)
    return _clients[name]


def credentials():
    if _secret["value"] is None or time.monotonic() - _secret["at"] > SECRET_MAX_AGE:
        _secret["value"] = json.loads(client("secretsmanager").get_secret_value(SecretId=SECRET_ARN)["SecretString"])
        _secret["at"] = time.monotonic()
    return _secret["value"]


def authorized(header):
    if not header or not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return False
    secret = credentials()
    return hmac.compare_digest(user, secret["username"]) & hmac.compare_digest(password, secret["password"])


def answer(status, body, headers=None):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body),
    }


def number(value):
    """Decimals from the JSON decoder back to JSON numbers."""
    return int(value) if value == value.to_integral_value() else float(value)
