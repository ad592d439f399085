"""How each CloudFormation resource type is created, updated and deleted on the emulator.

A ``ResourceProvider`` turns resolved properties into a physical resource (through boto3 at the
endpoint, or just a record where the emulator needs nothing) and says what ``Ref`` and
``Fn::GetAtt`` answer. Property changes listed in ``replaces_on`` need a new physical resource,
as in CloudFormation; a provider that cannot update in place replaces on any change.

``PROVIDERS`` maps resource types to providers; ``provider_for(type)`` also knows ``Custom::*``.
"""

from __future__ import annotations

import io
import json
import logging
import random
import re
import secrets
import string
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping

from . import custom_resource
from .lambdas import LocalFunction

if TYPE_CHECKING:
    from .lambdas import LambdaService
    from .template import Template

log = logging.getLogger(__name__)


class UnsupportedResourceError(ValueError):
    """The local runtime cannot deploy this resource type."""


class ResourceFailure(RuntimeError):
    """A resource operation failed; ``physical_id`` is set when something was left behind."""

    def __init__(self, reason: str, physical_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.physical_id = physical_id


@dataclass
class Provisioned:
    """A physical resource: its id (what ``Ref`` answers) and its ``Fn::GetAtt`` attributes."""

    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProvisionContext:
    """What providers need to know about the stack being deployed."""

    stack_name: str
    stack_id: str
    region: str
    account_id: str
    template: "Template"
    lambdas: "LambdaService"
    client_factory: Callable[[str], Any]

    def client(self, service: str) -> Any:
        return self.client_factory(service)

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (f"arn:aws:{service}:{self.region if region else ''}:"
                f"{self.account_id if account else ''}:{resource}")

    def physical_name(self, logical_id: str, max_length: int = 64, *, suffix: str = "",
                      lowercase: bool = False) -> str:
        """CloudFormation's generated name: ``<stack>-<logical id>-<random>``."""
        tail = "".join(random.choices(string.ascii_uppercase + string.digits, k=12))
        base = f"{self.stack_name}-{logical_id}"[: max(1, max_length - len(suffix) - 13)]
        name = f"{base}-{tail}{suffix}"
        if lowercase:
            name = re.sub(r"[^a-z0-9.-]", "-", name.lower())
        return name


class ResourceProvider:
    """Creates, updates and deletes one kind of resource. Subclasses override what they need."""

    replaces_on: frozenset[str] = frozenset()   # changed properties that need a new resource
    updatable: bool = True                      # False: every change replaces
    name_property: str | None = None            # the property that names the physical resource

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        raise NotImplementedError

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        raise NotImplementedError

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        pass

    def needs_replacement(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        if not self.updatable:
            return dict(old) != dict(new)
        return any(old.get(name) != new.get(name) for name in self.replaces_on)


# --- helpers ---------------------------------------------------------------------------------------

def _zip_placeholder() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "# the local runtime runs the real handler in-process\n")
    return buffer.getvalue()


_PLACEHOLDER_ZIP = _zip_placeholder()


def _tags_dict(tags: Any) -> dict[str, str]:
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t["Key"]): str(t["Value"]) for t in tags or [] if isinstance(t, dict) and "Key" in t}


def _tags_list(tags: Any, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in _tags_dict(tags).items()]


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _policy_text(document: Any) -> str:
    # IAM takes a policy without Version (as 2008-10-17); moto insists on one.
    if isinstance(document, str):
        document = json.loads(document)
    if isinstance(document, dict) and "Version" not in document:
        document = {"Version": "2012-10-17", **document}
    return json.dumps(document)


def _error_code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def _ignore_missing(call: Callable[[], Any]) -> None:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - deleting what is already gone is fine
        code = _error_code(exc)
        if not any(word in code for word in ("NotFound", "NoSuch", "NonExistent", "DoesNotExist")):
            raise


def _flag(value: Any) -> bool:
    return str(value).lower() == "true"


def _date(value: Any) -> Any:
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


# --- Lambda ----------------------------------------------------------------------------------------

class LambdaFunctionProvider(ResourceProvider):
    replaces_on = frozenset({"FunctionName", "PackageType"})
    name_property = "FunctionName"

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        if props.get("PackageType") == "Image":
            raise ResourceFailure("container image functions cannot run in-process")
        name = props.get("FunctionName") or ctx.physical_name(logical_id, 64)
        _ensure_role(ctx, props.get("Role", ""))
        client = ctx.client("lambda")
        arn = client.create_function(FunctionName=name, Code={"ZipFile": _PLACEHOLDER_ZIP},
                                     **self._configuration(ctx, props))["FunctionArn"]
        try:
            self._register(ctx, logical_id, name, arn, props)
        except Exception:
            _ignore_missing(lambda: client.delete_function(FunctionName=name))
            raise
        return Provisioned(name, {"Arn": arn})

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        _ensure_role(ctx, props.get("Role", ""))
        config = self._configuration(ctx, props)
        config.pop("Tags", None)
        config.pop("Architectures", None)  # set with the code (UpdateFunctionCode), not the configuration
        config.setdefault("Environment", {"Variables": {}})   # removed settings are removed
        config.setdefault("Layers", [])
        ctx.client("lambda").update_function_configuration(FunctionName=current.physical_id, **config)
        self._register(ctx, logical_id, current.physical_id, current.attributes["Arn"], props)
        return current

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        ctx.lambdas.unregister(current.physical_id)
        _ignore_missing(lambda: ctx.client("lambda").delete_function(FunctionName=current.physical_id))

    @staticmethod
    def _configuration(ctx: ProvisionContext, props: dict[str, Any]) -> dict[str, Any]:
        config: dict[str, Any] = {
            "Runtime": props.get("Runtime", "python3.11"),
            "Role": props.get("Role"),
            "Handler": props.get("Handler", "index.handler"),
            "Timeout": int(props.get("Timeout", 3)),
            "MemorySize": int(props.get("MemorySize", 128)),
        }
        variables = (props.get("Environment") or {}).get("Variables")
        if variables:
            config["Environment"] = {"Variables": {k: _text(v) for k, v in variables.items()}}
        if props.get("Description"):
            config["Description"] = props["Description"]
        if props.get("Architectures"):
            config["Architectures"] = props["Architectures"]
        layers = _known_layers(ctx, props.get("Layers") or [])
        if layers:
            config["Layers"] = layers
        if props.get("Tags"):
            config["Tags"] = _tags_dict(props["Tags"])
        return config

    @staticmethod
    def _register(ctx: ProvisionContext, logical_id: str, name: str, arn: str,
                  props: dict[str, Any]) -> None:
        code = props.get("Code") or {}
        inline = code.get("ZipFile") if isinstance(code, dict) else None
        code_dir = ctx.template.code_dir(props)
        runtime = str(props.get("Runtime", "python3.11"))
        if not runtime.startswith("python") or (inline is None and code_dir is None):
            log.warning("%s (%s): no local Python code, so it cannot run locally", logical_id, name)
            ctx.lambdas.unregister(name)
            return
        variables = (props.get("Environment") or {}).get("Variables") or {}
        function = LocalFunction(
            name=name, arn=arn, handler=str(props.get("Handler", "index.handler")),
            code_dir=code_dir, inline_code=inline, runtime=runtime,
            environment={k: _text(v) for k, v in variables.items()},
            timeout=int(props.get("Timeout", 3)), memory_size=int(props.get("MemorySize", 128)),
            layers=tuple(str(layer) for layer in props.get("Layers") or []),
            region=ctx.region, account_id=ctx.account_id, logical_id=logical_id)
        try:
            ctx.lambdas.register(function)
        except ValueError as exc:
            raise ResourceFailure(str(exc)) from exc


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _known_layers(ctx: ProvisionContext, layers: list[Any]) -> list[str]:
    """The layers moto knows; others (public layers, say) are recorded but not registered."""
    client = ctx.client("lambda")
    known = []
    for arn in map(str, layers):
        parts = arn.split(":")
        if len(parts) != 8 or parts[5] != "layer" or parts[4] != ctx.account_id:
            log.info("layer %s is not in the emulator; functions run without it", arn)
            continue
        try:
            client.get_layer_version(LayerName=parts[6], VersionNumber=int(parts[7]))
            known.append(arn)
        except Exception:  # noqa: BLE001 - an unknown layer needs no work in-process
            log.info("layer %s is not in the emulator; functions run without it", arn)
    return known


def _ensure_role(ctx: ProvisionContext, role_arn: str) -> None:
    """moto's Lambda needs the execution role to exist; a role from outside the stack is stubbed."""
    match = re.fullmatch(r"arn:aws[\w-]*:iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)", str(role_arn))
    if not match or match.group(1) != ctx.account_id:
        return
    iam = ctx.client("iam")
    try:
        iam.get_role(RoleName=match.group(2))
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) != "NoSuchEntity":
            raise
        iam.create_role(RoleName=match.group(2), AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole"}]}))


class EventInvokeConfigProvider(ResourceProvider):
    """A function's asynchronous invocation settings (SAM makes one from ``EventInvokeConfig``):
    stored in moto, so the Lambda API answers with them, and given to the local Lambda service,
    which acts on them (retries, event age, destinations). The ``Qualifier`` is not used: a
    local function has only ``$LATEST``."""

    replaces_on = frozenset({"FunctionName", "Qualifier"})

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        self._apply(ctx, props)
        return Provisioned(ctx.physical_name(logical_id, 64))

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        self._apply(ctx, props)
        return current

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        function = str(props["FunctionName"])
        _ignore_missing(lambda: ctx.client("lambda").delete_function_event_invoke_config(
            FunctionName=function))
        if ctx.lambdas.get(function) is not None:
            ctx.lambdas.set_async_config(function, None)

    @staticmethod
    def _apply(ctx: ProvisionContext, props: dict[str, Any]) -> None:
        from .async_invoke import AsyncInvokeConfig

        function = str(props["FunctionName"])
        try:
            config = AsyncInvokeConfig.from_aws(props)
        except ValueError as exc:
            raise ResourceFailure(f"EventInvokeConfig of {function}: {exc}") from exc
        settings: dict[str, Any] = {
            "MaximumRetryAttempts": config.maximum_retry_attempts,
            "MaximumEventAgeInSeconds": int(config.maximum_event_age_s)}
        destinations = {key: {"Destination": arn} for key, arn in
                        (("OnSuccess", config.on_success), ("OnFailure", config.on_failure)) if arn}
        if destinations:
            settings["DestinationConfig"] = destinations
        client = ctx.client("lambda")
        _ignore_missing(lambda: client.delete_function_event_invoke_config(FunctionName=function))
        client.put_function_event_invoke_config(FunctionName=function, **settings)
        if ctx.lambdas.get(function) is not None:
            ctx.lambdas.set_async_config(function, config)


class LayerVersionProvider(ResourceProvider):
    updatable = False   # layer versions are immutable: every change publishes a new one

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        name = props.get("LayerName") or ctx.physical_name(logical_id, 64)
        kwargs: dict[str, Any] = {"LayerName": name, "Content": {"ZipFile": _PLACEHOLDER_ZIP}}
        for key in ("Description", "LicenseInfo", "CompatibleRuntimes", "CompatibleArchitectures"):
            if props.get(key):
                kwargs[key] = props[key]
        arn = ctx.client("lambda").publish_layer_version(**kwargs)["LayerVersionArn"]
        return Provisioned(arn, {"LayerVersionArn": arn})

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        name, version = current.physical_id.rsplit(":", 2)[-2:]
        _ignore_missing(lambda: ctx.client("lambda").delete_layer_version(
            LayerName=name, VersionNumber=int(version)))


class EventSourceMappingProvider(ResourceProvider):
    """Created in moto (so the Lambda API lists and toggles it) but polled by the local runtime."""

    replaces_on = frozenset({"EventSourceArn", "FunctionResponseTypes", "StartingPosition",
                             "FilterCriteria"})

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        from . import moto_hooks

        if not moto_hooks.installed():
            raise ResourceFailure("event source mappings need the local runtime's moto hooks "
                                  "(moto would invoke the function inside SendMessage)")
        self._validate(props)
        kwargs = {k: props[k] for k in ("EventSourceArn", "FunctionName", "BatchSize", "Enabled",
                                        "MaximumBatchingWindowInSeconds", "FunctionResponseTypes",
                                        "ScalingConfig", "StartingPosition") if k in props}
        for key in ("BatchSize", "MaximumBatchingWindowInSeconds"):
            if key in kwargs:
                kwargs[key] = int(kwargs[key])
        if "Enabled" in kwargs:
            kwargs["Enabled"] = _flag(kwargs["Enabled"])
        mapping = ctx.client("lambda").create_event_source_mapping(**kwargs)
        return Provisioned(mapping["UUID"], {"Id": mapping["UUID"],
                                             "EventSourceMappingArn": mapping.get(
                                                 "EventSourceMappingArn", "")})

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        self._validate(props)
        kwargs: dict[str, Any] = {"UUID": current.physical_id, "FunctionName": props["FunctionName"],
                                  "Enabled": _flag(props.get("Enabled", True))}
        kwargs["BatchSize"] = int(props.get("BatchSize", 10))
        kwargs["MaximumBatchingWindowInSeconds"] = int(props.get("MaximumBatchingWindowInSeconds", 0))
        ctx.client("lambda").update_event_source_mapping(**kwargs)
        return current

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        _ignore_missing(lambda: ctx.client("lambda").delete_event_source_mapping(
            UUID=current.physical_id))

    @staticmethod
    def _validate(props: Mapping[str, Any]) -> None:
        source = str(props.get("EventSourceArn", ""))
        if props.get("FilterCriteria"):
            raise ResourceFailure("FilterCriteria is not supported by the local runtime's poller")
        if ":sqs:" not in source:
            log.warning("event source %s: only SQS mappings are polled locally", source)
            return
        size = int(props.get("BatchSize", 10))
        window = int(props.get("MaximumBatchingWindowInSeconds", 0))
        fifo = source.endswith(".fifo")
        if not 1 <= size <= (10 if fifo else 10_000):
            raise ResourceFailure(f"BatchSize {size} is outside 1..{10 if fifo else 10_000} for "
                                  f"{'a FIFO' if fifo else 'an SQS'} queue")
        if size > 10 and window < 1:
            raise ResourceFailure("Maximum batch window in seconds must be greater than 0 if "
                                  "maximum batch size is greater than 10")
        if fifo and window:
            raise ResourceFailure("Batching window is not supported for FIFO queues")


# --- IAM -------------------------------------------------------------------------------------------

class RoleProvider(ResourceProvider):
    replaces_on = frozenset({"RoleName", "Path"})
    name_property = "RoleName"

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        iam = ctx.client("iam")
        name = props.get("RoleName") or ctx.physical_name(logical_id, 64)
        kwargs: dict[str, Any] = {
            "RoleName": name, "Path": props.get("Path", "/"),
            "AssumeRolePolicyDocument": _policy_text(props.get("AssumeRolePolicyDocument", {}))}
        if props.get("Description"):
            kwargs["Description"] = props["Description"]
        if props.get("MaxSessionDuration"):
            kwargs["MaxSessionDuration"] = int(props["MaxSessionDuration"])
        if props.get("Tags"):
            kwargs["Tags"] = _tags_list(props["Tags"])
        role = iam.create_role(**kwargs)["Role"]
        self._apply_policies(iam, name, {}, props)
        return Provisioned(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        iam = ctx.client("iam")
        iam.update_assume_role_policy(RoleName=current.physical_id, PolicyDocument=_policy_text(
            props.get("AssumeRolePolicyDocument", {})))
        self._apply_policies(iam, current.physical_id, old, props)
        return current

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        iam = ctx.client("iam")
        name = current.physical_id
        self._apply_policies(iam, name, props, {})
        _ignore_missing(lambda: iam.delete_role(RoleName=name))

    @staticmethod
    def _apply_policies(iam: Any, name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        old_inline = {p["PolicyName"] for p in old.get("Policies") or []}
        new_inline = {p["PolicyName"]: p["PolicyDocument"] for p in new.get("Policies") or []}
        for policy in old_inline - set(new_inline):
            _ignore_missing(lambda: iam.delete_role_policy(RoleName=name, PolicyName=policy))
        for policy, document in new_inline.items():
            iam.put_role_policy(RoleName=name, PolicyName=policy, PolicyDocument=_policy_text(document))
        old_managed = set(old.get("ManagedPolicyArns") or [])
        new_managed = set(new.get("ManagedPolicyArns") or [])
        for arn in old_managed - new_managed:
            try:
                iam.detach_role_policy(RoleName=name, PolicyArn=arn)
            except Exception:  # noqa: BLE001 - it may never have been attached (see below)
                pass
        for arn in new_managed - old_managed:
            try:
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)
            except Exception:  # noqa: BLE001 - moto may not know every AWS managed policy
                log.debug("role %s: managed policy %s not attached", name, arn)


class PolicyProvider(ResourceProvider):
    """``AWS::IAM::Policy``: an inline policy put on each of its roles."""

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        self._put(ctx, props)
        return Provisioned(ctx.physical_name(logical_id, 64), {"Id": logical_id})

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        self._remove(ctx, old, keep=set(props.get("Roles") or []))
        self._put(ctx, props)
        return current

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        self._remove(ctx, props, keep=set())

    @staticmethod
    def _put(ctx: ProvisionContext, props: Mapping[str, Any]) -> None:
        iam = ctx.client("iam")
        for role in props.get("Roles") or []:
            iam.put_role_policy(RoleName=role, PolicyName=props["PolicyName"],
                                PolicyDocument=_policy_text(props["PolicyDocument"]))

    @staticmethod
    def _remove(ctx: ProvisionContext, props: Mapping[str, Any], keep: set[str]) -> None:
        iam = ctx.client("iam")
        for role in set(props.get("Roles") or []) - keep:
            _ignore_missing(lambda: iam.delete_role_policy(RoleName=role,
                                                           PolicyName=props["PolicyName"]))


class ManagedPolicyProvider(ResourceProvider):
    updatable = False
    name_property = "ManagedPolicyName"

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        iam = ctx.client("iam")
        name = props.get("ManagedPolicyName") or ctx.physical_name(logical_id, 128)
        arn = iam.create_policy(PolicyName=name, Path=props.get("Path", "/"),
                                PolicyDocument=_policy_text(props["PolicyDocument"]))["Policy"]["Arn"]
        for role in props.get("Roles") or []:
            iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        return Provisioned(arn, {"PolicyArn": arn})

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        iam = ctx.client("iam")
        for role in props.get("Roles") or []:
            _ignore_missing(lambda: iam.detach_role_policy(RoleName=role, PolicyArn=current.physical_id))
        _ignore_missing(lambda: iam.delete_policy(PolicyArn=current.physical_id))


# --- DynamoDB, SQS, SNS, S3 ------------------------------------------------------------------------

class TableProvider(ResourceProvider):
    replaces_on = frozenset({"TableName", "KeySchema", "LocalSecondaryIndexes"})
    name_property = "TableName"

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        ddb = ctx.client("dynamodb")
        name = props.get("TableName") or ctx.physical_name(logical_id, 255)
        kwargs: dict[str, Any] = {"TableName": name, "KeySchema": props["KeySchema"],
                                  "AttributeDefinitions": props["AttributeDefinitions"],
                                  "BillingMode": props.get("BillingMode", "PROVISIONED")}
        if kwargs["BillingMode"] == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = self._throughput(props.get("ProvisionedThroughput"))
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(key):
                kwargs[key] = [self._index(i, kwargs["BillingMode"]) for i in props[key]]
        stream = props.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True,
                                             "StreamViewType": stream["StreamViewType"]}
        sse = props.get("SSESpecification")
        if sse and _flag(sse.get("SSEEnabled")):
            kwargs["SSESpecification"] = {"Enabled": True, **(
                {"SSEType": sse["SSEType"]} if sse.get("SSEType") else {})}
        if props.get("TableClass"):
            kwargs["TableClass"] = props["TableClass"]
        if props.get("Tags"):
            kwargs["Tags"] = _tags_list(props["Tags"])
        table = ddb.create_table(**kwargs)["TableDescription"]
        self._settings(ddb, name, {}, props)
        return Provisioned(name, self._attributes(table))

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        ddb = ctx.client("dynamodb")
        name = current.physical_id
        changes: dict[str, Any] = {}
        billing = props.get("BillingMode", "PROVISIONED")
        if billing != old.get("BillingMode", "PROVISIONED"):
            changes["BillingMode"] = billing
        if billing == "PROVISIONED" and props.get("ProvisionedThroughput") != old.get(
                "ProvisionedThroughput"):
            changes["ProvisionedThroughput"] = self._throughput(props.get("ProvisionedThroughput"))
        if props.get("StreamSpecification") != old.get("StreamSpecification"):
            stream = props.get("StreamSpecification")
            changes["StreamSpecification"] = (
                {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]} if stream
                else {"StreamEnabled": False})
        indexes = self._index_updates(old, props, billing)
        if indexes:
            changes["GlobalSecondaryIndexUpdates"] = indexes
            changes["AttributeDefinitions"] = props["AttributeDefinitions"]
        if changes:
            ddb.update_table(TableName=name, **changes)
        self._settings(ddb, name, old, props)
        return Provisioned(name, self._attributes(ddb.describe_table(TableName=name)["Table"]))

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        _ignore_missing(lambda: ctx.client("dynamodb").delete_table(TableName=current.physical_id))

    @staticmethod
    def _throughput(value: Any) -> dict[str, int]:
        value = value or {}
        return {"ReadCapacityUnits": int(value.get("ReadCapacityUnits", 5)),
                "WriteCapacityUnits": int(value.get("WriteCapacityUnits", 5))}

    def _index(self, index: Mapping[str, Any], billing: str) -> dict[str, Any]:
        result = {k: index[k] for k in ("IndexName", "KeySchema", "Projection") if k in index}
        if billing == "PROVISIONED" and "ProvisionedThroughput" in index:
            result["ProvisionedThroughput"] = self._throughput(index["ProvisionedThroughput"])
        return result

    def _index_updates(self, old: Mapping[str, Any], new: Mapping[str, Any],
                       billing: str) -> list[dict[str, Any]]:
        before = {i["IndexName"]: i for i in old.get("GlobalSecondaryIndexes") or []}
        after = {i["IndexName"]: i for i in new.get("GlobalSecondaryIndexes") or []}
        updates: list[dict[str, Any]] = [{"Delete": {"IndexName": n}} for n in before
                                         if n not in after or before[n] != after[n]]
        updates += [{"Create": self._index(i, billing)} for n, i in after.items()
                    if n not in before or before[n] != i]
        return updates

    @staticmethod
    def _settings(ddb: Any, name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        ttl, old_ttl = new.get("TimeToLiveSpecification"), old.get("TimeToLiveSpecification")
        if ttl != old_ttl and (ttl or old_ttl):
            spec = ttl or {**old_ttl, "Enabled": False}  # type: ignore[dict-item]
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "Enabled": _flag(spec.get("Enabled")), "AttributeName": spec["AttributeName"]})
        pitr = new.get("PointInTimeRecoverySpecification")
        if pitr != old.get("PointInTimeRecoverySpecification") and pitr is not None:
            ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": _flag(pitr.get("PointInTimeRecoveryEnabled"))})

    @staticmethod
    def _attributes(table: Mapping[str, Any]) -> dict[str, Any]:
        attributes = {"Arn": table["TableArn"]}
        if table.get("LatestStreamArn"):
            attributes["StreamArn"] = table["LatestStreamArn"]
        return attributes


_QUEUE_ATTRIBUTES = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
                     "ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "RedrivePolicy",
                     "RedriveAllowPolicy", "ContentBasedDeduplication", "DeduplicationScope",
                     "FifoThroughputLimit", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
                     "SqsManagedSseEnabled")
_QUEUE_DEFAULTS = {"DelaySeconds": "0", "MaximumMessageSize": "262144",
                   "MessageRetentionPeriod": "345600", "ReceiveMessageWaitTimeSeconds": "0",
                   "VisibilityTimeout": "30", "RedrivePolicy": "", "RedriveAllowPolicy": ""}


class QueueProvider(ResourceProvider):
    replaces_on = frozenset({"QueueName", "FifoQueue"})
    name_property = "QueueName"

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        fifo = _flag(props.get("FifoQueue"))
        name = props.get("QueueName") or ctx.physical_name(logical_id, 80,
                                                            suffix=".fifo" if fifo else "")
        attributes = self._attributes(props)
        if fifo:
            attributes["FifoQueue"] = "true"
        kwargs: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
        if props.get("Tags"):
            kwargs["tags"] = _tags_dict(props["Tags"])
        sqs = ctx.client("sqs")
        url = sqs.create_queue(**kwargs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"]
        return Provisioned(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        attributes = self._attributes(props)
        for key in self._attributes(old):
            if key not in attributes and key in _QUEUE_DEFAULTS:
                attributes[key] = _QUEUE_DEFAULTS[key]
        if attributes:
            ctx.client("sqs").set_queue_attributes(QueueUrl=current.physical_id,
                                                   Attributes=attributes)
        return current

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        _ignore_missing(lambda: ctx.client("sqs").delete_queue(QueueUrl=current.physical_id))

    @staticmethod
    def _attributes(props: Mapping[str, Any]) -> dict[str, str]:
        attributes = {}
        for key in _QUEUE_ATTRIBUTES:
            if key in props:
                value = props[key]
                attributes[key] = json.dumps(value) if isinstance(value, dict) else _text(value)
        return attributes


class TopicProvider(ResourceProvider):
    replaces_on = frozenset({"TopicName", "FifoTopic"})
    name_property = "TopicName"

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        fifo = _flag(props.get("FifoTopic"))
        name = props.get("TopicName") or ctx.physical_name(logical_id, 256,
                                                            suffix=".fifo" if fifo else "")
        attributes = {k: _text(props[k]) for k in ("DisplayName", "ContentBasedDeduplication")
                      if k in props}
        if fifo:
            attributes["FifoTopic"] = "true"
        sns = ctx.client("sns")
        arn = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
        for subscription in props.get("Subscription") or []:
            _subscribe(sns, arn, subscription["Protocol"], subscription["Endpoint"], {})
        return Provisioned(arn, {"TopicArn": arn, "TopicName": name})

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        if props.get("Subscription") != old.get("Subscription"):
            raise ResourceFailure("changing a topic's inline Subscription is not supported locally")
        if "DisplayName" in props:
            ctx.client("sns").set_topic_attributes(TopicArn=current.physical_id,
                                                   AttributeName="DisplayName",
                                                   AttributeValue=_text(props["DisplayName"]))
        return current

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        _ignore_missing(lambda: ctx.client("sns").delete_topic(TopicArn=current.physical_id))


def _subscribe(sns: Any, topic: str, protocol: str, endpoint: str, attributes: dict[str, str]) -> str:
    if protocol == "lambda":
        raise ResourceFailure("SNS subscriptions of Lambda functions are not supported locally "
                              "(moto would invoke the function inside Publish)")
    return sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=endpoint,
                         Attributes=attributes, ReturnSubscriptionArn=True)["SubscriptionArn"]


class SubscriptionProvider(ResourceProvider):
    updatable = False

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        attributes = {}
        for key in ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy"):
            if key in props:
                value = props[key]
                attributes[key] = json.dumps(value) if isinstance(value, dict) else _text(value)
        arn = _subscribe(ctx.client("sns"), props["TopicArn"], props["Protocol"], props["Endpoint"],
                         attributes)
        return Provisioned(arn, {"Arn": arn})

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        _ignore_missing(lambda: ctx.client("sns").unsubscribe(SubscriptionArn=current.physical_id))


class BucketProvider(ResourceProvider):
    replaces_on = frozenset({"BucketName"})
    name_property = "BucketName"

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        name = props.get("BucketName") or ctx.physical_name(logical_id, 63, lowercase=True)
        kwargs: dict[str, Any] = {"Bucket": name}
        if ctx.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
        ctx.client("s3").create_bucket(**kwargs)
        return Provisioned(name, {
            "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{ctx.region}.amazonaws.com",
            "DualStackDomainName": f"{name}.s3.dualstack.{ctx.region}.amazonaws.com",
            "WebsiteURL": f"http://{name}.s3-website-{ctx.region}.amazonaws.com"})

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        return current   # bucket settings are not modelled locally

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        _ignore_missing(lambda: ctx.client("s3").delete_bucket(Bucket=current.physical_id))


# --- Step Functions, Scheduler ---------------------------------------------------------------------

def substitute_definition(definition: str, substitutions: Mapping[str, Any]) -> str:
    """Apply ``DefinitionSubstitutions`` as CloudFormation does (moto does not)."""
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in substitutions:
            return match.group(0)
        return _text(substitutions[name])

    return re.sub(r"\$\{([^}]+)\}", replace, definition)


class StateMachineProvider(ResourceProvider):
    replaces_on = frozenset({"StateMachineName", "StateMachineType"})
    name_property = "StateMachineName"

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        name = props.get("StateMachineName") or ctx.physical_name(logical_id, 80)
        kwargs: dict[str, Any] = {"name": name, "definition": self._definition(props),
                                  "roleArn": props["RoleArn"],
                                  "type": props.get("StateMachineType", "STANDARD")}
        if props.get("Tags"):
            kwargs["tags"] = _tags_list(props["Tags"], "key", "value")
        arn = ctx.client("stepfunctions").create_state_machine(**kwargs)["stateMachineArn"]
        return Provisioned(arn, {"Arn": arn, "Name": name})

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        ctx.client("stepfunctions").update_state_machine(
            stateMachineArn=current.physical_id, definition=self._definition(props),
            roleArn=props["RoleArn"])
        return current

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        _ignore_missing(lambda: ctx.client("stepfunctions").delete_state_machine(
            stateMachineArn=current.physical_id))

    @staticmethod
    def _definition(props: Mapping[str, Any]) -> str:
        if "Definition" in props:
            text = json.dumps(props["Definition"], indent=2)
        elif "DefinitionString" in props:
            text = str(props["DefinitionString"])
        else:
            raise ResourceFailure("a state machine needs Definition or DefinitionString "
                                  "(DefinitionS3Location must be a local file)")
        return substitute_definition(text, props.get("DefinitionSubstitutions") or {})


class ScheduleGroupProvider(ResourceProvider):
    replaces_on = frozenset({"Name"})
    name_property = "Name"

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        name = props.get("Name") or ctx.physical_name(logical_id, 64)
        kwargs: dict[str, Any] = {"Name": name}
        if props.get("Tags"):
            kwargs["Tags"] = _tags_list(props["Tags"])
        arn = ctx.client("scheduler").create_schedule_group(**kwargs)["ScheduleGroupArn"]
        return Provisioned(name, {"Arn": arn, "State": "ACTIVE"})

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        return current

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        _ignore_missing(lambda: ctx.client("scheduler").delete_schedule_group(
            Name=current.physical_id))


class ScheduleProvider(ResourceProvider):
    replaces_on = frozenset({"Name", "GroupName"})
    name_property = "Name"

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        name = props.get("Name") or ctx.physical_name(logical_id, 64)
        arn = ctx.client("scheduler").create_schedule(Name=name, **self._spec(props))["ScheduleArn"]
        return Provisioned(name, {"Arn": arn})

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        ctx.client("scheduler").update_schedule(Name=current.physical_id, **self._spec(props))
        return current

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        _ignore_missing(lambda: ctx.client("scheduler").delete_schedule(
            Name=current.physical_id, GroupName=props.get("GroupName", "default")))

    @staticmethod
    def _spec(props: Mapping[str, Any]) -> dict[str, Any]:
        spec: dict[str, Any] = {"ScheduleExpression": props["ScheduleExpression"],
                                "FlexibleTimeWindow": props.get("FlexibleTimeWindow",
                                                                {"Mode": "OFF"}),
                                "Target": props["Target"],
                                "GroupName": props.get("GroupName", "default"),
                                "State": props.get("State", "ENABLED")}
        if "MaximumWindowInMinutes" in spec["FlexibleTimeWindow"]:
            spec["FlexibleTimeWindow"] = {**spec["FlexibleTimeWindow"], "MaximumWindowInMinutes": int(
                spec["FlexibleTimeWindow"]["MaximumWindowInMinutes"])}
        for key in ("ScheduleExpressionTimezone", "Description", "KmsKeyArn"):
            if props.get(key):
                spec[key] = props[key]
        for key in ("StartDate", "EndDate"):
            if props.get(key):
                spec[key] = _date(props[key])
        return spec


# --- logs, metrics, parameters, secrets -----------------------------------------------------------

class LogGroupProvider(ResourceProvider):
    replaces_on = frozenset({"LogGroupName"})
    name_property = "LogGroupName"

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        name = props.get("LogGroupName") or ctx.physical_name(logical_id, 512)
        logs = ctx.client("logs")
        logs.create_log_group(logGroupName=name)
        if props.get("RetentionInDays"):
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        return Provisioned(name, {"Arn": ctx.arn("logs", f"log-group:{name}:*")})

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        logs = ctx.client("logs")
        if props.get("RetentionInDays"):
            logs.put_retention_policy(logGroupName=current.physical_id,
                                      retentionInDays=int(props["RetentionInDays"]))
        elif old.get("RetentionInDays"):
            logs.delete_retention_policy(logGroupName=current.physical_id)
        return current

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        _ignore_missing(lambda: ctx.client("logs").delete_log_group(logGroupName=current.physical_id))


class DashboardProvider(ResourceProvider):
    replaces_on = frozenset({"DashboardName"})
    name_property = "DashboardName"

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        name = props.get("DashboardName") or ctx.physical_name(logical_id, 255)
        self._put(ctx, name, props)
        return Provisioned(name, {})

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        self._put(ctx, current.physical_id, props)
        return current

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        _ignore_missing(lambda: ctx.client("cloudwatch").delete_dashboards(
            DashboardNames=[current.physical_id]))

    @staticmethod
    def _put(ctx: ProvisionContext, name: str, props: Mapping[str, Any]) -> None:
        ctx.client("cloudwatch").put_dashboard(DashboardName=name,
                                               DashboardBody=_json_text(props["DashboardBody"]))


class SsmParameterProvider(ResourceProvider):
    replaces_on = frozenset({"Name"})
    name_property = "Name"

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        name = props.get("Name") or f"CFN-{logical_id}-{secrets.token_hex(6).upper()}"
        self._put(ctx, name, props, overwrite=False)
        return Provisioned(name, {"Type": props.get("Type", "String"), "Value": props["Value"]})

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        self._put(ctx, current.physical_id, props, overwrite=True)
        return Provisioned(current.physical_id, {"Type": props.get("Type", "String"),
                                                 "Value": props["Value"]})

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        _ignore_missing(lambda: ctx.client("ssm").delete_parameter(Name=current.physical_id))

    @staticmethod
    def _put(ctx: ProvisionContext, name: str, props: Mapping[str, Any], *, overwrite: bool) -> None:
        kwargs: dict[str, Any] = {"Name": name, "Value": _text(props["Value"]),
                                  "Type": props.get("Type", "String"), "Overwrite": overwrite}
        for key in ("Description", "AllowedPattern", "Tier"):
            if props.get(key):
                kwargs[key] = props[key]
        ctx.client("ssm").put_parameter(**kwargs)


class SecretProvider(ResourceProvider):
    replaces_on = frozenset({"Name"})
    name_property = "Name"

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        name = props.get("Name") or f"{logical_id}-{secrets.token_hex(6)}"
        kwargs: dict[str, Any] = {"Name": name, "SecretString": self._value(props)}
        if props.get("Description"):
            kwargs["Description"] = props["Description"]
        arn = ctx.client("secretsmanager").create_secret(**kwargs)["ARN"]
        return Provisioned(arn, {"Id": arn})

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        if props.get("SecretString") != old.get("SecretString"):
            ctx.client("secretsmanager").put_secret_value(SecretId=current.physical_id,
                                                          SecretString=self._value(props))
        return current

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        _ignore_missing(lambda: ctx.client("secretsmanager").delete_secret(
            SecretId=current.physical_id, ForceDeleteWithoutRecovery=True))

    @staticmethod
    def _value(props: Mapping[str, Any]) -> str:
        if "SecretString" in props:
            return _text(props["SecretString"])
        generate = props.get("GenerateSecretString") or {}
        length = int(generate.get("PasswordLength", 32))
        excluded = set(str(generate.get("ExcludeCharacters", "")))
        alphabet = [c for c in string.ascii_letters + string.digits if c not in excluded]
        password = "".join(secrets.choice(alphabet) for _ in range(length))
        template = generate.get("SecretStringTemplate")
        key = generate.get("GenerateStringKey")
        if template and key:
            return json.dumps({**json.loads(template), key: password})
        return password


# --- recorded only ---------------------------------------------------------------------------------

class RecordProvider(ResourceProvider):
    """Resources the emulator needs nothing for: kept in the stack, with plausible ids.

    A change makes a new record (a replacement), since there is nothing to update.
    """

    updatable = False

    def __init__(self, make: Callable[[ProvisionContext, str, dict[str, Any]], Provisioned]) -> None:
        self._make = make

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        return self._make(ctx, logical_id, props)


def _random_id(length: int = 10) -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=length))


def _function_arn(ctx: ProvisionContext, name_or_arn: str) -> str:
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    return ctx.arn("lambda", f"function:{name_or_arn}")


def _generated(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
    return Provisioned(ctx.physical_name(logical_id, 64))


def _rule(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
    name = props.get("Name") or ctx.physical_name(logical_id, 64)
    bus = props.get("EventBusName", "default")
    path = f"rule/{name}" if bus == "default" else f"rule/{bus}/{name}"
    return Provisioned(name, {"Arn": ctx.arn("events", path)})


def _alarm(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
    name = props.get("AlarmName") or ctx.physical_name(logical_id, 255)
    return Provisioned(name, {"Arn": ctx.arn("cloudwatch", f"alarm:{name}")})


def _version(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
    arn = f"{_function_arn(ctx, str(props['FunctionName']))}:1"
    return Provisioned(arn, {"Version": "1", "FunctionArn": arn})


def _alias(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
    arn = f"{_function_arn(ctx, str(props['FunctionName']))}:{props['Name']}"
    return Provisioned(arn, {"AliasArn": arn})


def _url(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
    arn = _function_arn(ctx, str(props["TargetFunctionArn"]))
    return Provisioned(arn, {"FunctionArn": arn, "FunctionUrl":
                             f"https://{_random_id(32)}.lambda-url.{ctx.region}.on.aws/"})


def _http_api(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
    api_id = _random_id()
    return Provisioned(api_id, {"ApiId": api_id, "ApiEndpoint":
                                f"https://{api_id}.execute-api.{ctx.region}.amazonaws.com"})


def _stage(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
    return Provisioned(str(props.get("StageName", "$default")))


def _api_part(ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
    return Provisioned(_random_id(7))


PROVIDERS: dict[str, ResourceProvider] = {
    "AWS::Lambda::Function": LambdaFunctionProvider(),
    "AWS::Lambda::LayerVersion": LayerVersionProvider(),
    "AWS::Lambda::EventSourceMapping": EventSourceMappingProvider(),
    "AWS::Lambda::Permission": RecordProvider(_generated),
    "AWS::Lambda::LayerVersionPermission": RecordProvider(_generated),
    "AWS::Lambda::EventInvokeConfig": EventInvokeConfigProvider(),
    "AWS::Lambda::Version": RecordProvider(_version),
    "AWS::Lambda::Alias": RecordProvider(_alias),
    "AWS::Lambda::Url": RecordProvider(_url),
    "AWS::IAM::Role": RoleProvider(),
    "AWS::IAM::Policy": PolicyProvider(),
    "AWS::IAM::ManagedPolicy": ManagedPolicyProvider(),
    "AWS::DynamoDB::Table": TableProvider(),
    "AWS::SQS::Queue": QueueProvider(),
    "AWS::SQS::QueuePolicy": RecordProvider(_generated),
    "AWS::SNS::Topic": TopicProvider(),
    "AWS::SNS::Subscription": SubscriptionProvider(),
    "AWS::SNS::TopicPolicy": RecordProvider(_generated),
    "AWS::S3::Bucket": BucketProvider(),
    "AWS::StepFunctions::StateMachine": StateMachineProvider(),
    "AWS::Scheduler::ScheduleGroup": ScheduleGroupProvider(),
    "AWS::Scheduler::Schedule": ScheduleProvider(),
    "AWS::Logs::LogGroup": LogGroupProvider(),
    "AWS::CloudWatch::Dashboard": DashboardProvider(),
    "AWS::CloudWatch::Alarm": RecordProvider(_alarm),
    "AWS::Events::Rule": RecordProvider(_rule),
    "AWS::SSM::Parameter": SsmParameterProvider(),
    "AWS::SecretsManager::Secret": SecretProvider(),
    "AWS::CloudFormation::WaitConditionHandle": RecordProvider(_generated),
    "AWS::ApiGatewayV2::Api": RecordProvider(_http_api),
    "AWS::ApiGatewayV2::Stage": RecordProvider(_stage),
}
for _part in ("Integration", "Route", "Authorizer", "Deployment", "ApiMapping", "DomainName",
              "RouteResponse", "IntegrationResponse", "Model", "VpcLink"):
    PROVIDERS[f"AWS::ApiGatewayV2::{_part}"] = RecordProvider(_api_part)


# --- custom resources ------------------------------------------------------------------------------

class CustomResourceProvider(ResourceProvider):
    """``Custom::*`` and ``AWS::CloudFormation::CustomResource``: the provider function decides."""

    def __init__(self, resource_type: str) -> None:
        self.resource_type = resource_type

    def create(self, ctx: ProvisionContext, logical_id: str, props: dict[str, Any]) -> Provisioned:
        response = self._send(ctx, logical_id, "Create", props)
        return Provisioned(response.physical_id, dict(response.data))

    def update(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               old: dict[str, Any], props: dict[str, Any]) -> Provisioned:
        response = self._send(ctx, logical_id, "Update", props, old=old,
                              physical_id=current.physical_id)
        return Provisioned(response.physical_id, dict(response.data))

    def delete(self, ctx: ProvisionContext, logical_id: str, current: Provisioned,
               props: dict[str, Any]) -> None:
        self._send(ctx, logical_id, "Delete", props, physical_id=current.physical_id)

    def _send(self, ctx: ProvisionContext, logical_id: str, request_type: str,
              props: dict[str, Any], *, old: dict[str, Any] | None = None,
              physical_id: str | None = None) -> custom_resource.CustomResourceResponse:
        token = props.get("ServiceToken")
        if not isinstance(token, str) or not token:
            raise ResourceFailure("a custom resource needs a ServiceToken")
        try:
            return custom_resource.send_request(
                ctx.lambdas, request_type=request_type, service_token=token,
                stack_id=ctx.stack_id, logical_id=logical_id, resource_type=self.resource_type,
                properties=props, old_properties=old, physical_id=physical_id)
        except custom_resource.CustomResourceError as exc:
            raise ResourceFailure(exc.reason, exc.physical_id) from exc


def is_custom(resource_type: str) -> bool:
    return resource_type.startswith("Custom::") or resource_type == \
        "AWS::CloudFormation::CustomResource"


def provider_for(resource_type: str, logical_id: str) -> ResourceProvider:
    if is_custom(resource_type):
        return CustomResourceProvider(resource_type)
    provider = PROVIDERS.get(resource_type)
    if provider is None:
        raise UnsupportedResourceError(f"resource {logical_id}: type {resource_type} is not "
                                       "supported by the local runtime")
    return provider
