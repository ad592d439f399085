"""CloudFormation's parameters, conditions and intrinsic functions."""

from __future__ import annotations

from typing import Any

import pytest

from connect_core.local.intrinsics import (
    Evaluator,
    TemplateEvaluationError,
    references,
    resolve_parameters,
)

pytestmark = pytest.mark.integration

PSEUDO = {"AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012", "AWS::StackName": "demo",
          "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


def evaluator(**parameters: Any) -> Evaluator:
    resources = {"Queue": ("https://queue", {"Arn": "arn:aws:sqs:eu-west-1:123456789012:q"})}
    return Evaluator(
        parameters={"Stage": "prod", "Names": ["a", "b"], **parameters}, pseudo=PSEUDO,
        mappings={"Sizes": {"prod": {"Memory": 512}}},
        conditions={"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
                    "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
                    "Both": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Equals": [1, "1"]}]},
                    "Either": {"Fn::Or": [{"Condition": "IsDev"}, {"Condition": "IsProd"}]}},
        ref=lambda name: resources[name][0],
        get_att=lambda name, attribute: resources[name][1][attribute],
        region="eu-west-1")


def test_ref_get_att_and_sub() -> None:
    e = evaluator()
    assert e.resolve({"Ref": "Queue"}) == "https://queue"
    assert e.resolve({"Ref": "AWS::Region"}) == "eu-west-1"
    assert e.resolve({"Fn::GetAtt": ["Queue", "Arn"]}).endswith(":q")
    assert e.resolve({"Fn::GetAtt": "Queue.Arn"}).endswith(":q")
    assert e.resolve({"Fn::Sub": "${AWS::StackName}-${Stage}-${Queue}-${Queue.Arn}-${!Literal}"}) \
        == "demo-prod-https://queue-arn:aws:sqs:eu-west-1:123456789012:q-${Literal}"
    assert e.resolve({"Fn::Sub": ["${x}/${AWS::AccountId}", {"x": {"Ref": "Stage"}}]}) == \
        "prod/123456789012"


def test_list_and_string_functions() -> None:
    e = evaluator()
    assert e.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}, 3]]}) == "a-prod-3"
    assert e.resolve({"Fn::Join": [",", {"Ref": "Names"}]}) == "a,b"
    assert e.resolve({"Fn::Select": ["1", {"Fn::Split": [",", "x,y,z"]}]}) == "y"
    assert e.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Memory"]}) == 512
    assert e.resolve({"Fn::Base64": "hi"}) == "aGk="
    assert e.resolve({"Fn::GetAZs": ""}) == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert e.resolve({"Fn::ToJsonString": {"a": [1]}}) == '{"a":[1]}'
    assert e.resolve({"Fn::Length": [1, 2, 3]}) == 3
    with pytest.raises(TemplateEvaluationError, match="outside"):
        e.resolve({"Fn::Select": [5, ["a"]]})
    with pytest.raises(TemplateEvaluationError, match="no dev/Memory"):
        e.resolve({"Fn::FindInMap": ["Sizes", "dev", "Memory"]})
    with pytest.raises(TemplateEvaluationError, match="Fn::ImportValue is not supported"):
        e.resolve({"Fn::ImportValue": "x"})


def test_conditions_and_no_value() -> None:
    e = evaluator()
    assert e.conditions() == {"IsProd": True, "IsDev": False, "Both": True, "Either": True}
    resolved = e.resolve({"A": {"Fn::If": ["IsProd", "big", "small"]},
                          "B": {"Fn::If": ["IsDev", "x", {"Ref": "AWS::NoValue"}]},
                          "C": ["keep", {"Fn::If": ["IsDev", "x", {"Ref": "AWS::NoValue"}]}]})
    assert resolved == {"A": "big", "C": ["keep"]}
    assert evaluator(Stage="dev").condition("IsDev")
    with pytest.raises(TemplateEvaluationError, match="not defined"):
        e.resolve({"Fn::If": ["Nope", 1, 2]})


def test_parameters_defaults_overrides_and_constraints() -> None:
    declared = {"Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]},
                "Size": {"Type": "Number", "Default": 3, "MinValue": 1, "MaxValue": 5},
                "Name": {"Type": "String", "AllowedPattern": "[a-z]+", "MaxLength": 5},
                "Zones": {"Type": "CommaDelimitedList", "Default": "a, b"}}
    assert resolve_parameters(declared, {"Name": "abc"}) == {
        "Stage": "dev", "Size": "3", "Name": "abc", "Zones": ["a", "b"]}
    with pytest.raises(TemplateEvaluationError, match="AllowedValues"):
        resolve_parameters(declared, {"Name": "abc", "Stage": "qa"})
    with pytest.raises(TemplateEvaluationError, match="not greater than 5"):
        resolve_parameters(declared, {"Name": "abc", "Size": 9})
    with pytest.raises(TemplateEvaluationError, match="must match pattern"):
        resolve_parameters(declared, {"Name": "ABC"})
    with pytest.raises(TemplateEvaluationError, match="at most 5"):
        resolve_parameters(declared, {"Name": "abcdefg"})
    with pytest.raises(TemplateEvaluationError, match=r"\['Name'\] must have values"):
        resolve_parameters(declared, {})
    with pytest.raises(TemplateEvaluationError, match="do not exist"):
        resolve_parameters(declared, {"Name": "abc", "Other": "x"})


def test_references_find_dependencies() -> None:
    assert references({"A": {"Ref": "Queue"}, "B": {"Fn::GetAtt": ["Table", "Arn"]},
                       "C": {"Fn::Sub": "${Topic}-${Fn.Arn}-${!Skip}-${AWS::Region}"},
                       "D": {"Fn::Sub": ["${x}-${Bucket}", {"x": {"Ref": "Key"}}]}}) == {
        "Queue", "Table", "Topic", "Fn", "AWS::Region", "Bucket", "Key"}
