"""template.yaml: valid for SAM and cfn-lint, builds, and keeps the promises made about it
(least privilege, encrypted tables with PITR, queues that cannot strand messages, a state machine
whose substitutions are all wired)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-sam" / "bin" / "sam"
ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=_CfnLoader)


@pytest.fixture(scope="module")
def template() -> dict:
    return load(ROOT / "template.yaml")


def sam_cli() -> Path:
    if SAM.exists():
        return SAM
    message = "the SAM CLI is not installed (.venv-sam): run `make sam` or `make test`"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def test_cfn_lint_passes():
    result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), "template.yaml"], cwd=ROOT, capture_output=True,
                            text=True, env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_passes():
    result = subprocess.run([str(sam_cli()), "validate", "--lint"], cwd=ROOT, capture_output=True, text=True,
                            env=ENV, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_build_builds_the_layer_and_every_function(tmp_path):
    build = tmp_path / "build"
    result = subprocess.run([str(sam_cli()), "build", "--build-dir", str(build)], cwd=ROOT, capture_output=True,
                            text=True, env=ENV, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    layer = build / "ConnectCoreLayer" / "python"
    assert (layer / "connect_core" / "runtime" / "source_runner.py").exists()
    assert list((layer / "connect_core" / "runtime" / "__pycache__").glob("source_runner.*.pyc"))
    for function in ("SourcePollerFunction", "SinkConsumerFunction", "ReconfigureFunction",
                     "ConnectorResourceFunction", "AdminApiFunction"):
        assert (build / function / "app.py").exists()


def test_every_function_uses_the_layer_and_a_thin_handler(template):
    assert template["Globals"]["Function"]["Layers"] == [{"Ref": "ConnectCoreLayer"}]
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            code = ROOT / resource["Properties"]["CodeUri"] / "app.py"
            assert code.exists(), name
            assert len(code.read_text().splitlines()) < 15, f"{name}'s handler should stay thin"


def test_permissions_come_from_sam_policy_templates_scoped_to_resources(template):
    allowed_statement_actions = {"scheduler:ListSchedules", "scheduler:DeleteSchedule", "scheduler:GetSchedule",
                                 "scheduler:CreateSchedule", "scheduler:UpdateSchedule", "iam:PassRole",
                                 "states:DescribeExecution", "lambda:ListEventSourceMappings",
                                 "lambda:UpdateEventSourceMapping"}
    not_resource_scoped = {"scheduler:ListSchedules", "lambda:ListEventSourceMappings"}  # IAM offers no ARN
    for name, resource in template["Resources"].items():
        if resource["Type"] not in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            continue
        for policy in resource["Properties"].get("Policies", []):
            if "Fn::If" in policy:
                policy = policy["Fn::If"][1]
            if "Statement" in policy:
                # Only what no SAM policy template covers, and never a wildcard action.
                for statement in policy["Statement"]:
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    assert set(actions) <= allowed_statement_actions, (name, actions)
                    if statement["Resource"] == "*":
                        assert set(actions) <= not_resource_scoped, (name, actions)
            else:
                [(policy_template, _args)] = policy.items()
                assert policy_template.endswith("Policy"), (name, policy_template)


def test_functions_read_only_the_secrets_named_under_the_stack(template):
    """Every function that resolves connector secrets (configs validate, tasks run, failovers reach
    clusters with credentials) may read Secrets Manager secrets and SSM parameters under the stack's
    name, and nothing else."""
    functions = {name: resource for name, resource in template["Resources"].items()
                 if resource["Type"] == "AWS::Serverless::Function"}
    assert set(functions) >= {"SourcePollerFunction", "SinkConsumerFunction", "ReconfigureFunction",
                              "FailoverFunction", "ConnectorResourceFunction", "AdminApiFunction"}
    for name, resource in functions.items():
        grants = {next(iter(p)): next(iter(p.values())) for p in resource["Properties"]["Policies"] if "Fn::If" not in p}
        assert grants["AWSSecretsManagerGetSecretValuePolicy"] == {"SecretArn": {"Fn::Sub": (
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${AWS::StackName}/*")}}, name
        assert grants["SSMParameterReadPolicy"] == {"ParameterName": {"Fn::Sub": "${AWS::StackName}/*"}}, name
        granted = json.dumps(resource["Properties"]["Policies"])
        assert "secretsmanager:GetSecretValue" not in granted and "ssm:GetParameter" not in granted, name


def test_tables_are_encrypted_with_point_in_time_recovery(template):
    tables = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert len(tables) == 2
    for table in tables:
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True
        assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"


def test_sink_queues_redrive_and_outlast_six_function_timeouts(template):
    resources = template["Resources"]
    mappings = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert mappings
    for mapping in mappings:
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        queue = resources[mapping["EventSourceArn"]["Fn::GetAtt"][0]]["Properties"]
        function = resources[mapping["FunctionName"]["Ref"]]["Properties"]
        assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
        assert queue["RedrivePolicy"]["maxReceiveCount"] >= 1


@pytest.mark.parametrize("machine_id", ["ReconfigureStateMachine", "FailoverStateMachine"])
def test_state_machine_substitutions_cover_the_definition(template, machine_id):
    machine = template["Resources"][machine_id]["Properties"]
    definition = (ROOT / machine["DefinitionUri"]).read_text()
    used = set(re.findall(r"\$\{(\w+)\}", definition))
    assert used == set(machine["DefinitionSubstitutions"])
    json.loads(definition)


def test_the_data_at_risk_alarm_watches_the_metric_the_replicator_emits_against_the_rpo_budget(template):
    from connect_core.runtime import telemetry

    alarm = template["Resources"]["DataAtRiskAlarm"]["Properties"]
    assert alarm["Threshold"] == {"Ref": "RpoBudgetSeconds"}
    [query] = alarm["Metrics"]
    assert f"MAX({telemetry.DATA_AT_RISK_SECONDS})" in query["Expression"]


def test_a_link_whose_ticks_do_not_report_their_data_at_risk_alarms_and_a_stack_without_one_does_not(template):
    from connect_core.runtime import telemetry

    alarm = template["Resources"]["DataAtRiskUnreportedAlarm"]["Properties"]
    [query] = alarm["Metrics"]
    assert f"SUM({telemetry.DATA_AT_RISK_UNREPORTED})" in query["Expression"]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["TreatMissingData"] == "notBreaching"  # no replicator: no data, no alarm


def test_parameters_constrain_their_values(template):
    for name, parameter in template["Parameters"].items():
        constrained = {"AllowedValues", "AllowedPattern", "MinValue", "MaxValue"} & set(parameter)
        assert constrained or name == "DemoOutputPath", f"parameter {name} accepts anything"


def test_samconfig_has_the_environments_users_deploy_to():
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    for environment in ("default", "dev", "prod", "localstack"):
        assert "deploy" in config[environment], environment


# -- the admin API and the dashboard ----------------------------------------------------------------

@pytest.fixture(scope="module")
def translated() -> dict:
    """template.yaml as CloudFormation after the SAM transform (offline, as the local runtime does it)."""
    from connect_core.local.template import load_template

    return load_template(ROOT / "template.yaml", {"Environment": "dev"}, region="us-east-1").resources


def test_every_admin_api_route_requires_iam_and_reaches_the_admin_function(template, translated):
    auth = template["Resources"]["AdminApi"]["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "AWS_IAM" and auth["EnableIamAuthorizer"] is True
    [api] = [r for r in translated.values() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    routes = {(path, method): operation for path, methods in api["Properties"]["Body"]["paths"].items()
              for method, operation in methods.items()}
    assert set(routes) == {("/", "get"), ("/{proxy+}", "x-amazon-apigateway-any-method")}
    for operation in routes.values():
        assert operation["security"] == [{"AWS_IAM": []}]
        integration = operation["x-amazon-apigateway-integration"]
        assert integration["payloadFormatVersion"] == "2.0"
        assert "AdminApiFunction.Arn" in json.dumps(integration["uri"])


def test_the_admin_function_answers_within_the_http_apis_30_seconds(template):
    function = template["Resources"]["AdminApiFunction"]["Properties"]
    assert function["Timeout"] < 30
    assert function["Handler"] == "app.handler" and function["CodeUri"] == "functions/admin_api/"


def test_the_admin_function_may_toggle_only_the_sink_functions_mappings(template):
    statements = [s for p in template["Resources"]["AdminApiFunction"]["Properties"]["Policies"]
                  if "Statement" in p for s in p["Statement"]]
    [update] = [s for s in statements if "lambda:UpdateEventSourceMapping" in s["Action"]]
    assert update["Condition"] == {"ArnLike": {"lambda:FunctionArn": {"Fn::GetAtt": ["SinkConsumerFunction", "Arn"]}}}


def test_the_dashboard_shows_every_metric_the_runtime_emits(template):
    from connect_core.runtime import telemetry

    emitted = {value for name, value in vars(telemetry).items() if name.isupper() and isinstance(value, str)}
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    body_text = template["Resources"]["ConnectorDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    body = json.loads(re.sub(r"\$\{[^}]+\}", "x", body_text))
    expressions = [m["expression"] for w in body["widgets"] if w["type"] == "metric"
                   for row in w["properties"]["metrics"] for m in row if isinstance(m, dict) and "expression" in m]
    shown = {name for e in expressions if f"{{{namespace}," in e for name in re.findall(r'MetricName="(\w+)"', e)}
    assert shown == emitted
    titles = " ".join(w["properties"].get("title", "") for w in body["widgets"]).lower()
    for topic in ("throughput", "failures", "dead-letter queue depth", "lag"):
        assert topic in titles, topic
    assert any("ApproximateNumberOfMessagesVisible" in e and "DeadLetter" in e for e in expressions)


# -- the example's copy of the runtime ---------------------------------------------------------------

#: Functions whose permissions follow the pipeline a stack runs (its queues, its secrets, its demo).
PIPELINE_FUNCTIONS = {"SourcePollerFunction", "SinkConsumerFunction"}
#: What the runtime itself needs on a pipeline function (the rest is the pipeline's own queues).
RUNTIME_POLICIES = ("DynamoDB", "AWSSecretsManagerGetSecretValuePolicy", "SSMParameterReadPolicy")


def test_the_example_grants_the_runtime_what_the_main_stack_grants(template):
    """examples/storefront/template.yaml copies the runtime's roles, functions and state machine: the
    copies get the same permissions (the pipeline's functions the same on the runtime's tables)."""
    example = load(ROOT / "examples" / "storefront" / "template.yaml")

    def permissions(resources: dict, name: str) -> dict:
        properties = resources[name]["Properties"]
        policies = properties.get("Policies", [])
        if name in PIPELINE_FUNCTIONS:
            policies = [p for p in policies if "Fn::If" not in p and next(iter(p)).startswith(RUNTIME_POLICIES)]
        return {"Policies": policies, "AssumeRolePolicyDocument": properties.get("AssumeRolePolicyDocument")}

    shared = {name for name in set(template["Resources"]) & set(example["Resources"])
              if "Policies" in template["Resources"][name].get("Properties", {})}
    assert shared >= {"SchedulerInvokeRole", "ReconfigureFunction", "ReconfigureStateMachine",
                      "ConnectorResourceFunction", *PIPELINE_FUNCTIONS}
    for name in sorted(shared):
        assert permissions(example["Resources"], name) == permissions(template["Resources"], name), name
