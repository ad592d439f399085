"""Deploying the fixture template into the emulator: create, update (diff), rollback, delete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from connect_core import aws
from connect_core.local import DeploymentError, LocalRuntime

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent / "fixtures"


def greeter_events(runtime: LocalRuntime) -> list[dict[str, Any]]:
    """The custom resource requests the Greeter's provider received, oldest first."""
    return [i.event for i in runtime.lambdas.history(runtime.physical_id("ResourceFunction"))]


def queue_attribute(url: str, name: str) -> str:
    return aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=[name])[
        "Attributes"][name]


def function_variables(name: str) -> dict[str, str]:
    return aws.client("lambda").get_function_configuration(FunctionName=name)["Environment"][
        "Variables"]


def test_deploy_creates_every_resource(runtime: LocalRuntime) -> None:
    stack = runtime.stack
    assert stack.status == "CREATE_COMPLETE"
    assert "ProdOnlyQueue" not in stack.resources            # Condition IsProd is false

    # Tables, queues (visibility from a mapping, redrive to the DLQ), FIFO.
    table = runtime.physical_id("EventsTable")
    assert aws.client("dynamodb").describe_table(TableName=table)["Table"]["KeySchema"][0][
        "AttributeName"] == "pk"
    work = runtime.outputs["WorkQueueUrl"]
    assert queue_attribute(work, "VisibilityTimeout") == "30"
    redrive = json.loads(queue_attribute(work, "RedrivePolicy"))
    assert redrive["deadLetterTargetArn"] == stack.resources["WorkDeadLetterQueue"].attributes["Arn"]
    assert int(redrive["maxReceiveCount"]) == 2
    assert runtime.physical_id("OrderedQueue").endswith(".fifo")

    # Functions: in moto (so GetFunction works) with the evaluated environment.
    echo = runtime.physical_id("EchoFunction")
    assert echo.startswith(f"{stack.name}-EchoFunction-")
    assert function_variables(echo) == {"STAGE": "test", "EVENTS_TABLE": table,
                                        "GREETING": "hello from us-east-1", "MODE": "relaxed"}
    assert aws.client("lambda").get_function(FunctionName=echo)["Configuration"]["Timeout"] == 10

    # The state machine got its DefinitionSubstitutions; the schedule and group exist.
    definition = aws.client("stepfunctions").describe_state_machine(
        stateMachineArn=runtime.outputs["PipelineArn"])["definition"]
    assert "${" not in definition and stack.resources["EchoFunction"].attributes["Arn"] in definition
    schedule = aws.client("scheduler").get_schedule(Name="EchoFunctionTick")
    assert schedule["Target"]["Arn"] == stack.resources["EchoFunction"].attributes["Arn"]
    assert aws.client("scheduler").get_schedule_group(Name=f"{stack.name}-tasks")

    # Outputs: Ref, GetAtt of the custom resource's Data, If with NoValue, Join/Base64.
    assert runtime.outputs["GreeterMessage"] == "hello world"
    assert runtime.outputs["Mode"] == "testing"
    assert runtime.outputs["Joined"] == f"{stack.name}-test-aGk="
    assert "ProdQueueUrl" not in runtime.outputs


def test_custom_resource_gets_a_real_create_request(runtime: LocalRuntime) -> None:
    (create,) = greeter_events(runtime)
    assert create["RequestType"] == "Create"
    assert create["ResourceType"] == "Custom::Greeter"
    assert create["LogicalResourceId"] == "Greeter"
    assert create["StackId"] == runtime.stack.stack_id
    assert create["ResponseURL"].startswith("http://127.0.0.1:")
    assert "PhysicalResourceId" not in create and "OldResourceProperties" not in create
    # As CloudFormation sends them: every scalar a string, ServiceToken included.
    assert create["ResourceProperties"] == {
        "ServiceToken": runtime.stack.resources["ResourceFunction"].attributes["Arn"],
        "Name": "world", "Count": "2", "Enabled": "true", "Tags": ["test", "b"],
        "Pipeline": runtime.outputs["PipelineArn"]}
    assert runtime.physical_id("Greeter") == "greeter-world"


def test_a_custom_resource_can_wait_for_a_state_machine_that_invokes_another_function(
        runtime: LocalRuntime) -> None:
    # The provider ran the pipeline and waited for it while the pipeline's tasks invoked the echo
    # function: two functions at once, each with its own environment.
    assert runtime.outputs["GreeterPipeline"] == "SUCCEEDED"
    assert runtime.stack.resources["Greeter"].attributes["Function"] == runtime.physical_id(
        "ResourceFunction")
    echo = runtime.lambdas.history(runtime.physical_id("EchoFunction"))
    assert [i.event for i in echo][:1] == [{"name": "world"}]
    assert echo[0].result["function"] == runtime.physical_id("EchoFunction")


def test_update_diffs_by_logical_id(runtime: LocalRuntime) -> None:
    work_url = runtime.outputs["WorkQueueUrl"]
    table = runtime.physical_id("EventsTable")

    runtime.redeploy(parameters={"Stage": "prod", "GreeterName": "moon"})

    stack = runtime.stack
    assert stack.status == "UPDATE_COMPLETE"
    # Updated in place: same queue, new attribute; same table.
    assert runtime.outputs["WorkQueueUrl"] == work_url
    assert queue_attribute(work_url, "VisibilityTimeout") == "60"
    assert runtime.physical_id("EventsTable") == table
    assert function_variables(runtime.physical_id("EchoFunction"))["MODE"] == "strict"
    assert runtime.invoke("EchoFunction", {})["stage"] == "prod"   # the new environment is live
    # Created by the condition turning true.
    assert "ProdOnlyQueue" in stack.resources and runtime.outputs["ProdQueueUrl"]
    # The custom resource: Update with the old properties; a new physical ID is a replacement,
    # so the old one gets Delete once the update is complete.
    events = greeter_events(runtime)
    assert [e["RequestType"] for e in events] == ["Create", "Update", "Delete"]
    update, delete = events[1], events[2]
    assert update["PhysicalResourceId"] == "greeter-world"
    assert update["ResourceProperties"]["Name"] == "moon"
    assert update["OldResourceProperties"]["Name"] == "world"
    assert delete["PhysicalResourceId"] == "greeter-world"
    assert runtime.physical_id("Greeter") == "greeter-moon"
    assert runtime.outputs["GreeterMessage"] == "hello moon"

    # Back again: the conditional queue is removed and deleted.
    prod_queue = runtime.physical_id("ProdOnlyQueue")
    runtime.redeploy(parameters={"Stage": "test"})
    assert "ProdOnlyQueue" not in runtime.stack.resources
    assert prod_queue not in aws.client("sqs").list_queues().get("QueueUrls", [])


def test_a_failed_custom_resource_fails_the_deploy_and_changes_nothing(runtime: LocalRuntime) -> None:
    work_url = runtime.outputs["WorkQueueUrl"]
    outputs = runtime.outputs

    with pytest.raises(DeploymentError) as failure:
        runtime.redeploy(parameters={"GreeterName": "bad", "Stage": "prod"})

    error = failure.value
    assert error.logical_id == "Greeter" and error.resource_type == "Custom::Greeter"
    assert "Received response status [FAILED] from custom resource. Message returned: " \
           "Name must not be 'bad'" in str(error)
    assert runtime.stack.status == "UPDATE_ROLLBACK_COMPLETE"
    # Nothing changed: parameters, outputs, resources and their settings are as before.
    assert runtime.stack.parameters["GreeterName"] == "world"
    assert runtime.parameters.get("GreeterName") is None
    assert runtime.outputs == outputs
    assert "ProdOnlyQueue" not in runtime.stack.resources
    assert queue_attribute(work_url, "VisibilityTimeout") == "30"
    assert function_variables(runtime.physical_id("ResourceFunction"))["STAGE"] == "test"
    # The provider saw the failed Update, then the rollback's Update with the old properties.
    events = greeter_events(runtime)
    assert [e["RequestType"] for e in events] == ["Create", "Update", "Update"]
    assert events[1]["ResourceProperties"]["Name"] == "bad"
    assert events[2]["ResourceProperties"]["Name"] == "world"
    assert events[2]["OldResourceProperties"]["Name"] == "bad"

    # The stack still works and can be updated.
    runtime.redeploy(parameters={"GreeterName": "sun"})
    assert runtime.outputs["GreeterMessage"] == "hello sun"


def test_a_failed_first_deploy_rolls_back(local_endpoint, clock) -> None:
    runtime = LocalRuntime(FIXTURES / "template.yaml", {"GreeterName": "bad"}, clock=clock,
                           endpoint=local_endpoint, stack_name="rolledback")
    with pytest.raises(DeploymentError, match="Name must not be 'bad'") as failure:
        runtime.start()
    assert failure.value.logical_id == "Greeter"
    assert runtime.stack.status == "ROLLBACK_COMPLETE" and not runtime.stack.resources

    # Everything the deploy created is gone again...
    assert not [q for q in aws.client("sqs").list_queues().get("QueueUrls", [])
                if "/rolledback-" in q]
    assert not [f for f in aws.client("lambda").list_functions()["Functions"]
                if f["FunctionName"].startswith("rolledback-")]
    # ...and the provider got the rollback's Delete for the ID its FAILED answer gave.
    requests = [(i.event["RequestType"], i.event.get("PhysicalResourceId"))
                for i in runtime.lambdas.history()
                if i.function_name.startswith("rolledback-ResourceFunction-")]
    assert requests == [("Create", None), ("Delete", "greeter-failed")]


def test_unsupported_resource_types_are_named(make_runtime: Callable[..., LocalRuntime],
                                              tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text("""
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Server:
    Type: AWS::EC2::Instance
    Properties: {ImageId: ami-1}
""")
    before = set(aws.client("sqs").list_queues().get("QueueUrls", []))
    with pytest.raises(DeploymentError, match="resource Server: type AWS::EC2::Instance is not "
                                              "supported by the local runtime"):
        make_runtime(template)
    assert set(aws.client("sqs").list_queues().get("QueueUrls", [])) == before


def test_template_errors_are_reported(make_runtime: Callable[..., LocalRuntime],
                                      tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text("""
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !Ref Missing}
""")
    with pytest.raises(DeploymentError, match=r"Unresolved resource dependencies \['Missing'\]"):
        make_runtime(template)
    with pytest.raises(DeploymentError, match="AllowedValues"):
        make_runtime(parameters={"Stage": "qa"})


def test_a_custom_named_resource_cannot_be_replaced(make_runtime: Callable[..., LocalRuntime],
                                                    tmp_path: Path) -> None:
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n"
                     "    Properties: {QueueName: fixed-name-q}\n")
    second.write_text("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n"
                      "    Properties: {QueueName: fixed-name-q, FifoQueue: true}\n")
    runtime = make_runtime(first)
    with pytest.raises(DeploymentError, match="custom-named resource requires replacing"):
        runtime.redeploy(second)


def test_delete_sends_delete_and_removes_everything(make_runtime: Callable[..., LocalRuntime]) -> None:
    runtime = make_runtime()
    queues = [runtime.physical_id(q) for q in ("WorkQueue", "WorkDeadLetterQueue", "OrderedQueue")]
    function = runtime.physical_id("EchoFunction")
    resource_function = runtime.physical_id("ResourceFunction")

    runtime.stop()   # on a shared endpoint, stopping deletes the stack

    assert runtime.stack.status == "DELETE_COMPLETE"
    events = [i.event["RequestType"] for i in runtime.lambdas.history(resource_function)]
    assert events == ["Create", "Delete"]
    remaining = aws.client("sqs").list_queues().get("QueueUrls", [])
    assert not set(queues) & set(remaining)
    names = [f["FunctionName"] for f in aws.client("lambda").list_functions()["Functions"]]
    assert function not in names
    # The layer has RetentionPolicy: Retain, so SAM made it DeletionPolicy: Retain.
    assert any(e.status == "DELETE_SKIPPED" and e.resource_type == "AWS::Lambda::LayerVersion"
               for e in runtime.stack.events)


def test_every_supported_resource_type_deploys_updates_and_deletes(
        make_runtime: Callable[..., LocalRuntime]) -> None:
    runtime = make_runtime(FIXTURES / "breadth" / "template.yaml")
    stack = runtime.stack
    assert stack.status == "CREATE_COMPLETE"
    assert runtime.invoke("Inline") == {"suffix": "one", "zones": "a+b"}   # inline ZipFile code
    assert runtime.invoke(runtime.outputs["Alias"]) == {"suffix": "one", "zones": "a+b"}
    assert runtime.outputs["ApiEndpoint"].startswith("https://")
    assert runtime.outputs["Bucket"] == f"arn:aws:s3:::{runtime.physical_id('Bucket')}"
    assert runtime.outputs["Parameter"] == "value-one"
    assert runtime.outputs["Zones"] == "us-east-1a,us-east-1b,us-east-1c"
    assert aws.client("ssm").get_parameter(Name=runtime.physical_id("Parameter"))["Parameter"][
        "Value"] == "value-one"
    secret = json.loads(aws.client("secretsmanager").get_secret_value(
        SecretId=runtime.physical_id("Secret"))["SecretString"])
    assert secret["user"] == "me" and len(secret["password"]) == 32
    iam = aws.client("iam")
    role = runtime.physical_id("Role")
    assert sorted(iam.list_role_policies(RoleName=role)["PolicyNames"]) == ["extra", "logs"]
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)[
        "AttachedPolicies"]] == [runtime.physical_id("Managed")]
    # SNS -> SQS subscriptions deliver on the emulator.
    aws.client("sns").publish(TopicArn=runtime.physical_id("Topic"), Message="ping")
    got = aws.client("sqs").receive_message(QueueUrl=runtime.physical_id("TopicQueue"))["Messages"]
    assert got[0]["Body"] == "ping"

    runtime.redeploy(parameters={"Suffix": "two"})
    assert runtime.invoke("Inline")["suffix"] == "two"
    assert aws.client("ssm").get_parameter(Name=runtime.physical_id("Parameter"))["Parameter"][
        "Value"] == "value-two"

    runtime.stop()
    assert runtime.stack.status == "DELETE_COMPLETE"
    assert role not in [r["RoleName"] for r in iam.list_roles()["Roles"]]


def test_circular_dependencies_are_refused(make_runtime: Callable[..., LocalRuntime],
                                           tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text("""
Resources:
  A:
    Type: AWS::SQS::Queue
    DependsOn: B
  B:
    Type: AWS::SQS::Queue
    Properties: {RedrivePolicy: {deadLetterTargetArn: !GetAtt A.Arn, maxReceiveCount: 1}}
""")
    with pytest.raises(DeploymentError, match=r"Circular dependency between resources: \['A', 'B'\]"):
        make_runtime(template)
