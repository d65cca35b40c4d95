"""Deploy the stack of template.yaml into emulated AWS (moto), never into real AWS.

What ``sam package`` + ``sam deploy`` do, as far as moto can follow:

1. package: zip each function's ``CodeUri`` folder (and a placeholder per layer: the package is
   importable in the devstack's process already) into a deployment bucket and point
   ``CodeUri``/``ContentUri``/``DefinitionUri`` at the S3 objects;
2. transform the SAM template with the SAM translator, after resolving what the
   ``AWS::LanguageExtensions`` transform resolves on AWS (``language_extensions.py``);
3. create, through each service's own API, what moto's CloudFormation skips and the stack
   refers to (Glue database, Secrets Manager secrets) with the names and values the template
   gives, and put their ``Ref``/``GetAtt`` values in the template in place of the references
   (also the names of what step 6 creates: workgroup, alarms, schedules, tables);
4. create (or re-create) the stack with moto's CloudFormation (which evaluates the template's
   Conditions and Fn::If itself);
5. create or update the state machine through the Step Functions API (one made by moto's
   CloudFormation cannot execute), its definition the ASL file with the template's
   ``DefinitionSubstitutions`` resolved;
6. create, through their own APIs, the other resources moto's CloudFormation skips, from their
   properties resolved against the deployed stack (``AFTER_STACK``: Glue tables, the Athena
   workgroup, SNS subscriptions, Scheduler schedules, CloudWatch alarms, API Gateway keys and
   usage plans); resources whose ``Condition`` is false are not created, as in CloudFormation;
   and each bucket's public access block and versioning, which moto's CloudFormation drops;
7. check each function's environment against the template and patch what moto left unresolved.

Resources with no emulation (the bucket and queue policies, the REST API's deployment and
stage) are left out and named in the result's ``notes``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import ipaddress
import json
import os
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from vanta_vuln_stats.devstack.language_extensions import resolve_language_extensions
from vanta_vuln_stats.errors import UserInputError, VantaVulnStatsError

__all__ = ["DeployError", "check_endpoint", "deploy_stack", "load_template"]


class DeployError(VantaVulnStatsError):
    """The stack could not be deployed into emulated AWS."""


# Types moto's CloudFormation skips (or creates where it cannot run). The deploy creates these
# through their own APIs before the stack (its resources refer to them) ...
CREATED_BY_API = {
    "AWS::Glue::Database",
    "AWS::SecretsManager::Secret",
    "AWS::StepFunctions::StateMachine",
}
# ... the types of AFTER_STACK (below) after it (they refer to its resources), and leaves these
# out, with a note.
NOT_EMULATED = {
    "AWS::S3::BucketPolicy": "the bucket policy: moto evaluates it, and its TLS-only Deny would "
    "refuse every request to the emulator's plain-http endpoint",
    "AWS::SQS::QueuePolicy": "the queue policy (moto's CloudFormation skips it; moto does not "
    "enforce queue policies anyway)",
    # moto's CloudFormation makes the REST API but ignores its OpenAPI body, so it has no
    # methods and a deployment of it is refused: invoke QueryApiFunction directly instead.
    "AWS::ApiGateway::Deployment": "the query API's deployment (moto leaves the REST API "
    "without methods): invoke QueryApiFunction directly",
    "AWS::ApiGateway::Stage": "the query API's stage (no deployment to stage)",
}

REGION = "us-east-1"


# ---------------------------------------------------------------------------------------------
# The endpoint


def check_endpoint(endpoint: str | None) -> str:
    """The emulated AWS endpoint, refused unless it is an http(s) URL on a loopback address."""
    if not endpoint:
        raise UserInputError(
            "AWS_ENDPOINT_URL is not set: start `vanta-vuln-stats devstack aws` and export "
            "AWS_ENDPOINT_URL=<its URL> (the devstack never deploys to real AWS)."
        )
    parsed = urlparse(endpoint)
    host = parsed.hostname or ""
    loopback = host == "localhost"
    if not loopback:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
    if parsed.scheme not in ("http", "https") or not loopback:
        raise UserInputError(
            f"AWS_ENDPOINT_URL {endpoint!r} is not a loopback http(s) URL: the devstack deploys "
            "only into emulated AWS on this machine."
        )
    return endpoint.rstrip("/")


# ---------------------------------------------------------------------------------------------
# The template and its intrinsic functions


def load_template(path: Path) -> dict[str, Any]:
    """template.yaml as plain JSON-like data (short forms such as !Ref as their long forms)."""
    if not path.is_file():
        raise UserInputError(f"Template {path} not found.")
    from cfnlint.decode import decode

    template, matches = decode(str(path))
    if template is None:
        problems = "; ".join(str(match) for match in matches or [])
        raise UserInputError(f"Template {path} could not be read: {problems}")
    return json.loads(json.dumps(template))


class Unresolved(Exception):
    """An intrinsic function the resolver cannot evaluate with what it knows."""


class _NoValue:
    """``Ref AWS::NoValue``: the property (or list item) that holds it is left out."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


class Resolver:
    """Evaluates Ref, Fn::Sub, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split and Fn::If over known
    values: ``refs`` (name -> Ref value), ``attributes`` ((name, attribute) -> value) and the
    template's ``conditions`` (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition). A property or
    list item that comes out as ``AWS::NoValue`` is left out, as CloudFormation does."""

    def __init__(
        self,
        refs: Mapping[str, Any],
        attributes: Mapping[tuple[str, str], Any] | None = None,
        conditions: Mapping[str, Any] | None = None,
    ):
        self.refs = {**dict(refs), "AWS::NoValue": NO_VALUE}
        self.attributes = dict(attributes or {})
        self.conditions = dict(conditions or {})
        self._truth: dict[str, bool] = {}

    def ref(self, name: str) -> Any:
        if name in self.refs:
            return self.refs[name]
        raise Unresolved(f"Ref {name}")

    def attribute(self, name: str, attribute: str) -> Any:
        if (name, attribute) in self.attributes:
            return self.attributes[(name, attribute)]
        raise Unresolved(f"Fn::GetAtt {name}.{attribute}")

    def condition(self, name: str) -> bool:
        """The value of the template's condition ``name`` (conditions see parameters only)."""
        if name not in self._truth:
            if name not in self.conditions:
                raise Unresolved(f"Condition {name}")
            self._truth[name] = False  # a condition that refers to itself is false
            self._truth[name] = self._holds(self.conditions[name])
        return self._truth[name]

    def _holds(self, expression: Any) -> bool:
        if isinstance(expression, dict) and len(expression) == 1:
            ((key, argument),) = expression.items()
            if key == "Condition":
                return self.condition(argument)
            if key == "Fn::Equals":
                left, right = (self._value(item) for item in argument)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._holds(argument[0])
            if key == "Fn::And":
                return all(self._holds(item) for item in argument)
            if key == "Fn::Or":
                return any(self._holds(item) for item in argument)
        if isinstance(expression, bool):
            return expression
        raise Unresolved(f"condition {json.dumps(expression)}")

    def sub(self, text: str, variables: Mapping[str, Any] | None = None) -> str:
        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token.startswith("!"):
                return "${" + token[1:] + "}"
            if variables and token in variables:
                return str(self(variables[token]))
            if "." in token:
                name, _, attribute = token.partition(".")
                return str(self.attribute(name, attribute))
            return str(self.ref(token))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def __call__(self, value: Any) -> Any:
        """``value`` resolved; ``None`` where the whole of it is ``AWS::NoValue``."""
        resolved = self._value(value)
        return None if resolved is NO_VALUE else resolved

    def _value(self, value: Any) -> Any:
        if isinstance(value, list):
            items = (self._value(item) for item in value)
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                name, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
                return self.attribute(name, attribute)
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self._value(when_true if self.condition(name) else when_false)
            if key == "Fn::Sub":
                if isinstance(argument, str):
                    return self.sub(argument)
                return self.sub(argument[0], argument[1])
            if key == "Fn::Join":
                items = self._value(argument[1])
                return str(argument[0]).join(str(item) for item in items)
            if key == "Fn::Select":
                return self._value(argument[1])[int(self._value(argument[0]))]
            if key == "Fn::Split":
                return str(self._value(argument[1])).split(argument[0])
            if key.startswith("Fn::"):
                raise Unresolved(key)
        items = ((key, self._value(item)) for key, item in value.items())
        return {key: item for key, item in items if item is not NO_VALUE}


def replace_references(value: Any, refs: Mapping[str, Any], attributes: Mapping) -> Any:
    """``value`` with Ref/GetAtt/${...} of the names in ``refs``/``attributes`` replaced by
    their values; every other intrinsic is left for CloudFormation."""
    names = set(refs) | {name for name, _ in attributes}
    if isinstance(value, list):
        return [replace_references(item, refs, attributes) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref" and argument in refs:
            return refs[argument]
        if key == "Fn::GetAtt":
            name, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
            if (name, attribute) in attributes:
                return attributes[(name, attribute)]
        if key == "Fn::Sub":
            text, variables = (argument, None) if isinstance(argument, str) else argument

            def replace(match: re.Match[str]) -> str:
                token = match.group(1)
                if variables and token in variables:
                    return match.group(0)
                if token in refs:
                    return str(refs[token])
                name, _, attribute = token.partition(".")
                if (name, attribute) in attributes:
                    return str(attributes[(name, attribute)])
                return match.group(0)

            if any(f"${{{name}" in text for name in names):
                text = re.sub(r"\$\{([^}!]+)\}", replace, text)
            if variables is not None:
                return {"Fn::Sub": [text, replace_references(variables, refs, attributes)]}
            return {"Fn::Sub": text}
    return {key: replace_references(item, refs, attributes) for key, item in value.items()}


# ---------------------------------------------------------------------------------------------
# Packaging


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


LAYER_PLACEHOLDER = (
    "Devstack placeholder layer: in emulated AWS the functions run in the devstack's own "
    "process, where vanta_vuln_stats and its dependencies are importable already.\n"
)


def _placeholder_layer() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("python/DEVSTACK_PLACEHOLDER.txt", (1980, 1, 1, 0, 0, 0))
        archive.writestr(info, LAYER_PLACEHOLDER)
    return buffer.getvalue()


def _artifacts_bucket(stack_name: str) -> str:
    base = re.sub(r"[^a-z0-9-]", "-", stack_name.lower()).strip("-") or "stack"
    return f"{base[:40]}-devstack-artifacts"


def _package(
    template: dict[str, Any], root: Path, s3: Any, bucket: str
) -> tuple[dict[str, str], dict[str, Any]]:
    """Uploads code, layers and definitions; rewrites their URIs in place. Returns the code
    folder of each function (logical id -> folder name) and each state machine's ASL."""
    folders: dict[str, str] = {}
    definitions: dict[str, Any] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        kind = resource.get("Type")
        properties = resource.setdefault("Properties", {})
        if kind == "AWS::Serverless::Function":
            code_uri = properties.get("CodeUri")
            if not isinstance(code_uri, str):
                raise DeployError(f"{logical_id}: CodeUri must be a folder of the project")
            folder = (root / code_uri).resolve()
            if not (folder / "app.py").is_file() and not any(folder.glob("*.py")):
                raise DeployError(
                    f"{logical_id}: its code folder {code_uri} has no handler yet "
                    f"(expected {Path(code_uri) / 'app.py'})"
                )
            data = _zip_folder(folder)
            key = f"{folder.name}/{hashlib.sha256(data).hexdigest()}.zip"
            s3.put_object(Bucket=bucket, Key=key, Body=data)
            properties["CodeUri"] = f"s3://{bucket}/{key}"
            folders[logical_id] = folder.name
        elif kind == "AWS::Serverless::LayerVersion":
            data = _placeholder_layer()
            key = f"layers/{logical_id}/{hashlib.sha256(data).hexdigest()}.zip"
            s3.put_object(Bucket=bucket, Key=key, Body=data)
            properties["ContentUri"] = f"s3://{bucket}/{key}"
        elif kind == "AWS::Serverless::StateMachine" and "DefinitionUri" in properties:
            uri = properties["DefinitionUri"]
            path = root / uri if isinstance(uri, str) else None
            if path is None or not path.is_file():
                raise DeployError(
                    f"{logical_id}: its definition {uri} is not there yet; the state machine "
                    "cannot be deployed without it"
                )
            text = path.read_text()
            try:
                json.loads(text)
            except ValueError as exc:
                raise DeployError(f"{logical_id}: {uri} is not valid JSON: {exc}") from None
            key = f"workflows/{hashlib.sha256(text.encode()).hexdigest()}.asl.json"
            s3.put_object(Bucket=bucket, Key=key, Body=text.encode())
            properties["DefinitionUri"] = {"Bucket": bucket, "Key": key}
            definitions[logical_id] = text
    return folders, definitions


# ---------------------------------------------------------------------------------------------
# What moto's CloudFormation skips, created through the services' own APIs after the stack
# (their properties refer to the stack's topic, functions, buckets and roles)


@dataclass
class _Target:
    """What a creating function needs: a client factory, the stack and the account."""

    client: Callable[[str], Any]
    stack_name: str
    account: str
    notes: list[str]


@dataclass
class _Made:
    """One created resource: its Ref, its Fn::GetAtt values, and what the result shows."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)
    shown: Any = None


def _api_arguments(
    client: Any, operation: str, values: Mapping[str, Any], dropped: list[str]
) -> dict[str, Any]:
    """``values`` as the operation's input shape takes them: CloudFormation's strings turned
    into the numbers and booleans the API wants; members the API does not have go to
    ``dropped``."""
    shape = client.meta.service_model.operation_model(operation).input_shape
    return _fit(shape, values, dropped, "")


def _fit(shape: Any, value: Any, dropped: list[str], path: str) -> Any:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        fitted = {}
        for key, item in value.items():
            if key in shape.members:
                fitted[key] = _fit(shape.members[key], item, dropped, f"{path}{key}.")
            else:
                dropped.append(f"{path}{key}")
        return fitted
    if kind == "list" and isinstance(value, list):
        return [_fit(shape.member, item, dropped, path) for item in value]
    if kind == "map" and isinstance(value, Mapping):
        return {str(key): _fit(shape.value, item, dropped, path) for key, item in value.items()}
    if kind in ("integer", "long") and isinstance(value, str | float):
        return int(float(value))
    if kind in ("double", "float") and isinstance(value, str | int):
        return float(value)
    if kind == "boolean" and isinstance(value, str):
        return value.strip().lower() == "true"
    if kind == "string" and isinstance(value, bool):
        return str(value).lower()
    if kind == "string" and isinstance(value, int | float):
        return str(value)
    return value


def _call(target: _Target, service: str, operation: str, logical_id: str, **values: Any) -> Any:
    """One API call with ``values`` fitted to it; what the API has no member for is noted."""
    client = target.client(service)
    dropped: list[str] = []
    arguments = _api_arguments(client, operation, values, dropped)
    if dropped:
        target.notes.append(
            f"{logical_id}: {', '.join(dropped)} not applied ({operation} has no such member)"
        )
    method = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
    return getattr(client, method)(**arguments)


def _cfn_tags(tags: Any) -> dict[str, str]:
    """CloudFormation's [{Key, Value}] tags as the {key: value} some APIs take."""
    return {str(tag["Key"]): str(tag["Value"]) for tag in tags or []}


def _lower_first(value: Any) -> Any:
    """Keys from CloudFormation's PascalCase to API Gateway's camelCase, all the way down."""
    if isinstance(value, list):
        return [_lower_first(item) for item in value]
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _lower_first(item) for key, item in value.items()}
    return value


def _glue_table(target: _Target, logical_id: str, properties: dict[str, Any]) -> _Made:
    glue = target.client("glue")
    arguments = {"DatabaseName": properties["DatabaseName"], "TableInput": properties["TableInput"]}
    try:
        _call(target, "glue", "CreateTable", logical_id, **arguments)
    except glue.exceptions.AlreadyExistsException:
        _call(target, "glue", "UpdateTable", logical_id, **arguments)
    name = properties["TableInput"]["Name"]
    return _Made(name, shown=f"{properties['DatabaseName']}.{name}")


def _athena_workgroup(target: _Target, logical_id: str, properties: dict[str, Any]) -> _Made:
    athena = target.client("athena")
    name = properties["Name"]
    arguments = {
        "Name": name,
        "Description": properties.get("Description", ""),
        "Configuration": properties.get("WorkGroupConfiguration") or {},
        "Tags": properties.get("Tags") or [],
    }
    arguments = {key: value for key, value in arguments.items() if value}
    try:
        exists = bool(athena.get_work_group(WorkGroup=name).get("WorkGroup"))
    except athena.exceptions.InvalidRequestException:
        exists = False
    if exists:  # moto 5.2.5 has no UpdateWorkGroup (NotImplementedError): replace it
        athena.delete_work_group(WorkGroup=name, RecursiveDeleteOption=True)
    _call(target, "athena", "CreateWorkGroup", logical_id, **arguments)
    if properties.get("State", "ENABLED") != "ENABLED":
        target.notes.append(f"{logical_id}: State {properties['State']} not applied (moto)")
    return _Made(name, shown=name)


def _attribute_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _sns_subscription(target: _Target, logical_id: str, properties: dict[str, Any]) -> _Made:
    # The other properties are the subscription's attributes, each a string in the API.
    attributes = {
        key: _attribute_text(value)
        for key, value in properties.items()
        if key not in {"TopicArn", "Protocol", "Endpoint", "Region"}
    }
    arn = _call(
        target,
        "sns",
        "Subscribe",
        logical_id,
        TopicArn=properties["TopicArn"],
        Protocol=properties["Protocol"],
        Endpoint=properties.get("Endpoint", ""),
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return _Made(arn, shown=arn)


def _schedule(target: _Target, logical_id: str, properties: dict[str, Any]) -> _Made:
    scheduler = target.client("scheduler")
    arguments = {"Name": f"{target.stack_name}-{logical_id}", **properties}
    try:
        _call(target, "scheduler", "CreateSchedule", logical_id, **arguments)
    except scheduler.exceptions.ConflictException:
        _call(target, "scheduler", "UpdateSchedule", logical_id, **arguments)
    described = scheduler.get_schedule(
        Name=arguments["Name"], GroupName=arguments.get("GroupName", "default")
    )
    return _Made(
        arguments["Name"],
        {"Arn": described["Arn"]},
        shown={"name": arguments["Name"], "state": described.get("State")},
    )


def _alarm(target: _Target, logical_id: str, properties: dict[str, Any]) -> _Made:
    name = properties.get("AlarmName") or f"{target.stack_name}-{logical_id}"
    _call(target, "cloudwatch", "PutMetricAlarm", logical_id, **{**properties, "AlarmName": name})
    arn = f"arn:aws:cloudwatch:{REGION}:{target.account}:alarm:{name}"
    return _Made(name, {"Arn": arn}, shown=name)


def _api_key(target: _Target, logical_id: str, properties: dict[str, Any]) -> _Made:
    apigateway = target.client("apigateway")
    arguments = _lower_first({key: value for key, value in properties.items() if key != "Tags"})
    arguments.setdefault("name", f"{target.stack_name}-{logical_id}")
    if properties.get("Tags"):
        arguments["tags"] = _cfn_tags(properties["Tags"])
    for key in apigateway.get_api_keys(nameQuery=arguments["name"]).get("items", []):
        if key.get("name") == arguments["name"]:  # a key of an earlier deploy
            apigateway.delete_api_key(apiKey=key["id"])
    key_id = _call(target, "apigateway", "CreateApiKey", logical_id, **arguments)["id"]
    return _Made(key_id, {"APIKeyId": key_id}, shown=key_id)


def _usage_plan(target: _Target, logical_id: str, properties: dict[str, Any]) -> _Made:
    apigateway = target.client("apigateway")
    renamed = {"UsagePlanName": "name"}
    arguments = _lower_first(
        {renamed.get(key, key): value for key, value in properties.items() if key != "Tags"}
    )
    arguments.setdefault("name", f"{target.stack_name}-{logical_id}")
    if properties.get("Tags"):
        arguments["tags"] = _cfn_tags(properties["Tags"])
    for plan in apigateway.get_usage_plans().get("items", []):
        if plan.get("name") == arguments["name"]:  # a plan of an earlier deploy
            apigateway.delete_usage_plan(usagePlanId=plan["id"])
    plan_id = _call(target, "apigateway", "CreateUsagePlan", logical_id, **arguments)["id"]
    return _Made(plan_id, shown=plan_id)


def _usage_plan_key(target: _Target, logical_id: str, properties: dict[str, Any]) -> _Made:
    arguments = _lower_first(properties)
    made = _call(target, "apigateway", "CreateUsagePlanKey", logical_id, **arguments)
    return _Made(made["id"], shown=f"{arguments['usagePlanId']}/{made['id']}")


# Type -> (the result's key, the function that creates one from its resolved properties), in
# the order of creation: a usage plan key needs its key and plan.
AFTER_STACK: dict[str, tuple[str, Callable[[_Target, str, dict[str, Any]], _Made]]] = {
    "AWS::Glue::Table": ("glue_tables", _glue_table),
    "AWS::Athena::WorkGroup": ("workgroups", _athena_workgroup),
    "AWS::SNS::Subscription": ("subscriptions", _sns_subscription),
    "AWS::Scheduler::Schedule": ("schedules", _schedule),
    "AWS::CloudWatch::Alarm": ("alarms", _alarm),
    "AWS::ApiGateway::ApiKey": ("api_keys", _api_key),
    "AWS::ApiGateway::UsagePlan": ("usage_plans", _usage_plan),
    "AWS::ApiGateway::UsagePlanKey": ("usage_plan_keys", _usage_plan_key),
}

# Where the Ref of a type is a name given in its properties: known before the stack exists, so
# references to it (a function's variables, the outputs) resolve in the stack's template.
NAMED_BY = {
    "AWS::Glue::Table": ("TableInput", "Name"),
    "AWS::Athena::WorkGroup": ("Name",),
    "AWS::Scheduler::Schedule": ("Name",),
    "AWS::CloudWatch::Alarm": ("AlarmName",),
    "AWS::ApiGateway::Stage": ("StageName",),
}
DEFAULT_NAMED = {"AWS::Scheduler::Schedule", "AWS::CloudWatch::Alarm"}


def _known_name(
    kind: str, logical_id: str, properties: Mapping[str, Any], resolver: Resolver, stack: str
) -> str | None:
    """The resource's Ref where it is a name known before the stack exists, else None."""
    value: Any = properties
    for key in NAMED_BY.get(kind, ()):
        value = value.get(key) if isinstance(value, Mapping) else None
    if kind not in NAMED_BY:
        return None
    if value is None:  # the name _alarm and _schedule give one without a name
        return f"{stack}-{logical_id}" if kind in DEFAULT_NAMED else None
    try:
        return str(resolver(value))
    except Unresolved:
        return None


# ---------------------------------------------------------------------------------------------
# The deployment


class _PolicyLoader:
    """The SAM translator's managed-policy loader: the template names no managed policies."""

    def load(self) -> dict[str, str]:
        return {}


def _transform(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    try:
        template = resolve_language_extensions(template, parameters)
        return json.loads(json.dumps(transform(template, parameters, _PolicyLoader())))
    except Exception as exc:
        raise DeployError(f"the SAM translator rejected the template: {exc}") from None
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)


def _parameter_values(template: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, str]:
    declared = template.get("Parameters", {}) or {}
    values = {name: str(spec["Default"]) for name, spec in declared.items() if "Default" in spec}
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in declared:
            raise UserInputError(f"The template has no parameter {name}.")
        values[name] = str(value)
    missing = sorted(set(declared) - set(values))
    if missing:
        raise UserInputError(f"No value for the template parameter(s): {', '.join(missing)}.")
    return values


def _secret_value(logical_id: str, properties: dict[str, Any], secrets: Mapping[str, str]) -> str:
    if logical_id in secrets:
        return secrets[logical_id]
    if "SecretString" in properties:
        return str(properties["SecretString"])
    return "{}"


def _ensure_secret(client: Any, name: str, value: str, description: str) -> str:
    try:
        arn = client.describe_secret(SecretId=name)["ARN"]
    except client.exceptions.ResourceNotFoundException:
        return client.create_secret(Name=name, SecretString=value, Description=description)["ARN"]
    client.put_secret_value(SecretId=arn, SecretString=value)
    return arn


def _ensure_database(glue: Any, database_input: dict[str, Any]) -> str:
    try:
        glue.create_database(DatabaseInput=database_input)
    except glue.exceptions.AlreadyExistsException:
        glue.update_database(Name=database_input["Name"], DatabaseInput=database_input)
    return database_input["Name"]


def _wait_for_stack(cfn: Any, stack_name: str, *, deleted: bool = False) -> dict[str, Any] | None:
    import time

    deadline = time.monotonic() + 60
    while True:
        try:
            stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        except cfn.exceptions.ClientError:
            if deleted:
                return None
            raise
        status = stack["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            if deleted and status == "DELETE_COMPLETE":
                return None
            return stack
        if time.monotonic() > deadline:
            raise DeployError(f"stack {stack_name} still {status} after 60 s")
        time.sleep(0.1)


def _existing_stack(cfn: Any, stack_name: str) -> dict[str, Any] | None:
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except cfn.exceptions.ClientError:
        return None
    live = [stack for stack in stacks if stack["StackStatus"] != "DELETE_COMPLETE"]
    return live[0] if live else None


def _clients(endpoint: str) -> Callable[[str], Any]:
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or "testing",
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or "testing",
        region_name=REGION,
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint)

    return client


def default_template() -> Path:
    """template.yaml of the current directory, else of the checkout this package runs from."""
    here = Path("template.yaml")
    if here.is_file():
        return here
    return Path(__file__).resolve().parents[3] / "template.yaml"


def deploy_stack(
    endpoint: str,
    *,
    stack_name: str,
    api_url: str,
    client_id: str,
    client_secret: str,
    slack_webhook_url: str | None = None,
    fetch_page_budget: int | None = None,
    write_batch_records: int | None = None,
    template_path: Path | str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Deploys template.yaml's stack into the emulated AWS at ``endpoint`` (see the module doc)
    and returns what a caller needs: bucket, lake, state machine, topic, database, functions."""
    endpoint = check_endpoint(endpoint)
    template_path = Path(template_path) if template_path else default_template()
    root = template_path.resolve().parent
    template = load_template(template_path)
    client = _clients(endpoint)
    notes: list[str] = []

    overrides: dict[str, Any] = {
        "VantaApiUrl": api_url,
        "FetchPageBudget": fetch_page_budget,
        "WriteBatchRecords": write_batch_records,
        **(parameters or {}),
    }
    declared = template.get("Parameters", {}) or {}
    values = _parameter_values(
        template, {name: value for name, value in overrides.items() if name in declared}
    )
    if str(values.get("EnableSnapStart", "false")).lower() == "true":
        raise UserInputError(
            "The emulated deploy cannot create Lambda versions or aliases (moto's CloudFormation "
            "has none): deploy with EnableSnapStart=false."
        )
    account = client("sts").get_caller_identity()["Account"]
    pseudo = {
        "AWS::StackName": stack_name,
        "AWS::Region": REGION,
        "AWS::AccountId": account,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }

    # 1. package
    s3 = client("s3")
    artifacts = _artifacts_bucket(stack_name)
    existing = s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists
    with contextlib.suppress(*existing):
        s3.create_bucket(Bucket=artifacts)
    folders, definitions = _package(template, root, s3, artifacts)

    # 2. transform
    transformed = _transform(template, values)
    resources: dict[str, Any] = transformed["Resources"]
    conditions = transformed.get("Conditions") or {}
    base = Resolver({**values, **pseudo}, conditions=conditions)

    # 3. what moto's CloudFormation skips, through the services' own APIs
    secrets_values = {
        "VantaCredentialsSecret": json.dumps(
            {"client_id": client_id, "client_secret": client_secret}
        ),
        "SlackWebhookSecret": json.dumps({"url": slack_webhook_url or ""}),
    }
    refs: dict[str, Any] = {}
    attributes: dict[tuple[str, str], Any] = {}
    secrets: dict[str, str] = {}
    glue_database = None
    machines: dict[str, dict[str, Any]] = {}
    later: dict[str, tuple[str, dict[str, Any]]] = {}  # created after the stack
    sm = client("secretsmanager")
    for logical_id, resource in list(resources.items()):
        kind = resource["Type"]
        properties = resource.get("Properties", {})
        handled = kind in CREATED_BY_API or kind in AFTER_STACK or kind in NOT_EMULATED
        if handled and resource.get("Condition") and not base.condition(resource["Condition"]):
            del resources[logical_id]  # as in CloudFormation: its condition is false
            continue
        if kind == "AWS::SecretsManager::Secret":
            name = base(properties.get("Name")) or f"{stack_name}-{logical_id}"
            value = _secret_value(logical_id, properties, secrets_values)
            arn = _ensure_secret(sm, name, value, str(base(properties.get("Description", ""))))
            refs[logical_id] = arn
            attributes[(logical_id, "Id")] = arn
            secrets[logical_id] = arn
            del resources[logical_id]
        elif kind == "AWS::Glue::Database":
            database_input = base(properties["DatabaseInput"])
            glue_database = _ensure_database(client("glue"), database_input)
            refs[logical_id] = glue_database
            del resources[logical_id]
        elif kind == "AWS::StepFunctions::StateMachine":
            name = base(properties.get("StateMachineName")) or f"{stack_name}-{logical_id}"
            arn = f"arn:aws:states:{REGION}:{account}:stateMachine:{name}"
            refs[logical_id] = arn
            attributes[(logical_id, "Arn")] = arn
            attributes[(logical_id, "Name")] = name
            machines[logical_id] = {"name": name, "arn": arn, "properties": properties}
            del resources[logical_id]
        elif kind in AFTER_STACK or kind in NOT_EMULATED:
            name = _known_name(kind, logical_id, properties, base, stack_name)
            if name is not None:
                refs[logical_id] = name
            if kind in AFTER_STACK:
                later[logical_id] = (kind, properties)
            else:
                notes.append(f"skipped {logical_id} ({kind}): {NOT_EMULATED[kind]}")
            del resources[logical_id]
    for resource in resources.values():  # no DependsOn on what is not in the stack's template
        depends = resource.get("DependsOn")
        if depends is not None:
            depends = [depends] if isinstance(depends, str) else depends
            resource["DependsOn"] = [name for name in depends if name in resources]
            if not resource["DependsOn"]:
                del resource["DependsOn"]
    transformed = replace_references(transformed, refs, attributes)
    resources = transformed["Resources"]

    # 4. the stack
    cfn = client("cloudformation")
    stack_parameters = [
        {"ParameterKey": key, "ParameterValue": value}
        for key, value in values.items()
        if key in (transformed.get("Parameters") or {})
    ]
    request = {
        "StackName": stack_name,
        "TemplateBody": json.dumps(transformed),
        "Parameters": stack_parameters,
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    }
    if _existing_stack(cfn, stack_name) is not None:
        # moto 5.2.5's UpdateStack fails (HTTP 500) on this template: delete, then create.
        retained = [
            item.get("PhysicalResourceId")
            for item in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
            if item.get("ResourceType") == "AWS::S3::Bucket"
            and transformed["Resources"].get(item["LogicalResourceId"], {}).get("DeletionPolicy")
            == "Retain"
        ]
        cfn.delete_stack(StackName=stack_name)
        _wait_for_stack(cfn, stack_name, deleted=True)
        notes.append(f"re-created the existing stack {stack_name} (moto cannot update it)")
        for name in filter(None, retained):
            notes.append(f"the previous stack's bucket {name} is kept (DeletionPolicy: Retain)")
    cfn.create_stack(**request)
    stack = _wait_for_stack(cfn, stack_name)
    assert stack is not None
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise DeployError(
            f"stack {stack_name} ended {stack['StackStatus']}: {stack.get('StackStatusReason')}"
        )
    physical = {
        item["LogicalResourceId"]: item
        for item in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
        if "LogicalResourceId" in item  # moto lists what it skipped without one
    }
    for logical_id, resource in resources.items():
        condition = resource.get("Condition")
        if logical_id not in physical and (not condition or base.condition(condition)):
            notes.append(f"moto's CloudFormation did not create {logical_id} ({resource['Type']})")

    # what the deployed resources resolve to
    lam = client("lambda")
    iam = client("iam")
    sns_topics: list[str] = []
    buckets: list[str] = []
    functions: dict[str, str] = {}
    for logical_id, item in physical.items():
        kind, physical_id = item["ResourceType"], item.get("PhysicalResourceId")
        if not physical_id:  # moto leaves some (layer versions, permissions) without one
            continue
        refs[logical_id] = physical_id
        if kind == "AWS::Lambda::Function":
            functions[logical_id] = physical_id
            arn = lam.get_function_configuration(FunctionName=physical_id)["FunctionArn"]
            attributes[(logical_id, "Arn")] = arn
        elif kind == "AWS::S3::Bucket":
            buckets.append(logical_id)
            attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{physical_id}"
            attributes[(logical_id, "DomainName")] = f"{physical_id}.s3.amazonaws.com"
        elif kind == "AWS::SNS::Topic":
            sns_topics.append(physical_id)
            attributes[(logical_id, "TopicName")] = physical_id.rsplit(":", 1)[-1]
            attributes[(logical_id, "TopicArn")] = physical_id
        elif kind == "AWS::IAM::Role":
            attributes[(logical_id, "Arn")] = iam.get_role(RoleName=physical_id)["Role"]["Arn"]
        elif kind == "AWS::SQS::Queue":  # its Ref is the queue's URL
            queue = physical_id.rstrip("/").rsplit("/", 1)[-1]
            attributes[(logical_id, "QueueName")] = queue
            attributes[(logical_id, "QueueUrl")] = physical_id
            attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{REGION}:{account}:{queue}"
        elif kind == "AWS::Logs::LogGroup":
            arn = f"arn:aws:logs:{REGION}:{account}:log-group:{physical_id}:*"
            attributes[(logical_id, "Arn")] = arn
    resolver = Resolver({**values, **pseudo, **refs}, attributes, conditions)

    # 5. state machines, through the Step Functions API
    sfn = client("stepfunctions")
    machine_arns: dict[str, str] = {}
    for logical_id, machine in machines.items():
        properties = machine["properties"]
        source = definitions.get(logical_id)
        if source is None:
            source = json.dumps(resolver(properties.get("Definition") or {}))
        substitutions = resolver(properties.get("DefinitionSubstitutions") or {})
        definition = _substitute(source, substitutions)
        left = sorted(set(re.findall(r"\$\{([^}]*)\}", definition)))
        if left:
            raise DeployError(
                f"{logical_id}: no DefinitionSubstitutions for {', '.join(left)} in its definition"
            )
        role = resolver(properties.get("RoleArn")) if properties.get("RoleArn") else None
        role = role or f"arn:aws:iam::{account}:role/{stack_name}-states"
        kind = str(resolver(properties.get("StateMachineType", "STANDARD")))
        machine_arns[logical_id] = _ensure_state_machine(
            sfn, machine["name"], machine["arn"], definition, role, kind
        )

    # 6. what moto's CloudFormation skips and refers to the stack's resources
    made = _create_after_stack(later, resolver, _Target(client, stack_name, account, notes))
    _complete_buckets(s3, resources, refs, resolver, notes)

    # 7. function environments as the template resolves them
    for logical_id, name in functions.items():
        wanted = (resources.get(logical_id, {}).get("Properties", {}).get("Environment", {})).get(
            "Variables"
        )
        if not wanted:
            continue
        try:
            expected = {key: str(value) for key, value in resolver(wanted).items()}
        except Unresolved as exc:
            notes.append(f"{logical_id}: environment not checked ({exc} unknown)")
            continue
        actual = (lam.get_function_configuration(FunctionName=name).get("Environment", {})).get(
            "Variables", {}
        )
        if {key: str(value) for key, value in actual.items()} != expected or any(
            not isinstance(value, str) for value in actual.values()
        ):
            # moto's CloudFormation keeps Number parameters as numbers; Lambda has strings
            lam.update_function_configuration(
                FunctionName=name, Environment={"Variables": expected}
            )
            changed = sorted(key for key in expected if actual.get(key) != expected[key])
            changed = changed or sorted(expected)
            notes.append(f"{logical_id}: patched environment variables {', '.join(changed)}")

    bucket = refs[buckets[0]] if buckets else None
    if "DataBucket" in refs:
        bucket = refs["DataBucket"]
    return {
        "stack_name": stack_name,
        "stack_id": stack["StackId"],
        "endpoint": endpoint,
        "bucket": bucket,
        "lake": f"s3://{bucket}" if bucket else None,
        "state_machine_arn": next(iter(machine_arns.values()), None),
        "state_machines": machine_arns,
        "topic_arn": sns_topics[0] if sns_topics else None,
        "glue_database": glue_database,
        "functions": functions,
        "function_folders": {
            logical_id: folder for logical_id, folder in folders.items() if logical_id in functions
        },
        "secrets": secrets,
        **made,
        "workgroup": next(iter(made["workgroups"].values()), None),
        "artifacts_bucket": artifacts,
        "notes": notes,
    }


def _create_after_stack(
    later: Mapping[str, tuple[str, dict[str, Any]]], resolver: Resolver, target: _Target
) -> dict[str, dict[str, Any]]:
    """Creates ``later``'s resources in AFTER_STACK's order, each from its properties resolved
    against the deployed stack; each one's Ref and attributes are known to those after it."""
    from botocore.exceptions import ClientError

    made: dict[str, dict[str, Any]] = {key: {} for key, _ in AFTER_STACK.values()}
    for kind, (key, create) in AFTER_STACK.items():
        for logical_id, (their_kind, properties) in later.items():
            if their_kind != kind:
                continue
            try:
                resolved = resolver(properties) or {}
            except Unresolved as exc:
                target.notes.append(f"not created {logical_id} ({kind}): {exc} unknown")
                continue
            try:
                created = create(target, logical_id, resolved)
            except ClientError as exc:
                raise DeployError(f"{logical_id} ({kind}) could not be created: {exc}") from None
            resolver.refs[logical_id] = created.ref
            for attribute, value in created.attributes.items():
                resolver.attributes[(logical_id, attribute)] = value
            made[key][logical_id] = created.shown
    return made


def _complete_buckets(
    s3: Any, resources: Mapping[str, Any], refs: Mapping[str, Any], resolver: Resolver, notes: list
) -> None:
    """A bucket's public access block and versioning as the template gives them: moto's
    CloudFormation creates the bucket without them (its encryption and lifecycle it applies)."""
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::S3::Bucket" or logical_id not in refs:
            continue
        bucket, properties = refs[logical_id], resolver(resource.get("Properties") or {}) or {}
        block = properties.get("PublicAccessBlockConfiguration")
        if block:
            s3.put_public_access_block(
                Bucket=bucket,
                PublicAccessBlockConfiguration={
                    key: str(value).lower() == "true" for key, value in block.items()
                },
            )
        status = (properties.get("VersioningConfiguration") or {}).get("Status")
        if status and s3.get_bucket_versioning(Bucket=bucket).get("Status") != status:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})
        if block or status:
            notes.append(f"{logical_id}: public access block and versioning set through the S3 API")


def _substitute(source: str, substitutions: Mapping[str, Any]) -> str:
    """An ASL text with ``${Name}`` replaced by its DefinitionSubstitutions value."""
    return re.sub(
        r"\$\{([A-Za-z0-9_]+)\}",
        lambda match: str(substitutions.get(match.group(1), match.group(0))),
        source,
    )


def _ensure_state_machine(
    sfn: Any, name: str, arn: str, definition: str, role: str, kind: str
) -> str:
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
    except sfn.exceptions.StateMachineDoesNotExist:
        return sfn.create_state_machine(name=name, definition=definition, roleArn=role, type=kind)[
            "stateMachineArn"
        ]
    sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=role)
    return arn
