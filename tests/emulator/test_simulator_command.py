"""How the local stack starts the provider simulator: its secrets go by environment, never on the command line."""

import base64

import pytest

from local.simulator.__main__ import parse_arguments, simulator_config
from local.simulator.callbacks import CallbackTarget
from local.simulator.config import SimulatorError
from local.stack import Endpoints, LocalCredentials, simulator_command

ENDPOINTS = Endpoints(host="127.0.0.1", api_port=3000, aws_port=5000, simulator_port=4010)
# Characters a URL would otherwise misread, and a leading "-" that argparse would take for an option.
CREDENTIALS = LocalCredentials(
    callback_username="wab-callbacks",
    callback_password="-cb:p@ss/w%rd",
    provider_username="wab-local-1234",
    provider_password="-provider-secret",
)


def test_the_command_line_holds_no_secret() -> None:
    args, environment = simulator_command(
        ENDPOINTS, LocalCredentials.generate(callback_username="wab-callbacks"), "1234567890"
    )
    command_line = " ".join(args)
    for secret in environment.values():
        assert secret not in command_line
    assert "password" not in command_line and "@" not in command_line


def test_the_simulator_reads_what_the_stack_gives_it() -> None:
    args, environment = simulator_command(ENDPOINTS, CREDENTIALS, "1234567890")
    config = simulator_config(parse_arguments(args), environment)
    assert (config.host, config.port, config.source) == ("127.0.0.1", 4010, "1234567890")
    assert (config.api_username, config.api_password) == ("wab-local-1234", "-provider-secret")
    basic = "Basic " + base64.b64encode(b"wab-callbacks:-cb:p@ss/w%rd").decode()
    for url, path in ((config.mo_url, "/callbacks/mo"), (config.dlr_url, "/callbacks/dlr")):
        assert url is not None
        assert CallbackTarget.from_url(url, path) == CallbackTarget(f"http://127.0.0.1:3000{path}", basic)


def test_without_its_password_the_simulator_does_not_start() -> None:
    args, _ = simulator_command(ENDPOINTS, CREDENTIALS, None)
    with pytest.raises(SimulatorError, match="WAB_SIM_API_PASSWORD"):
        simulator_config(parse_arguments(args), {})
    config = simulator_config(parse_arguments(args), {"WAB_SIM_API_PASSWORD": "p"})
    assert config.mo_url == "http://127.0.0.1:3000/callbacks/mo"  # no callback credentials: the URL as given


def test_callbacks_go_to_the_callbacks_function_url_when_it_has_one() -> None:
    args, environment = simulator_command(ENDPOINTS, CREDENTIALS, None, "http://127.0.0.1:3917")
    config = simulator_config(parse_arguments(args), environment)
    assert [CallbackTarget.from_url(url or "", "").url for url in (config.mo_url, config.dlr_url)] == [
        "http://127.0.0.1:3917/callbacks/mo",
        "http://127.0.0.1:3917/callbacks/dlr",
    ]
