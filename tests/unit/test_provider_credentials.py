"""The provider's base URL must be HTTPS: credentials and messages never cross a network in the clear."""

import pytest
from pydantic import ValidationError
from wab.provider import ProviderCredentials


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/rest/wab/v1",
        "http://127.0.0.1:4010/rest/wab/v1",
        "http://localhost:4010",
        "http://[::1]:8080/x",
    ],
)
def test_https_and_plain_http_to_this_machine_are_taken(url):
    assert ProviderCredentials(base_url=url, username="u", password="p").base_url == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com/rest/wab/v1",
        "http://10.0.0.5/rest",
        "http://127.0.0.1.example.com/",
        "http://localhost.example.com/",
        "ftp://api.example.com",
        "https:///no-host",
    ],
)
def test_plain_http_elsewhere_is_refused(url):
    with pytest.raises(ValidationError, match="must be an https:// URL"):
        ProviderCredentials(base_url=url, username="u", password="p")
