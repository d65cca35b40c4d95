"""Deploy the stack of template.yaml into emulated AWS (moto), never into real AWS.

What ``sam package`` + ``sam deploy`` do, as far as moto can follow:

1. package: zip each function's ``CodeUri`` folder (and a placeholder per layer: the package is
   importable in the devstack's process already) into a deployment bucket and point
   ``CodeUri``/``ContentUri``/``DefinitionUri`` at the S3 objects;
2. transform the SAM template with the SAM translator;
3. create, through each service's own API, what moto's CloudFormation skips (Glue database,
   Secrets Manager secrets) with the names and values the template gives, and put their
   ``Ref``/``GetAtt`` values in the template in place of the references;
4. create (or re-create) the stack with moto's CloudFormation;
5. create or update the state machine through the Step Functions API (one made by moto's
   CloudFormation cannot execute), its definition the ASL file with the template's
   ``DefinitionSubstitutions`` resolved;
6. check each function's environment against the template and patch what moto left unresolved.

Resources with no emulation (the Scheduler schedule, the bucket policy, ...) are left out and
named in the result's ``notes``.
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
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from vanta_vuln_stats.devstack.language_extensions import resolve_language_extensions
from vanta_vuln_stats.errors import UserInputError, VantaVulnStatsError

__all__ = ["DeployError", "check_endpoint", "deploy_stack", "load_template"]


class DeployError(VantaVulnStatsError):
    """The stack could not be deployed into emulated AWS."""


# Types moto's CloudFormation skips (or creates where it cannot run): the deploy creates the
# first group through their own APIs and leaves the second out, with a note.
CREATED_BY_API = {
    "AWS::Glue::Database",
    "AWS::SecretsManager::Secret",
    "AWS::StepFunctions::StateMachine",
}
NOT_EMULATED = {
    "AWS::S3::BucketPolicy": "the bucket policy (moto's CloudFormation skips it; moto does not "
    "enforce bucket policies anyway)",
    "AWS::Scheduler::Schedule": "the EventBridge Scheduler schedule (no moto support): start "
    "the state machine yourself",
    "AWS::Glue::Table": "Glue tables (the pipeline creates its tables itself)",
    "AWS::Athena::WorkGroup": "the Athena workgroup",
    "AWS::CloudWatch::Alarm": "CloudWatch alarms",
    "AWS::ApiGateway::ApiKey": "API Gateway API keys",
    "AWS::ApiGateway::UsagePlan": "API Gateway usage plans",
    "AWS::ApiGateway::UsagePlanKey": "API Gateway usage plan keys",
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


class Resolver:
    """Evaluates Ref, Fn::Sub, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split and Fn::If over known
    values: ``refs`` (name -> Ref value), ``attributes`` ((name, attribute) -> value) and the
    template's ``conditions`` (name -> definition, evaluated with Fn::Equals/Not/And/Or)."""

    def __init__(
        self,
        refs: Mapping[str, Any],
        attributes: Mapping[tuple[str, str], Any] | None = None,
        conditions: Mapping[str, Any] | None = None,
    ):
        self.refs = dict(refs)
        self.attributes = dict(attributes or {})
        self.conditions = dict(conditions or {})

    def condition(self, value: Any) -> bool:
        if isinstance(value, str):  # a condition's name
            if value not in self.conditions:
                raise Unresolved(f"Condition {value}")
            return self.condition(self.conditions[value])
        ((key, argument),) = value.items()
        if key == "Condition":
            return self.condition(argument)
        if key == "Fn::Equals":
            return str(self(argument[0])) == str(self(argument[1]))
        if key == "Fn::Not":
            return not self.condition(argument[0])
        if key == "Fn::And":
            return all(self.condition(item) for item in argument)
        if key == "Fn::Or":
            return any(self.condition(item) for item in argument)
        raise Unresolved(key)

    def ref(self, name: str) -> Any:
        if name in self.refs:
            return self.refs[name]
        raise Unresolved(f"Ref {name}")

    def attribute(self, name: str, attribute: str) -> Any:
        if (name, attribute) in self.attributes:
            return self.attributes[(name, attribute)]
        raise Unresolved(f"Fn::GetAtt {name}.{attribute}")

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
        if isinstance(value, list):
            return [self(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                name, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
                return self.attribute(name, attribute)
            if key == "Fn::Sub":
                if isinstance(argument, str):
                    return self.sub(argument)
                return self.sub(argument[0], argument[1])
            if key == "Fn::Join":
                return str(argument[0]).join(str(self(item)) for item in self(argument[1]))
            if key == "Fn::Select":
                return self(argument[1])[int(self(argument[0]))]
            if key == "Fn::Split":
                return str(self(argument[1])).split(argument[0])
            if key == "Fn::If":
                return self(argument[1] if self.condition(argument[0]) else argument[2])
            if key.startswith("Fn::"):
                raise Unresolved(key)
        return {key: self(item) for key, item in value.items()}


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
    account = client("sts").get_caller_identity()["Account"]
    pseudo = {
        "AWS::StackName": stack_name,
        "AWS::Region": REGION,
        "AWS::AccountId": account,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NoValue": None,
    }
    base = Resolver({**values, **pseudo})

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
    sm = client("secretsmanager")
    for logical_id, resource in list(resources.items()):
        kind = resource["Type"]
        properties = resource.get("Properties", {})
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
        elif kind in NOT_EMULATED:
            notes.append(f"skipped {logical_id} ({kind}): {NOT_EMULATED[kind]}")
            del resources[logical_id]
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
        if "LogicalResourceId" in item  # moto lists a resource whose Condition is false as empty
    }

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
    resolver = Resolver({**values, **pseudo, **refs}, attributes, transformed.get("Conditions"))

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

    # 6. function environments as the template resolves them
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
        "artifacts_bucket": artifacts,
        "notes": notes,
    }


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
