"""The template's runtime and SnapStart wiring, checked on the translated template as CloudFormation deploys it."""

from typing import Any

import pytest

from local.template import referenced_logical_ids
from tests.unit.test_template_security import deployed, of_type, translated

FUNCTIONS = (
    "CallbacksFunction",
    "IntakeFunction",
    "MessagesFunction",
    "ParkingFunction",
    "RelayFunction",
    "SenderFunction",
    "WaitsFunction",
)


def test_every_function_and_the_layer_run_python_3_13_on_arm64() -> None:
    resources = deployed(translated(), {})
    functions = of_type(resources, "AWS::Lambda::Function")
    assert {name: (f["Runtime"], f["Architectures"]) for name, f in functions.items()} == {
        name: ("python3.13", ["arm64"]) for name in FUNCTIONS
    }
    [layer] = of_type(resources, "AWS::Lambda::LayerVersion").values()
    assert (layer["CompatibleRuntimes"], layer["CompatibleArchitectures"]) == (["python3.13"], ["arm64"])


@pytest.mark.parametrize("setting, applied", [("off", "None"), ("on", "PublishedVersions")])
def test_snapstart_follows_its_parameter(setting: str, applied: str) -> None:
    functions = of_type(deployed(translated(), {"SnapStart": setting}), "AWS::Lambda::Function")
    assert {name: f["SnapStart"] for name, f in functions.items()} == {name: {"ApplyOn": applied} for name in FUNCTIONS}


def test_the_event_sources_and_the_api_invoke_the_live_alias() -> None:
    """SnapStart applies to published versions only: whatever invokes a function must go through its alias."""
    resources = deployed(translated(), {"SnapStart": "on"})
    aliases = {
        logical_id: props["FunctionName"]["Ref"]
        for logical_id, props in of_type(resources, "AWS::Lambda::Alias").items()
        if props["Name"] == "live"
    }
    assert sorted(aliases.values()) == sorted(FUNCTIONS)

    def target(function_name: Any) -> str:
        return function_name["Ref"]

    mappings = of_type(resources, "AWS::Lambda::EventSourceMapping")
    permissions = of_type(resources, "AWS::Lambda::Permission")
    assert mappings and all(target(props["FunctionName"]) in aliases for props in mappings.values())
    assert permissions and all(target(props["FunctionName"]) in aliases for props in permissions.values())
    [api] = of_type(resources, "AWS::ApiGatewayV2::Api").values()
    uris = [
        operation["x-amazon-apigateway-integration"]["uri"]
        for operations in api["Body"]["paths"].values()
        for operation in operations.values()
    ]
    assert uris and all(referenced_logical_ids(uri) & set(aliases) for uri in uris), uris


@pytest.mark.parametrize("days, kept", [("7", True), ("0", False)])
def test_the_bus_keeps_an_archive_for_replays_unless_switched_off(days: str, kept: bool) -> None:
    archives = of_type(deployed(translated(), {"EventArchiveDays": days}), "AWS::Events::Archive")
    if not kept:
        assert archives == {}
        return
    [archive] = archives.values()
    assert archive["SourceArn"] == {"Fn::GetAtt": ["EventBus", "Arn"]} and archive["RetentionDays"] == {
        "Ref": "EventArchiveDays"
    }


def test_the_template_is_ready_for_the_serverless_application_repository() -> None:
    from local.template import load_template
    from tests.helpers import ROOT

    application = load_template(ROOT / "template.yaml")["Metadata"]["AWS::ServerlessRepo::Application"]
    assert {"Name", "Description", "Author", "SpdxLicenseId", "LicenseUrl", "ReadmeUrl", "SemanticVersion"} <= set(
        application
    )
    assert (ROOT / application["LicenseUrl"]).is_file() and (ROOT / application["ReadmeUrl"]).is_file()
    assert all(part.isdigit() for part in application["SemanticVersion"].split("."))


STATUSES_PER_MESSAGE = 3  # sent, delivered, read: one callback each


def test_the_callback_routes_take_every_status_of_a_number_sending_at_its_default_rate() -> None:
    template = translated()
    parameters = template["Parameters"]
    [stage] = of_type(deployed(template, {}), "AWS::ApiGatewayV2::Stage").values()
    settings = stage["RouteSettings"]
    assert set(settings) == {"POST /callbacks/mo", "POST /callbacks/dlr"}
    for route in settings.values():
        rate = parameters[route["ThrottlingRateLimit"]["Ref"]]["Default"]
        burst = parameters[route["ThrottlingBurstLimit"]["Ref"]]["Default"]
        assert rate >= STATUSES_PER_MESSAGE * parameters["NumberRatePerSecond"]["Default"] * 1.1
        assert burst >= rate
    assert stage["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 200, "ThrottlingRateLimit": 100}


def test_tracing_and_the_log_level_of_every_function_follow_their_parameters() -> None:
    template = translated()
    assert (template["Parameters"]["TracingMode"]["Default"], template["Parameters"]["LogLevel"]["Default"]) == (
        "Active",
        "INFO",
    )
    functions = of_type(deployed(template, {}), "AWS::Lambda::Function")
    # The relay continues no trace (a stream's records carry none) and is never sampled on its own.
    assert {name: f["TracingConfig"] for name, f in functions.items()} == {
        name: {"Mode": "PassThrough" if name == "RelayFunction" else {"Ref": "TracingMode"}} for name in FUNCTIONS
    }
    assert {name: f["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] for name, f in functions.items()} == {
        name: {"Ref": "LogLevel"} for name in FUNCTIONS
    }
