"""Reading SAM templates: short tags, local paths, and the SAM translation done offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connect_core.local.template import TemplateError, load_template, parse_template, translate

FIXTURES = Path(__file__).parent / "fixtures"
TEMPLATE = FIXTURES / "template.yaml"

pytestmark = pytest.mark.integration


def test_short_tags_become_the_long_json_forms() -> None:
    body = parse_template("""
AWSTemplateFormatVersion: 2010-09-09
Resources:
  Thing:
    Type: Custom::Thing
    Properties:
      A: !Ref Param
      B: !GetAtt Other.Arn
      C: !GetAtt [Other, Arn]
      D: !Sub "${AWS::Region}-x"
      E: !Sub ["${a}", {a: !Ref Param}]
      F: !If [Cond, !Join [",", [a, b]], !Ref AWS::NoValue]
      G: !Select [0, !Split [",", "a,b"]]
      H: !FindInMap [M, k, v]
      I: !Base64 text
      J: !GetAZs ""
      K: !Not [!Equals [a, b]]
      L: !And [!Condition C1, !Or [!Condition C2, !Condition C3]]
      M: !ImportValue shared
""")
    props = body["Resources"]["Thing"]["Properties"]
    assert body["AWSTemplateFormatVersion"] == "2010-09-09"   # a date stays a string
    assert props["A"] == {"Ref": "Param"}
    assert props["B"] == props["C"] == {"Fn::GetAtt": ["Other", "Arn"]}
    assert props["D"] == {"Fn::Sub": "${AWS::Region}-x"}
    assert props["E"] == {"Fn::Sub": ["${a}", {"a": {"Ref": "Param"}}]}
    assert props["F"] == {"Fn::If": ["Cond", {"Fn::Join": [",", ["a", "b"]]}, {"Ref": "AWS::NoValue"}]}
    assert props["G"] == {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}
    assert props["H"] == {"Fn::FindInMap": ["M", "k", "v"]}
    assert props["I"] == {"Fn::Base64": "text"}
    assert props["J"] == {"Fn::GetAZs": ""}
    assert props["K"] == {"Fn::Not": [{"Fn::Equals": ["a", "b"]}]}
    assert props["L"] == {"Fn::And": [{"Condition": "C1"}, {"Fn::Or": [{"Condition": "C2"},
                                                                        {"Condition": "C3"}]}]}
    assert props["M"] == {"Fn::ImportValue": "shared"}


def test_not_a_template() -> None:
    with pytest.raises(TemplateError):
        parse_template("just: text")
    with pytest.raises(TemplateError):
        parse_template("Resources: [unclosed")


def test_sam_is_translated_and_local_code_remembered() -> None:
    template = load_template(TEMPLATE)
    resources = template.resources

    # AWS::Serverless::Function -> a function, its role, and what its Events ask for.
    echo = resources["EchoFunction"]
    assert echo["Type"] == "AWS::Lambda::Function"
    assert echo["Properties"]["Handler"] == "app.handler"
    assert template.code_dir(echo["Properties"]) == FIXTURES / "functions" / "echo"
    assert resources["EchoFunctionRole"]["Type"] == "AWS::IAM::Role"
    assert resources["EchoFunctionTick"]["Type"] == "AWS::Scheduler::Schedule"
    assert resources["EchoFunctionTick"]["Properties"]["ScheduleExpression"] == "rate(5 minutes)"

    # Events: SQS -> an event source mapping with the event's settings.
    work = resources["FlakyFunctionWork"]
    assert work["Type"] == "AWS::Lambda::EventSourceMapping"
    assert work["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["WorkQueue", "Arn"]}
    assert work["Properties"]["BatchSize"] == {"Ref": "WorkBatchSize"}
    assert work["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    # DefinitionUri was inlined; the substitutions stay for the deployer to apply.
    machine = resources["PipelineStateMachine"]["Properties"]
    definition = machine["DefinitionString"]["Fn::Join"][1]
    assert any("${EchoFunctionArn}" in line for line in definition)
    assert set(machine["DefinitionSubstitutions"]) == {"EchoFunctionArn", "Stage"}

    # The layer: recorded with its local content; functions refer to its new logical ID.
    layer_id = next(lid for lid, r in resources.items() if r["Type"] == "AWS::Lambda::LayerVersion")
    assert echo["Properties"]["Layers"] == [{"Ref": layer_id}]
    assert template.content_dir(resources[layer_id]["Properties"]) == FIXTURES / "layer"


def test_globals_code_uri_and_plain_cloudformation(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (tmp_path / "flow.asl.json").write_text(json.dumps({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "End": True}}}))
    body = {"Transform": "AWS::Serverless-2016-10-31",
            "Globals": {"Function": {"CodeUri": "src/", "Runtime": "python3.11"}},
            "Resources": {
                "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "app.handler"}},
                "Flow": {"Type": "AWS::Serverless::StateMachine",
                         "Properties": {"DefinitionUri": "flow.asl.json"}}}}
    template = translate(body, base_dir=tmp_path)
    assert template.code_dir(template.resources["Fn"]["Properties"]) == tmp_path / "src"
    assert "DefinitionString" in template.resources["Flow"]["Properties"]

    plain = translate({"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "Code": "src", "Handler": "app.handler"}}}}, base_dir=tmp_path)
    assert plain.code_dir(plain.resources["Fn"]["Properties"]) == tmp_path / "src"


def test_a_missing_local_path_is_reported(tmp_path: Path) -> None:
    body = {"Transform": "AWS::Serverless-2016-10-31", "Resources": {
        "Fn": {"Type": "AWS::Serverless::Function",
               "Properties": {"CodeUri": "nowhere/", "Handler": "app.handler",
                              "Runtime": "python3.11"}}}}
    with pytest.raises(TemplateError, match="Fn: the local path 'nowhere/' does not exist"):
        translate(body, base_dir=tmp_path)
