"""What the ``AWS::LanguageExtensions`` transform does to template.yaml before SAM's transform,
for the emulated deploy and the template's tests (the SAM translator does not run it).

On AWS, a template whose ``Transform`` lists ``AWS::LanguageExtensions`` before
``AWS::Serverless-2016-10-31`` has each ``Fn::If`` whose condition follows from the parameter
values replaced by the branch it selects, and a branch that is ``Ref: AWS::NoValue`` removed
with its key (or list item), before SAM's transform reads the template. SAM then sees plain
values where it takes no condition: an API's ``Auth`` or a function's ``AutoPublishAlias``.

This does only that, in ``Resources`` and ``Outputs``: ``Fn::If`` (its conditions built from
``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or``, ``Condition`` and ``Ref`` to parameters),
and ``AWS::NoValue`` where an ``Fn::If`` selects it. Everything else stays as it is: other
functions, a ``Ref: AWS::NoValue`` of its own, the ``Conditions`` section, and resources with
a ``Condition`` (CloudFormation still decides those later). An ``Fn::If`` whose condition cannot
be evaluated here (one on a pseudo parameter, say) is left as it is, branches included.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["LANGUAGE_EXTENSIONS", "resolve_language_extensions"]

LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
_SECTIONS = ("Resources", "Outputs")
_NO_VALUE = {"Ref": "AWS::NoValue"}


class _Unresolved(Exception):
    """A condition refers to something only CloudFormation knows."""


class _Removed:
    """The value of a key or item that ``AWS::NoValue`` removes."""


_REMOVED = _Removed()


def resolve_language_extensions(
    template: Mapping[str, Any], parameters: Mapping[str, Any]
) -> dict[str, Any]:
    """A copy of ``template`` as the ``AWS::LanguageExtensions`` transform leaves it for these
    parameter values (those not given take their defaults), without that transform in its
    ``Transform``. A template that does not declare the transform is returned as a copy,
    unchanged."""
    result = copy.deepcopy(dict(template))
    transforms = result.get("Transform")
    listed = [transforms] if isinstance(transforms, str) else list(transforms or [])
    if LANGUAGE_EXTENSIONS not in listed:
        return result

    values = {
        name: str(spec["Default"])
        for name, spec in (result.get("Parameters") or {}).items()
        if isinstance(spec, Mapping) and "Default" in spec
    }
    values.update({name: str(value) for name, value in parameters.items() if value is not None})
    conditions = _Conditions(result.get("Conditions") or {}, values)
    for section in _SECTIONS:
        if isinstance(result.get(section), dict):
            result[section] = _resolve(result[section], conditions)

    remaining = [name for name in listed if name != LANGUAGE_EXTENSIONS]
    if remaining:
        result["Transform"] = remaining[0] if len(remaining) == 1 else remaining
    else:
        del result["Transform"]
    return result


class _Conditions:
    def __init__(self, definitions: Mapping[str, Any], parameters: Mapping[str, str]) -> None:
        self._definitions = definitions
        self._parameters = parameters
        self._known: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    def __call__(self, name: Any) -> bool:
        if not isinstance(name, str) or name not in self._definitions:
            raise ValueError(f"Fn::If names an undefined condition: {name!r}")
        if name not in self._known:
            if name in self._evaluating:
                raise ValueError(f"the condition {name} refers to itself")
            self._evaluating.add(name)
            try:
                self._known[name] = self._truth(self._definitions[name])
            finally:
                self._evaluating.discard(name)
        return self._known[name]

    def _truth(self, expression: Any) -> bool:
        if isinstance(expression, bool):
            return expression
        if isinstance(expression, str) and expression.lower() in ("true", "false"):
            return expression.lower() == "true"
        if not isinstance(expression, Mapping) or len(expression) != 1:
            raise ValueError(f"not a condition: {expression!r}")
        [(function, argument)] = expression.items()
        if function == "Condition":
            return self(argument)
        if function == "Fn::Not":
            [operand] = _operands(function, argument, 1, 1)
            return not self._truth(operand)
        if function == "Fn::And":
            return all([self._truth(operand) for operand in _operands(function, argument, 2, 10)])
        if function == "Fn::Or":
            return any([self._truth(operand) for operand in _operands(function, argument, 2, 10)])
        if function == "Fn::Equals":
            left, right = _operands(function, argument, 2, 2)
            return self._value(left) == self._value(right)
        raise ValueError(f"not a condition function: {function}")

    def _value(self, value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, Mapping) and set(value) == {"Ref"}:
            name = value["Ref"]
            if name in self._parameters:
                return self._parameters[name]
        raise _Unresolved(value)


def _operands(function: str, argument: Any, least: int, most: int) -> list[Any]:
    if not isinstance(argument, list) or not least <= len(argument) <= most:
        raise ValueError(f"{function} takes a list of {least} to {most} operands: {argument!r}")
    return argument


def _resolve(value: Any, condition: _Conditions) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            chosen = _chosen_branch(value["Fn::If"], condition)
            if chosen is None:
                return value
            if chosen[0] == _NO_VALUE:
                return _REMOVED
            return _resolve(chosen[0], condition)
        resolved = {key: _resolve(item, condition) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _REMOVED}
    if isinstance(value, list):
        items = [_resolve(item, condition) for item in value]
        return [item for item in items if item is not _REMOVED]
    return value


def _chosen_branch(argument: Any, condition: _Conditions) -> tuple[Any] | None:
    """The branch ``Fn::If`` selects (in a tuple), or None when its condition needs values only
    CloudFormation has."""
    if not isinstance(argument, list) or len(argument) != 3:
        raise ValueError(f"Fn::If takes [condition, value if true, value if false]: {argument!r}")
    name, if_true, if_false = argument
    try:
        return (if_true if condition(name) else if_false,)
    except _Unresolved:
        return None
