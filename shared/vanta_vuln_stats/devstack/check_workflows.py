"""Checks of the Step Functions definitions and their payload schemas that cfn-lint and
``sam validate`` do not make (``make lint`` runs this; ``python -m
vanta_vuln_stats.devstack.check_workflows [ROOT]``).

- Every ``${Name}`` in a state machine's definition file has a ``DefinitionSubstitutions``
  entry in template.yaml (a missing one is deployed as the literal text ``${Name}``, and the
  state fails only when it runs), and every entry is used.
- A placeholder is not the whole value of a field that must be a number (``"MaxConcurrency":
  "${WriteConcurrency}"``): substitution is textual, so it would deploy as a string.
- Every ``Next``/``Default`` names a state of its own ``States`` (Map and Parallel branches have
  their own).
- Every ``workflows/schemas/*.json`` is a valid JSON Schema, Draft 2020-12.
- No function lists a layer the Globals already give it: SAM adds a function's ``Layers`` to
  the Globals' list, so the layer would be attached twice.

Definition files or schemas that do not exist yet are not an error: there is nothing to check.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:]+)\}")
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
# ASL fields whose value must be a JSON number.
NUMERIC_FIELDS = frozenset(
    {
        "MaxConcurrency",
        "TimeoutSeconds",
        "HeartbeatSeconds",
        "ToleratedFailureCount",
        "ToleratedFailurePercentage",
        "MaxAttempts",
        "IntervalSeconds",
        "BackoffRate",
        "MaxDelaySeconds",
        "Seconds",
        "MaxItemsPerBatch",
        "MaxInputBytesPerBatch",
        "MaxItems",
    }
)


def load_template(path: Path) -> dict[str, Any]:
    """template.yaml with CloudFormation's short tags (``!Ref``, ``!GetAtt``, ``!Sub``...) read
    as their long form, which is all these checks need."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if suffix == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    Loader.add_multi_constructor("!", construct)
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=Loader)  # a SafeLoader subclass


def _strings(value: Any, key: str | None = None) -> Iterator[tuple[str | None, str]]:
    """Every string in a JSON value, with the key it is the value of (None in a list)."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, None)


def _state_graphs(definition: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Each ``States`` object of a definition (the top one, Map iterators, Parallel branches)."""
    if not isinstance(definition, dict):
        return
    states = definition.get("States")
    if isinstance(states, dict):
        yield where or "top level", states
        for name, state in states.items():
            if not isinstance(state, dict):
                continue
            for key in ("ItemProcessor", "Iterator"):
                yield from _state_graphs(state.get(key), f"{name}.{key}")
            for i, branch in enumerate(state.get("Branches") or []):
                yield from _state_graphs(branch, f"{name}.Branches[{i}]")


def check_definition(definition: Any, substitutions: dict[str, Any], label: str) -> list[str]:
    problems = []
    used: set[str] = set()
    for key, text in _strings(definition):
        names = PLACEHOLDER.findall(text)
        used.update(names)
        for name in names:
            if name not in substitutions:
                problems.append(f"{label}: ${{{name}}} has no DefinitionSubstitutions entry")
        if key in NUMERIC_FIELDS and PLACEHOLDER.fullmatch(text):
            problems.append(
                f"{label}: {key} is {text!r}, a string after substitution; "
                f"use {key}Path or a number"
            )
    for name in sorted(set(substitutions) - used):
        problems.append(f"{label}: DefinitionSubstitutions entry {name} is never used")
    for where, states in _state_graphs(definition):
        if isinstance(definition, dict) and where == "top level":
            start = definition.get("StartAt")
            if start not in states:
                problems.append(f"{label}: StartAt {start!r} is not a state")
        for name, state in states.items():
            if not isinstance(state, dict):
                continue
            targets = [state.get("Next"), state.get("Default")]
            targets += [c.get("Next") for c in state.get("Choices") or [] if isinstance(c, dict)]
            targets += [c.get("Next") for c in state.get("Catch") or [] if isinstance(c, dict)]
            for target in targets:
                if target is not None and target not in states:
                    problems.append(
                        f"{label}: {where} state {name!r} goes to {target!r}, not a state"
                    )
        for name, state in states.items():
            if isinstance(state, dict) and state.get("Type") == "Map":
                inner = state.get("ItemProcessor") or state.get("Iterator")
                inner_states = inner.get("States") or {} if isinstance(inner, dict) else {}
                if isinstance(inner, dict) and inner.get("StartAt") not in inner_states:
                    problems.append(f"{label}: Map {name!r} starts at a state it does not have")
    return problems


def check_state_machines(root: Path, template: dict[str, Any]) -> list[str]:
    problems = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::StateMachine":
            continue
        props = resource.get("Properties") or {}
        uri = props.get("DefinitionUri")
        if not isinstance(uri, str):
            continue  # inline or S3 definitions: not ours
        path = root / uri
        label = f"{logical_id} ({uri})"
        if not path.is_file():
            continue  # not written yet
        try:
            definition = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            problems.append(f"{label}: not valid JSON: {exc}")
            continue
        problems += check_definition(definition, props.get("DefinitionSubstitutions") or {}, label)
    return problems


def check_schemas(folder: Path) -> list[str]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    problems = []
    for path in sorted(folder.glob("*.json")):
        label = f"{folder.name}/{path.name}"
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            problems.append(f"{label}: not valid JSON: {exc}")
            continue
        declared = schema.get("$schema") if isinstance(schema, dict) else None
        if declared is not None and declared.rstrip("#") != DRAFT_2020_12:
            problems.append(f"{label}: $schema is {declared!r}, not Draft 2020-12")
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            problems.append(f"{label}: not a valid Draft 2020-12 schema: {exc.message}")
    return problems


def check_layers(template: dict[str, Any]) -> list[str]:
    globals_ = ((template.get("Globals") or {}).get("Function") or {}).get("Layers") or []
    problems = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for layer in (resource.get("Properties") or {}).get("Layers") or []:
            if layer in globals_:
                problems.append(
                    f"{logical_id}: Layers repeats {layer} from Globals (SAM appends a "
                    "function's layers to the Globals', so it would be attached twice)"
                )
    return problems


def check(root: Path) -> list[str]:
    template = load_template(root / "template.yaml")
    return (
        check_layers(template)
        + check_state_machines(root, template)
        + check_schemas(root / "workflows" / "schemas")
    )


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path.cwd()
    problems = check(root)
    for problem in problems:
        print(problem, file=sys.stderr)
    definitions = len(list((root / "workflows").glob("*.asl.json")))
    schemas = len(list((root / "workflows" / "schemas").glob("*.json")))
    print(
        f"check_workflows: {definitions} definition(s), {schemas} schema(s), "
        f"{len(problems)} problem(s)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
