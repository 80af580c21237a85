"""Read `template.yaml`, translate it offline with aws-sam-translator, and describe what the local stack must run.

Everything the local stack creates or serves comes from here, so there is no second hand-kept list of tables,
queues, rules or routes. Translating offline needs three things: `AWS_DEFAULT_REGION` set, every
`CodeUri`/`ContentUri` replaced by an `s3://` URI, and a managed-policy loader whose `load()` returns `{}`
(`tools/sam_transform.py`, run in .venv-sam). The `s3://` URI keeps the original folder as its key, so the translated
`Code.S3Key` still tells which folder holds a function's code.

This module also holds `Resolver`, which turns `Ref`, `Fn::GetAtt`, `Fn::Sub` (and the few other intrinsics the
template could use) into local physical values: names, ARNs, URLs.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LOCAL_CODE_BUCKET = "wab-local-code"
PROJECT_DIR = Path(__file__).resolve().parents[1]
ACCOUNT_ID = "123456789012"  # moto's default account
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
ANY_METHOD_KEY = "x-amazon-apigateway-any-method"


class TemplateError(Exception):
    """The template asks for something the local stack cannot do, or refers to something that does not exist."""


# ---------------------------------------------------------------------------------------------------------------
# Loading and translating
# ---------------------------------------------------------------------------------------------------------------


class _CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that turns short-form tags (`!Ref X`, `!GetAtt A.B`, `!Sub …`) into their long form."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # YAML composes no other kind of node
        raise TemplateError(f"!{tag_suffix} on an unexpected YAML node: {node!r}")
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML template, short-form intrinsics included."""
    with open(path, encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=_CloudFormationLoader)
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources)")
    return document


class _NoManagedPolicies:
    """Managed-policy loader for offline translation: the local stack never needs the managed policies' ARNs."""

    def load(self) -> dict[str, str]:
        return {}


def _code_uri_to_s3(uri: Any) -> Any:
    """`functions/x/` → `s3://wab-local-code/functions/x/`, so the folder survives translation as `S3Key`."""
    if isinstance(uri, str) and not uri.startswith("s3://"):
        return f"s3://{LOCAL_CODE_BUCKET}/{uri.strip('/')}"
    return uri


def translate(sam_template: Mapping[str, Any], parameter_values: Mapping[str, str], region: str) -> dict[str, Any]:
    """Translate a SAM template into plain CloudFormation, offline (by `tools.sam_transform`, in .venv-sam)."""
    prepared = copy.deepcopy(dict(sam_template))
    function_globals = prepared.get("Globals", {}).get("Function", {})
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = _code_uri_to_s3(function_globals["CodeUri"])
    for resource in prepared["Resources"].values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if key in properties:
                properties[key] = _code_uri_to_s3(properties[key])
    request = json.dumps({"template": prepared, "parameters": dict(parameter_values), "region": region}, sort_keys=True)
    return json.loads(_transform(request))


@functools.lru_cache(maxsize=32)
def _transform(request: str) -> str:
    """The translator's answer to one request (the same template and parameters translate the same way)."""
    python = os.environ.get("WAB_SAM_PYTHON") or str(PROJECT_DIR / ".venv-sam" / "bin" / "python")
    if not Path(python).is_file():
        raise TemplateError(f"the SAM tooling is not installed ({python} is missing): run `make install`")
    answer = subprocess.run(
        [python, "-m", "tools.sam_transform"], input=request, capture_output=True, text=True, cwd=PROJECT_DIR
    )
    if answer.returncode != 0:
        raise TemplateError(f"the SAM transform failed: {answer.stderr.strip().splitlines()[-1:]}")
    return answer.stdout


def effective_parameters(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Parameter values as CloudFormation sees them (strings): template defaults, then overrides, validated."""
    declared: Mapping[str, Mapping[str, Any]] = template.get("Parameters") or {}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"unknown template parameter(s): {', '.join(unknown)}")
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if name in overrides:
            value = str(overrides[name])
        elif "Default" in spec:
            value = str(spec["Default"])
        else:
            raise TemplateError(f"parameter {name} has no default: pass a value for it")
        _validate_parameter(name, spec, value)
        values[name] = value
    return values


def _validate_parameter(name: str, spec: Mapping[str, Any], value: str) -> None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(item) for item in allowed]:
        raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise TemplateError(f"parameter {name}={value!r} does not match {pattern}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise TemplateError(f"parameter {name}={value!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise TemplateError(f"parameter {name}={value} is below its MinValue {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise TemplateError(f"parameter {name}={value} is above its MaxValue {spec['MaxValue']}")


# ---------------------------------------------------------------------------------------------------------------
# Resolving intrinsics
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class PhysicalResource:
    """What a logical id stands for locally: `Ref` gives `ref`, `Fn::GetAtt` reads `attributes`."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class _NoValue:
    """`Ref: AWS::NoValue`: the property (or list item) holding it is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


class Resolver:
    """Resolve CloudFormation intrinsics against parameters, pseudo parameters, conditions and local resources."""

    def __init__(
        self,
        *,
        parameters: Mapping[str, str],
        stack_name: str,
        region: str,
        account_id: str = ACCOUNT_ID,
        conditions: Mapping[str, bool] | None = None,
    ):
        self.parameters = dict(parameters)
        self.conditions = dict(conditions or {})
        self.physical: dict[str, PhysicalResource] = {}
        self.pseudo = {
            "AWS::StackName": stack_name,
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
            "AWS::NoValue": NO_VALUE,
        }

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name].ref
        raise TemplateError(f"cannot resolve Ref {name}: no such parameter or local resource")

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self.physical.get(logical_id)
        if resource is None:
            raise TemplateError(f"cannot resolve Fn::GetAtt {logical_id}.{attribute}: no such local resource")
        if attribute not in resource.attributes:
            raise TemplateError(f"cannot resolve Fn::GetAtt {logical_id}.{attribute}: the local stack does not know it")
        return resource.attributes[attribute]

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise TemplateError(f"unknown condition {name}")
        return self.conditions[name]

    def resolve(self, value: Any) -> Any:
        """Return `value` with every intrinsic replaced by its local value (recursively); `AWS::NoValue` removes
        the key or list item holding it, and only the chosen branch of an `Fn::If` is resolved."""
        resolved = self._resolve(value)
        return None if resolved is NO_VALUE else resolved

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = (self._resolve(item) for item in value)
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
                return self.get_att(logical_id, attribute)
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self._resolve(when_true if self.condition(name) else when_false)
            if key == "Condition" and isinstance(argument, str):
                return self.condition(argument)
            if key == "Fn::Equals":
                left, right = (self._resolve(item) for item in argument)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._resolve(argument[0])
            if key == "Fn::And":
                return all(self._resolve(item) for item in argument)
            if key == "Fn::Or":
                return any(self._resolve(item) for item in argument)
            if key == "Fn::Join":
                separator, items = argument
                return str(separator).join(str(item) for item in self._resolve(items))
            if key == "Fn::Select":
                index, items = self._resolve(argument)
                return items[int(index)]
            if key == "Fn::Split":
                separator, text = self._resolve(argument)
                return str(text).split(separator)
            if key.startswith("Fn::"):
                raise TemplateError(f"the local stack does not resolve {key}")
        resolved = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def evaluate_conditions(self, definitions: Mapping[str, Any]) -> dict[str, bool]:
        """Evaluate a template's Conditions section (conditions may refer to each other) into `self.conditions`."""
        evaluating: set[str] = set()

        def evaluate(name: str) -> bool:
            if name in self.conditions:
                return self.conditions[name]
            if name not in definitions:
                raise TemplateError(f"unknown condition {name}")
            if name in evaluating:
                raise TemplateError(f"condition {name} refers to itself")
            evaluating.add(name)
            for referenced in _condition_references(definitions[name]):
                evaluate(referenced)
            self.conditions[name] = bool(self._resolve(definitions[name]))
            return self.conditions[name]

        for name in definitions:
            evaluate(name)
        return dict(self.conditions)

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {name: self.resolve(item) for name, item in argument[1].items()}
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name not in self.parameters:
                logical_id, attribute = name.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text)


def _condition_references(value: Any) -> set[str]:
    if isinstance(value, list):
        return set().union(*(_condition_references(item) for item in value)) if value else set()
    if isinstance(value, dict):
        if set(value) == {"Condition"} and isinstance(value["Condition"], str):
            return {value["Condition"]}
        return set().union(*(_condition_references(item) for item in value.values())) if value else set()
    return set()


def referenced_logical_ids(value: Any) -> set[str]:
    """Every logical id (or parameter name) a property value refers to through Ref, Fn::GetAtt or Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= referenced_logical_ids(item)
    elif isinstance(value, dict):
        for key, argument in value.items():
            if key == "Ref" and isinstance(argument, str):
                found.add(argument)
            elif key == "Fn::GetAtt":
                found.add(argument.split(".", 1)[0] if isinstance(argument, str) else argument[0])
            elif key == "Fn::Sub":
                text = argument[0] if isinstance(argument, list) else argument
                local_names = set(argument[1]) if isinstance(argument, list) else set()
                for name in _SUB_VARIABLE.findall(text):
                    if not name.startswith("!") and name not in local_names:
                        found.add(name.split(".", 1)[0])
                if isinstance(argument, list):
                    found |= referenced_logical_ids(argument[1])
            else:
                found |= referenced_logical_ids(argument)
    return {name for name in found if not name.startswith("AWS::")}


# ---------------------------------------------------------------------------------------------------------------
# What the translated template declares
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function: where its code is, how to call it, and its raw (unresolved) environment."""

    logical_id: str
    code_dir: Path
    handler: str
    timeout_seconds: int
    memory_mb: int
    environment: Mapping[str, Any]
    layer_ids: tuple[str, ...]
    function_name: Any = None  # FunctionName property when the template sets one


@dataclass(frozen=True)
class LayerSpec:
    logical_id: str
    content_dir: Path
    layer_name: str


@dataclass(frozen=True)
class IamAuth:
    """The route requires a SigV4-signed request (`AWS_IAM`)."""


@dataclass(frozen=True)
class UnsupportedAuth:
    """An authorizer the local stack cannot run (Lambda, JWT): its routes answer 500 and a warning is logged."""

    name: str
    kind: str


RouteAuth = IamAuth | UnsupportedAuth | None


@dataclass(frozen=True)
class RouteSpec:
    method: str  # "GET", "POST", …, or "ANY"
    path: str  # "/messages/{id}", "/files/{proxy+}" or "$default"
    function_id: str
    payload_format_version: str
    auth: RouteAuth

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class RouteThrottle:
    """A stage's throttling for a route (or its default); numbers are resolved when the stack builds it."""

    rate: Any
    burst: Any


@dataclass(frozen=True)
class HttpApiSpec:
    logical_id: str
    routes: tuple[RouteSpec, ...]
    default_throttle: RouteThrottle | None = None
    route_throttles: Mapping[str, RouteThrottle] = field(default_factory=dict)


@dataclass(frozen=True)
class FunctionUrlSpec:
    """A Lambda function URL: every method and path goes to one function, as payload format 2.0 (`$default`)."""

    logical_id: str
    function_id: str
    auth: RouteAuth

    @property
    def routes(self) -> tuple[RouteSpec, ...]:
        return (RouteSpec("ANY", "$default", self.function_id, "2.0", self.auth),)


@dataclass(frozen=True)
class EventSourceMappingSpec:
    """An SQS event source mapping; numbers are resolved when the stack builds it (they may be parameters)."""

    logical_id: str
    function_id: str
    queue_arn: Any
    batch_size: Any
    report_batch_item_failures: bool
    maximum_concurrency: Any
    maximum_batching_window_seconds: Any
    enabled: Any


@dataclass(frozen=True)
class StreamEventSourceMappingSpec:
    """A DynamoDB stream event source mapping; values are resolved when the stack builds it (they may be parameters).
    `filter_patterns` are the FilterCriteria patterns as JSON text; `on_failure` the OnFailure destination's ARN."""

    logical_id: str
    function_id: str
    stream_arn: Any
    starting_position: Any
    batch_size: Any
    maximum_batching_window_seconds: Any
    report_batch_item_failures: bool
    maximum_retry_attempts: Any
    maximum_record_age_seconds: Any
    filter_patterns: tuple[Any, ...]
    on_failure: Any
    enabled: Any


# What a stream mapping may ask for that the local poller does not do: each must be absent or have this value.
_UNEMULATED_STREAM_OPTIONS = {"ParallelizationFactor": 1, "BisectBatchOnFunctionError": False}


class TranslatedTemplate:
    """The translated (plain CloudFormation) template of a SAM project, with the accessors the local stack needs."""

    def __init__(
        self,
        template_path: Path,
        *,
        region: str,
        stack_name: str = "wab-local",
        parameter_overrides: Mapping[str, str] | None = None,
    ):
        self.path = Path(template_path).resolve()
        self.project_dir = self.path.parent
        self.sam = load_template(self.path)
        self.parameters = effective_parameters(self.sam, parameter_overrides)
        self.cfn = translate(self.sam, self.parameters, region)
        self.conditions = Resolver(
            parameters=self.parameters, stack_name=stack_name, region=region
        ).evaluate_conditions(self.cfn.get("Conditions") or {})
        # Resources whose Condition is false do not exist, as in CloudFormation.
        self.resources: dict[str, dict[str, Any]] = {
            logical_id: resource
            for logical_id, resource in self.cfn["Resources"].items()
            if "Condition" not in resource or self.conditions[resource["Condition"]]
        }

    def resolver(self, stack_name: str, region: str) -> Resolver:
        """A resolver for this template's parameters and conditions (physical values get added as resources are)."""
        return Resolver(parameters=self.parameters, stack_name=stack_name, region=region, conditions=self.conditions)

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {logical_id: r for logical_id, r in self.resources.items() if r["Type"] == resource_type}

    def properties(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id].get("Properties") or {}

    def _code_dir(self, code: Mapping[str, Any], owner: str) -> Path:
        if code.get("S3Bucket") != LOCAL_CODE_BUCKET:
            raise TemplateError(f"{owner}: only local folders are supported as code, not {code}")
        return self.project_dir / code["S3Key"]

    def layers(self) -> dict[str, LayerSpec]:
        return {
            logical_id: LayerSpec(
                logical_id=logical_id,
                content_dir=self._code_dir(resource["Properties"]["Content"], logical_id),
                layer_name=resource["Properties"].get("LayerName", logical_id),
            )
            for logical_id, resource in self.of_type("AWS::Lambda::LayerVersion").items()
        }

    def functions(self) -> dict[str, FunctionSpec]:
        functions = {}
        for logical_id, resource in self.of_type("AWS::Lambda::Function").items():
            properties = resource["Properties"]
            runtime = properties.get("Runtime", "")
            if not str(runtime).startswith("python"):
                raise TemplateError(f"{logical_id}: the local stack runs Python functions only, not {runtime!r}")
            layer_ids = []
            for layer in properties.get("Layers", []):
                referenced = referenced_logical_ids(layer)
                if len(referenced) != 1:
                    raise TemplateError(f"{logical_id}: layer {layer} is not a layer of this template")
                layer_ids.append(referenced.pop())
            functions[logical_id] = FunctionSpec(
                logical_id=logical_id,
                code_dir=self._code_dir(properties["Code"], logical_id),
                handler=properties["Handler"],
                timeout_seconds=int(properties.get("Timeout", 3)),
                memory_mb=int(properties.get("MemorySize", 128)),
                environment=(properties.get("Environment") or {}).get("Variables") or {},
                layer_ids=tuple(layer_ids),
                function_name=properties.get("FunctionName"),
            )
        return functions

    def _function_id_in(self, value: Any, what: str) -> str:
        """The function `value` refers to, directly or through one of its versions or aliases."""
        functions = set(self.of_type("AWS::Lambda::Function"))
        candidates = set()
        for logical_id in referenced_logical_ids(value):
            resource_type = self.resources.get(logical_id, {}).get("Type")
            if resource_type in ("AWS::Lambda::Alias", "AWS::Lambda::Version"):
                candidates |= referenced_logical_ids(self.properties(logical_id).get("FunctionName")) & functions
            elif logical_id in functions:
                candidates.add(logical_id)
        if len(candidates) != 1:
            raise TemplateError(f"{what}: cannot tell which function of this template it calls ({value})")
        return candidates.pop()

    def http_apis(self) -> list[HttpApiSpec]:
        if self.of_type("AWS::ApiGatewayV2::Route") or self.of_type("AWS::ApiGateway::RestApi"):
            raise TemplateError(
                "the local stack serves HTTP APIs defined by SAM (OpenAPI body); "
                "AWS::ApiGatewayV2::Route resources and REST APIs are not supported"
            )
        apis = []
        for logical_id, resource in self.of_type("AWS::ApiGatewayV2::Api").items():
            body = resource["Properties"].get("Body")
            if body is None:
                raise TemplateError(f"{logical_id}: an HTTP API without an OpenAPI Body is not supported locally")
            stage = self._stage_of(logical_id)
            apis.append(
                HttpApiSpec(
                    logical_id=logical_id,
                    routes=tuple(self._routes_of(logical_id, body)),
                    default_throttle=_throttle(stage.get("DefaultRouteSettings")),
                    route_throttles={
                        route_key: throttle
                        for route_key, settings in (stage.get("RouteSettings") or {}).items()
                        if (throttle := _throttle(settings))
                    },
                )
            )
        return apis

    def _stage_of(self, api_id: str) -> Mapping[str, Any]:
        """The properties of the API's `$default` stage (the one SAM creates), or none."""
        for resource in self.of_type("AWS::ApiGatewayV2::Stage").values():
            properties = resource.get("Properties") or {}
            if api_id in referenced_logical_ids(properties.get("ApiId")) and properties.get("StageName") == "$default":
                return properties
        return {}

    def _routes_of(self, api_id: str, body: Mapping[str, Any]) -> Iterable[RouteSpec]:
        schemes = (body.get("components") or {}).get("securitySchemes") or {}
        default_security = body.get("security") or []
        for path, operations in (body.get("paths") or {}).items():
            for key, operation in operations.items():
                if key == ANY_METHOD_KEY:
                    method = "ANY"
                elif key.lower() in HTTP_METHODS:
                    method = key.upper()
                else:
                    continue
                integration = operation.get("x-amazon-apigateway-integration") or {}
                what = f"{api_id} route {method} {path}"
                if integration.get("type") != "aws_proxy":
                    raise TemplateError(f"{what}: only Lambda proxy integrations are supported locally")
                yield RouteSpec(
                    method=method,
                    path=path,
                    function_id=self._function_id_in(integration.get("uri"), what),
                    payload_format_version=str(integration.get("payloadFormatVersion", "2.0")),
                    auth=self._route_auth(operation.get("security", default_security), schemes, what),
                )

    def _route_auth(self, security: list[Mapping[str, Any]], schemes: Mapping[str, Any], what: str) -> RouteAuth:
        names = [name for requirement in security for name in requirement]
        if not names or names == ["NONE"]:
            return None
        if len(names) > 1:
            raise TemplateError(f"{what}: more than one authorizer on a route is not supported")
        name = names[0]
        scheme = schemes.get(name) or {}
        if name == "AWS_IAM" or scheme.get("x-amazon-apigateway-authtype") == "awsSigv4":
            return IamAuth()
        authorizer = scheme.get("x-amazon-apigateway-authorizer") or {}
        return UnsupportedAuth(name=name, kind=str(authorizer.get("type") or scheme.get("type") or "unknown"))

    def function_urls(self) -> list[FunctionUrlSpec]:
        urls = []
        for logical_id in self.of_type("AWS::Lambda::Url"):
            properties = self.properties(logical_id)
            what = f"{logical_id} (a function URL)"
            auth_type = properties.get("AuthType")
            if auth_type not in ("NONE", "AWS_IAM"):
                raise TemplateError(f"{what}: AuthType must be NONE or AWS_IAM, not {auth_type!r}")
            function_id = self._function_id_in(properties.get("TargetFunctionArn"), what)
            urls.append(FunctionUrlSpec(logical_id, function_id, IamAuth() if auth_type == "AWS_IAM" else None))
        return urls

    def _event_source_type(self, logical_id: str, properties: Mapping[str, Any]) -> str:
        """ "queue" or "stream": what an event source mapping reads (an SQS queue, a DynamoDB table's stream)."""
        source = referenced_logical_ids(properties.get("EventSourceArn"))
        source_type = self.resources.get(next(iter(source)), {}).get("Type") if len(source) == 1 else None
        if source_type == "AWS::SQS::Queue":
            return "queue"
        if source_type == "AWS::DynamoDB::Table":
            return "stream"
        raise TemplateError(f"{logical_id}: only SQS queues and DynamoDB streams are supported locally as sources")

    def event_source_mappings(self) -> list[EventSourceMappingSpec]:
        """The SQS event source mappings (`stream_event_source_mappings` has the DynamoDB stream ones)."""
        mappings = []
        for logical_id, resource in self.of_type("AWS::Lambda::EventSourceMapping").items():
            properties = resource["Properties"]
            if self._event_source_type(logical_id, properties) != "queue":
                continue
            if properties.get("FilterCriteria"):
                raise TemplateError(f"{logical_id}: FilterCriteria is not supported by the local event source")
            mappings.append(
                EventSourceMappingSpec(
                    logical_id=logical_id,
                    function_id=self._function_id_in(properties.get("FunctionName"), logical_id),
                    queue_arn=properties["EventSourceArn"],
                    batch_size=properties.get("BatchSize", 10),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (properties.get("FunctionResponseTypes") or []),
                    maximum_concurrency=(properties.get("ScalingConfig") or {}).get("MaximumConcurrency"),
                    maximum_batching_window_seconds=properties.get("MaximumBatchingWindowInSeconds", 0),
                    enabled=properties.get("Enabled", True),
                )
            )
        return mappings

    def stream_event_source_mappings(self) -> list[StreamEventSourceMappingSpec]:
        mappings = []
        for logical_id, resource in self.of_type("AWS::Lambda::EventSourceMapping").items():
            properties = resource["Properties"]
            if self._event_source_type(logical_id, properties) != "stream":
                continue
            for option, value in _UNEMULATED_STREAM_OPTIONS.items():
                if properties.get(option, value) != value:
                    raise TemplateError(f"{logical_id}: {option} other than {value} is not emulated locally")
            if "TumblingWindowInSeconds" in properties:
                raise TemplateError(f"{logical_id}: TumblingWindowInSeconds is not emulated locally")
            filters = (properties.get("FilterCriteria") or {}).get("Filters") or []
            mappings.append(
                StreamEventSourceMappingSpec(
                    logical_id=logical_id,
                    function_id=self._function_id_in(properties.get("FunctionName"), logical_id),
                    stream_arn=properties["EventSourceArn"],
                    starting_position=properties.get("StartingPosition", "LATEST"),
                    batch_size=properties.get("BatchSize", 100),
                    maximum_batching_window_seconds=properties.get("MaximumBatchingWindowInSeconds", 0),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (properties.get("FunctionResponseTypes") or []),
                    maximum_retry_attempts=properties.get("MaximumRetryAttempts", -1),
                    maximum_record_age_seconds=properties.get("MaximumRecordAgeInSeconds", -1),
                    filter_patterns=tuple(entry.get("Pattern") for entry in filters),
                    on_failure=((properties.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"),
                    enabled=properties.get("Enabled", True),
                )
            )
        return mappings


def _throttle(settings: Mapping[str, Any] | None) -> RouteThrottle | None:
    if not settings or "ThrottlingRateLimit" not in settings:
        return None
    return RouteThrottle(rate=settings["ThrottlingRateLimit"], burst=settings.get("ThrottlingBurstLimit", 0))
