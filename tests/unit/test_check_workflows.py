"""The workflow checker (``make lint``) on small fixtures, and on the repository itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vanta_vuln_stats.devstack.check_workflows import check, main

ROOT = Path(__file__).resolve().parents[2]

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Layers: [!Ref CoreLayer]
Resources:
  StepFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/step/
{layers}
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: workflows/sync.asl.json
      DefinitionSubstitutions:
        StepFunctionArn: !GetAtt StepFunction.Arn
        DataBucket: !Ref Bucket
"""


def _definition(**overrides: object) -> dict[str, object]:
    step = {"Type": "Task", "Resource": "${StepFunctionArn}", "Next": "Done"}
    step.update(overrides)
    return {
        "StartAt": "Step",
        "States": {
            "Step": step,
            "Done": {"Type": "Pass", "Parameters": {"bucket": "${DataBucket}"}, "End": True},
        },
    }


@pytest.fixture
def project(tmp_path: Path):
    def make(
        definition: object | None = None,
        schemas: dict[str, object] | None = None,
        layers: str = "",
    ) -> Path:
        (tmp_path / "template.yaml").write_text(TEMPLATE.format(layers=layers))
        (tmp_path / "workflows" / "schemas").mkdir(parents=True, exist_ok=True)
        if definition is not None:
            (tmp_path / "workflows" / "sync.asl.json").write_text(json.dumps(definition))
        for name, schema in (schemas or {}).items():
            (tmp_path / "workflows" / "schemas" / name).write_text(json.dumps(schema))
        return tmp_path

    return make


def test_a_complete_definition_passes(project):
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["run_id"],
        "properties": {"run_id": {"type": "string"}},
    }
    assert check(project(_definition(), {"prepare.json": schema})) == []


def test_nothing_written_yet_is_not_a_problem(project):
    assert check(project()) == []


def test_a_missing_substitution_is_reported(project):
    root = project(_definition(Parameters={"topic": "${TopicArn}"}))
    assert check(root) == [
        "Machine (workflows/sync.asl.json): ${TopicArn} has no DefinitionSubstitutions entry"
    ]
    assert main([str(root)]) == 1


def test_an_unused_substitution_is_reported(project):
    definition = _definition()
    definition["States"]["Done"] = {"Type": "Succeed"}  # type: ignore[index]
    assert check(project(definition)) == [
        "Machine (workflows/sync.asl.json): DefinitionSubstitutions entry DataBucket is never used"
    ]


def test_a_placeholder_as_a_number_is_reported(project):
    problems = check(project(_definition(TimeoutSeconds="${StepFunctionArn}")))
    assert len(problems) == 1 and "TimeoutSeconds" in problems[0]


def test_a_transition_to_a_missing_state_is_reported(project):
    problems = check(project(_definition(Next="Nowhere")))
    assert problems == [
        "Machine (workflows/sync.asl.json): top level state 'Step' goes to 'Nowhere', not a state"
    ]


def test_transitions_inside_a_map_are_checked_against_the_map_states(project):
    inner = {"StartAt": "Write", "States": {"Write": {"Type": "Pass", "Next": "Done"}}}
    problems = check(project(_definition(Type="Map", ItemProcessor=inner)))
    assert problems == [
        "Machine (workflows/sync.asl.json): Step.ItemProcessor state 'Write' goes to 'Done', "
        "not a state"
    ]


def test_invalid_schemas_are_reported(project):
    root = project(
        _definition(),
        {
            "bad_type.json": {"type": 12},
            "draft7.json": {"$schema": "http://json-schema.org/draft-07/schema#"},
        },
    )
    problems = check(root)
    assert problems[0].startswith("schemas/bad_type.json: not a valid Draft 2020-12 schema")
    assert problems[1].startswith("schemas/draft7.json: $schema is")


def test_a_layer_repeated_from_globals_is_reported(project):
    layers = "      Layers: [!Ref CoreLayer, !Ref ParquetLayer]"
    problems = check(project(_definition(), layers=layers))
    assert problems == [
        "StepFunction: Layers repeats {'Ref': 'CoreLayer'} from Globals (SAM appends a "
        "function's layers to the Globals', so it would be attached twice)"
    ]


def test_the_repository_passes():
    assert check(ROOT) == []
