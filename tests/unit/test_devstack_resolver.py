"""The emulated deploy's evaluation of a template's intrinsic functions and Conditions."""

from __future__ import annotations

import pytest

from vanta_vuln_stats.devstack.deploy import Resolver, Unresolved

CONDITIONS = {
    "HasEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Email"}, ""]}]},
    "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
    "ProdWithEmail": {"Fn::And": [{"Condition": "HasEmail"}, {"Condition": "IsProd"}]},
    "EitherOne": {"Fn::Or": [{"Condition": "HasEmail"}, {"Condition": "IsProd"}]},
}


def resolver(email: str = "", stage: str = "prod") -> Resolver:
    return Resolver({"Email": email, "Stage": stage, "Topic": "arn:topic"}, {}, CONDITIONS)


def test_conditions_from_parameters() -> None:
    r = resolver()
    assert (r.condition("HasEmail"), r.condition("IsProd")) == (False, True)
    assert (r.condition("ProdWithEmail"), r.condition("EitherOne")) == (False, True)
    assert resolver(email="a@b.c", stage="dev").condition("ProdWithEmail") is False
    with pytest.raises(Unresolved, match="Condition Nope"):
        r.condition("Nope")


def test_if_picks_a_branch_and_no_value_leaves_the_property_out() -> None:
    properties = {
        "State": {"Fn::If": ["IsProd", "ENABLED", "DISABLED"]},
        "Endpoint": {"Fn::If": ["HasEmail", {"Ref": "Email"}, {"Ref": "AWS::NoValue"}]},
        "Actions": [{"Ref": "Topic"}, {"Fn::If": ["HasEmail", "x", {"Ref": "AWS::NoValue"}]}],
        # the branch not taken may refer to what does not exist
        "Other": {"Fn::If": ["IsProd", "kept", {"Ref": "Missing"}]},
    }
    assert resolver()(properties) == {"State": "ENABLED", "Actions": ["arn:topic"], "Other": "kept"}
    assert resolver(email="a@b.c")(properties)["Endpoint"] == "a@b.c"
    assert resolver()({"Ref": "AWS::NoValue"}) is None
    with pytest.raises(Unresolved):
        resolver(stage="dev")(properties)
