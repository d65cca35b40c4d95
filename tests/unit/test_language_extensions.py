"""The stand-in for the AWS::LanguageExtensions transform: resolves Fn::If from the parameters and
drops what selects AWS::NoValue, in Resources and Outputs, and nothing else."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from vanta_vuln_stats.devstack.language_extensions import resolve_language_extensions

NO_VALUE = {"Ref": "AWS::NoValue"}


def _template(resources: dict[str, Any], **sections: Any) -> dict[str, Any]:
    return {
        "Transform": ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"],
        "Parameters": {
            "Pool": {"Type": "String", "Default": ""},
            "Flag": {"Type": "String", "Default": "false"},
            "Size": {"Type": "Number", "Default": 5},
        },
        "Conditions": {
            "HasPool": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Pool"}, ""]}]},
            "FlagOn": {"Fn::Equals": [{"Ref": "Flag"}, "true"]},
            "Both": {"Fn::And": [{"Condition": "HasPool"}, {"Condition": "FlagOn"}]},
            "Either": {"Fn::Or": [{"Condition": "HasPool"}, {"Condition": "FlagOn"}]},
            "SizeFive": {"Fn::Equals": [{"Ref": "Size"}, 5]},
            "InUsEast1": {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]},
        },
        "Resources": resources,
        **sections,
    }


def _properties(template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    return resolve_language_extensions(template, parameters)["Resources"]["R"]["Properties"]


def _one(value: Any, **parameters: Any) -> dict[str, Any]:
    return _properties(_template({"R": {"Type": "X", "Properties": {"P": value}}}), parameters)


def test_fn_if_takes_the_branch_of_the_parameters() -> None:
    value = {"Fn::If": ["FlagOn", "on", "off"]}
    assert _one(value) == {"P": "off"}  # the parameter's default
    assert _one(value, Flag="true") == {"P": "on"}
    assert _one(value, Flag=None) == {"P": "off"}  # None: the default


def test_a_branch_of_no_value_removes_the_key_or_the_item() -> None:
    assert _one({"Fn::If": ["HasPool", {"Arn": {"Ref": "Pool"}}, NO_VALUE]}) == {}
    assert _one({"Fn::If": ["HasPool", {"Arn": {"Ref": "Pool"}}, NO_VALUE]}, Pool="p") == {
        "P": {"Arn": {"Ref": "Pool"}}  # a Ref stays for CloudFormation
    }
    items = ["a", {"Fn::If": ["FlagOn", "b", NO_VALUE]}, "c"]
    assert _one(items) == {"P": ["a", "c"]}
    assert _one(items, Flag="true") == {"P": ["a", "b", "c"]}


def test_conditions_combine() -> None:
    value = [
        {"Fn::If": ["Both", "both", "not both"]},
        {"Fn::If": ["Either", "either", "neither"]},
        {"Fn::If": ["SizeFive", "five", "not five"]},
    ]
    assert _one(value)["P"] == ["not both", "neither", "five"]
    assert _one(value, Pool="p")["P"] == ["not both", "either", "five"]
    assert _one(value, Pool="p", Flag="true", Size=6)["P"] == ["both", "either", "not five"]


def test_a_chosen_branch_is_resolved_in_turn() -> None:
    inner = {"Fn::If": ["HasPool", "pool", NO_VALUE]}
    value = {"Fn::If": ["FlagOn", {"Inner": inner, "Keep": 1}, "off"]}
    assert _one(value, Flag="true") == {"P": {"Keep": 1}}
    assert _one(value, Flag="true", Pool="p") == {"P": {"Inner": "pool", "Keep": 1}}


def test_a_condition_on_what_only_cloudformation_knows_is_left_as_it_is() -> None:
    value = {"Fn::If": ["InUsEast1", {"Fn::If": ["FlagOn", "a", "b"]}, NO_VALUE]}
    assert _one(value) == {"P": value}


def test_everything_else_is_left_to_cloudformation() -> None:
    resources = {
        "R": {
            "Type": "X",
            "Condition": "HasPool",
            "Properties": {
                "Own": NO_VALUE,
                "Sub": {"Fn::Sub": "${AWS::StackName}-x"},
                "Alias": {"Ref": "F.Alias"},
                "Attr": {"Fn::GetAtt": ["F", "Arn"]},
            },
        }
    }
    globals_ = {"Function": {"Env": {"Fn::If": ["FlagOn", "a", "b"]}}}
    template = _template(resources, Globals=globals_)
    resolved = resolve_language_extensions(template, {})
    assert resolved["Resources"] == resources  # a condition false: still there
    assert resolved["Conditions"] == template["Conditions"]
    assert resolved["Globals"] == globals_
    assert resolved["Parameters"] == template["Parameters"]


def test_outputs_are_resolved_too() -> None:
    template = _template(
        {"R": {"Type": "X"}},
        Outputs={
            "Chosen": {"Value": {"Fn::If": ["FlagOn", "a", "b"]}},
            "Maybe": {"Value": "v", "Export": {"Fn::If": ["HasPool", {"Name": "n"}, NO_VALUE]}},
        },
    )
    outputs = resolve_language_extensions(template, {})["Outputs"]
    assert outputs == {"Chosen": {"Value": "b"}, "Maybe": {"Value": "v"}}


def test_the_transform_is_consumed() -> None:
    template = _template({})
    assert resolve_language_extensions(template, {})["Transform"] == "AWS::Serverless-2016-10-31"
    template["Transform"] = "AWS::LanguageExtensions"
    assert "Transform" not in resolve_language_extensions(template, {})
    template["Transform"] = ["AWS::LanguageExtensions", "A", "B"]
    assert resolve_language_extensions(template, {})["Transform"] == ["A", "B"]


def test_a_template_without_the_transform_is_left_as_it_is() -> None:
    template = _template({"R": {"Type": "X", "Properties": {"P": {"Fn::If": ["FlagOn", 1, 2]}}}})
    for transform in ("AWS::Serverless-2016-10-31", ["AWS::Serverless-2016-10-31"], None):
        template["Transform"] = transform
        resolved = resolve_language_extensions(template, {"Flag": "true"})
        assert resolved == template
        assert resolved is not template


def test_the_template_given_is_not_changed() -> None:
    template = _template({"R": {"Type": "X", "Properties": {"P": {"Fn::If": ["FlagOn", 1, 2]}}}})
    before = copy.deepcopy(template)
    resolved = resolve_language_extensions(template, {"Flag": "true"})
    resolved["Resources"]["R"]["Properties"]["Q"] = 3
    assert template == before


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Fn::If": ["Nowhere", 1, 2]}, "undefined condition"),
        ({"Fn::If": ["FlagOn", 1]}, "Fn::If takes"),
        ({"Fn::If": ["Loop", 1, 2]}, "refers to itself"),
        ({"Fn::If": ["Odd", 1, 2]}, "not a condition function"),
        ({"Fn::If": ["Short", 1, 2]}, "Fn::And takes"),
    ],
)
def test_a_malformed_condition_is_an_error(value: Any, message: str) -> None:
    template = _template({"R": {"Type": "X", "Properties": {"P": value}}})
    template["Conditions"].update(
        {
            "Loop": {"Condition": "Loop"},
            "Odd": {"Fn::Contains": [["a"], "a"]},
            "Short": {"Fn::And": [{"Condition": "FlagOn"}]},
        }
    )
    with pytest.raises(ValueError, match=message):
        resolve_language_extensions(template, {})
