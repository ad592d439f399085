"""A small CloudFormation engine for the embedded endpoint.

    deployer = StackDeployer("demo", lambdas=service)
    deployer.deploy(load_template("template.yaml"), {"Environment": "local"})
    deployer.stack.outputs["ConfigsTableName"]
    deployer.deploy(load_template("edited.yaml"))     # an update: diffs by logical ID
    deployer.delete()

What it does, as CloudFormation does:

- Parameters (defaults, overrides, AllowedValues/AllowedPattern/Min/Max checked), Conditions and
  the intrinsic functions (see ``intrinsics``), pseudo parameters (account 123456789012).
- Resources in dependency order (Ref, Fn::GetAtt, Fn::Sub references and DependsOn). Among the
  resources that are ready at the same time, custom resources go first: they are where a
  deploy is most likely to be refused (an invalid connector config), so a refusal comes before
  the other resources of that deploy were touched.
- An update diffs by logical ID: new resources are created; changed ones are updated in place,
  or replaced (new one first, old one deleted at the end) when a property that names or shapes
  the resource changed (a custom-named resource that needs replacing is an error, as in
  CloudFormation); a custom resource gets Update with ``OldResourceProperties``, and a new
  ``PhysicalResourceId`` in its answer is a replacement. Removed resources, and the old halves
  of replacements, are deleted only after everything else succeeded, in reverse order.
- A failure stops the deploy and rolls back what it did, newest first: created resources are
  deleted (a custom resource whose Create failed gets Delete with the PhysicalResourceId it
  answered, if any), updated ones get their previous properties back (a custom resource gets
  an Update with the old properties - also the one that failed), replacements are deleted.
  The stack keeps its previous template, parameters and outputs; ``DeploymentError`` carries
  the failing resource and CloudFormation's reason. ``disable_rollback=True`` leaves things as
  the failure found them (like ``--disable-rollback``).
- A failed first deploy rolls back to an empty stack (CloudFormation would leave it in
  ROLLBACK_COMPLETE, to be deleted before the next try; here the next deploy simply creates).
- ``DeletionPolicy``/``UpdateReplacePolicy: Retain`` keep the physical resource.
"""

from __future__ import annotations

import heapq
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .intrinsics import (
    NO_VALUE,
    PSEUDO_PARAMETERS,
    Evaluator,
    TemplateEvaluationError,
    references,
    resolve_parameters,
)
from .lambdas import DEFAULT_ACCOUNT
from .resources import (
    ProvisionContext,
    Provisioned,
    ResourceFailure,
    UnsupportedResourceError,
    is_custom,
    provider_for,
)
from .template import Template, TemplateError, load_template

if TYPE_CHECKING:
    from .lambdas import LambdaService

log = logging.getLogger(__name__)

__all__ = ["DeploymentError", "Stack", "StackDeployer", "StackEvent", "StackResource",
           "UnsupportedResourceError"]


class DeploymentError(RuntimeError):
    """A deploy or delete failed. ``logical_id``/``resource_type``/``reason`` say where and why;
    ``rollback_failures`` lists what could not be rolled back."""

    def __init__(self, message: str, *, logical_id: str | None = None,
                 resource_type: str | None = None, reason: str | None = None,
                 rollback_failures: list[str] | None = None) -> None:
        super().__init__(message)
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.reason = reason or message
        self.rollback_failures = list(rollback_failures or [])


@dataclass
class StackResource:
    logical_id: str
    type: str
    physical_id: str
    properties: dict[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)
    depends_on: frozenset[str] = frozenset()
    deletion_policy: str = "Delete"
    update_replace_policy: str = "Delete"

    @property
    def provisioned(self) -> Provisioned:
        return Provisioned(self.physical_id, self.attributes)


@dataclass(frozen=True)
class StackEvent:
    timestamp: float
    logical_id: str
    resource_type: str
    status: str
    reason: str = ""
    physical_id: str = ""


@dataclass
class Stack:
    name: str
    stack_id: str
    region: str
    account_id: str
    status: str = "NONE"
    template: Template | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, StackResource] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)      # creation order of ``resources``
    outputs: dict[str, Any] = field(default_factory=dict)
    exports: dict[str, Any] = field(default_factory=dict)
    events: list[StackEvent] = field(default_factory=list)
    cleanup_failures: list[str] = field(default_factory=list)

    def physical_id(self, logical_id: str) -> str:
        try:
            return self.resources[logical_id].physical_id
        except KeyError:
            raise KeyError(f"stack {self.name} has no resource {logical_id!r}") from None


@dataclass
class _Action:
    kind: str                          # "create" | "update" | "replace"
    logical_id: str
    new: StackResource
    old: StackResource | None = None


class _Failure(Exception):
    def __init__(self, logical_id: str, resource_type: str, reason: str,
                 rollback: Callable[[], None] | None = None) -> None:
        super().__init__(reason)
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.reason = reason
        self.rollback = rollback


class StackDeployer:
    """Deploys one stack into the endpoint this process uses (``connect_core.aws``).

    ``lambdas`` runs the stack's functions (custom resources call them); ``on_created`` is called
    with each resource right after it is created (the local runtime restores table snapshots
    there, before anything that depends on the table runs).
    """

    def __init__(self, stack_name: str, *, lambdas: "LambdaService", region: str | None = None,
                 account_id: str = DEFAULT_ACCOUNT,
                 client_factory: Callable[[str], Any] | None = None,
                 on_created: Callable[[StackResource], None] | None = None) -> None:
        from ..aws import clients

        self.region = region or clients.region()
        self.lambdas = lambdas
        self.on_created = on_created
        self._client_factory = client_factory or (
            lambda service: clients.client(service, self.region))
        self.stack = Stack(name=stack_name, region=self.region, account_id=account_id,
                           stack_id=(f"arn:aws:cloudformation:{self.region}:{account_id}:stack/"
                                     f"{stack_name}/{uuid.uuid4()}"))

    # --- deploy ------------------------------------------------------------------------------

    def deploy(self, template: Template | str | Path, parameters: Mapping[str, Any] | None = None,
               *, disable_rollback: bool = False) -> Stack:
        """Create the stack, or update it to ``template``; returns the stack."""
        if not isinstance(template, Template):
            try:
                template = load_template(template, parameters, region=self.region)
            except TemplateError as exc:
                raise DeploymentError(str(exc)) from exc
        stack = self.stack
        creating = not stack.resources
        try:
            plan = self._plan(template, parameters)
        except (TemplateEvaluationError, UnsupportedResourceError) as exc:
            raise DeploymentError(f"Template error: {exc}", reason=str(exc)) from exc
        context = self._context(template)
        working = dict(stack.resources)
        actions: list[_Action] = []
        stack.status = "CREATE_IN_PROGRESS" if creating else "UPDATE_IN_PROGRESS"
        evaluator = plan.evaluator(working)
        try:
            for logical_id in plan.order:
                self._apply(context, evaluator, plan, logical_id, working, actions)
            outputs, exports = self._outputs(template, evaluator, plan)
        except _Failure as failure:
            self._fail(context, failure, actions, working, creating, disable_rollback)
        except TemplateEvaluationError as exc:
            self._fail(context, _Failure("Outputs", "", str(exc)), actions, working, creating,
                       disable_rollback)

        # Everything succeeded: the stack is the new template. Then clean up.
        removed = [lid for lid in reversed(stack.order) if lid not in plan.active]
        replaced = [a.old for a in actions if a.kind == "replace" and a.old is not None]
        stack.resources = {lid: working[lid] for lid in plan.order}
        stack.order = list(plan.order)
        stack.template = template
        stack.parameters = plan.parameters
        stack.outputs, stack.exports = outputs, exports
        stack.cleanup_failures = []
        for old in reversed(replaced):
            if old.update_replace_policy != "Retain":
                self._cleanup(context, old)
        for logical_id in removed:
            old = working[logical_id]
            if old.deletion_policy != "Retain":
                self._cleanup(context, old)
            else:
                self._event(old, "DELETE_SKIPPED")
        stack.status = "CREATE_COMPLETE" if creating else "UPDATE_COMPLETE"
        return stack

    def _apply(self, context: ProvisionContext, evaluator: Evaluator, plan: "_Plan",
               logical_id: str, working: dict[str, StackResource], actions: list[_Action]) -> None:
        spec = plan.active[logical_id]
        kind = spec["Type"]
        provider = provider_for(kind, logical_id)
        try:
            props = evaluator.resolve(spec.get("Properties") or {})
            deletion = str(evaluator.resolve(spec.get("DeletionPolicy", "Delete")))
            replace_policy = str(evaluator.resolve(spec.get("UpdateReplacePolicy", "Delete")))
        except TemplateEvaluationError as exc:
            raise _Failure(logical_id, kind, str(exc)) from exc
        old = working.get(logical_id) if logical_id in self.stack.resources else None
        record = StackResource(logical_id, kind, "", props, {}, plan.dependencies[logical_id],
                               deletion, replace_policy)

        if old is not None and old.type == kind and old.properties == props:
            working[logical_id] = replace(old, depends_on=record.depends_on,
                                          deletion_policy=deletion,
                                          update_replace_policy=replace_policy)
            return
        if old is None:
            self._event(record, "CREATE_IN_PROGRESS")
            result = self._run(logical_id, kind, lambda: provider.create(context, logical_id, props),
                               on_failure=lambda physical: self._delete_failed_create(
                                   context, provider, record, physical))
            new = replace(record, physical_id=result.physical_id, attributes=result.attributes)
            working[logical_id] = new
            actions.append(_Action("create", logical_id, new))
            self._event(new, "CREATE_COMPLETE")
            if self.on_created is not None:
                self._run(logical_id, kind, lambda: self.on_created(new))  # type: ignore[misc]
            return
        if old.type != kind or provider.needs_replacement(old.properties, props):
            name = provider.name_property
            if old.type == kind and name and props.get(name) and props.get(name) == \
                    old.properties.get(name):
                raise _Failure(logical_id, kind,
                               f"CloudFormation cannot update a stack when a custom-named resource "
                               f"requires replacing. Rename {props[name]} and update the stack "
                               "again.")
            self._event(record, "UPDATE_IN_PROGRESS", "Requested update requires the creation of "
                                                      "a new physical resource")
            result = self._run(logical_id, kind, lambda: provider.create(context, logical_id, props),
                               on_failure=lambda physical: self._delete_failed_create(
                                   context, provider, record, physical))
            new = replace(record, physical_id=result.physical_id, attributes=result.attributes)
            working[logical_id] = new
            actions.append(_Action("replace", logical_id, new, old))
            self._event(new, "UPDATE_COMPLETE")
            return
        self._event(old, "UPDATE_IN_PROGRESS")
        result = self._run(logical_id, kind,
                           lambda: provider.update(context, logical_id, old.provisioned,
                                                   old.properties, props),
                           on_failure=lambda physical: self._revert_failed_update(
                               context, provider, old, props))
        new = replace(record, physical_id=result.physical_id, attributes=result.attributes)
        working[logical_id] = new
        if result.physical_id != old.physical_id:
            actions.append(_Action("replace", logical_id, new, old))   # a custom resource's choice
        else:
            actions.append(_Action("update", logical_id, new, old))
        self._event(new, "UPDATE_COMPLETE")

    def _run(self, logical_id: str, kind: str, operation: Callable[[], Any],
             on_failure: Callable[[str | None], None] | None = None) -> Any:
        try:
            return operation()
        except ResourceFailure as exc:
            physical = exc.physical_id
            reason = exc.reason
        except Exception as exc:  # noqa: BLE001 - any provider error fails this resource
            physical = None
            reason = _reason(exc)
        rollback = (lambda: on_failure(physical)) if on_failure is not None else None
        raise _Failure(logical_id, kind, reason, rollback)

    def _delete_failed_create(self, context: ProvisionContext, provider: Any,
                              record: StackResource, physical: str | None) -> None:
        # CloudFormation sends a custom resource whose Create failed a Delete for what it answered.
        if is_custom(record.type) and physical:
            provider.delete(context, record.logical_id, Provisioned(physical), record.properties)

    def _revert_failed_update(self, context: ProvisionContext, provider: Any, old: StackResource,
                              attempted: dict[str, Any]) -> None:
        # The resource whose update failed gets its previous properties back (an Update event
        # with the old properties, for a custom resource).
        if is_custom(old.type):
            provider.update(context, old.logical_id, old.provisioned, attempted, old.properties)

    def _fail(self, context: ProvisionContext, failure: _Failure, actions: list[_Action],
              working: dict[str, StackResource], creating: bool, disable_rollback: bool) -> None:
        stack = self.stack
        stack.events.append(StackEvent(time.time(), failure.logical_id, failure.resource_type,
                                       "CREATE_FAILED" if creating else "UPDATE_FAILED",
                                       failure.reason))
        rollback_failures: list[str] = []
        if disable_rollback:
            stack.resources = {lid: working[lid] for lid in working}
            stack.order = [lid for lid in stack.order if lid in working] + [
                a.logical_id for a in actions if a.kind == "create"]
            stack.status = "CREATE_FAILED" if creating else "UPDATE_FAILED"
        else:
            stack.status = "ROLLBACK_IN_PROGRESS" if creating else "UPDATE_ROLLBACK_IN_PROGRESS"
            if failure.rollback is not None:
                self._attempt(rollback_failures, failure.logical_id, failure.rollback)
            for action in reversed(actions):
                self._undo(context, action, rollback_failures)
            stack.status = "ROLLBACK_COMPLETE" if creating else "UPDATE_ROLLBACK_COMPLETE"
            if rollback_failures:
                stack.status = "ROLLBACK_FAILED" if creating else "UPDATE_ROLLBACK_FAILED"
        where = f"{failure.logical_id} ({failure.resource_type})" if failure.resource_type else \
            failure.logical_id
        message = f"stack {stack.name}: {where} failed: {failure.reason}"
        if rollback_failures:
            message += "; rollback failed for: " + "; ".join(rollback_failures)
        raise DeploymentError(message, logical_id=failure.logical_id,
                              resource_type=failure.resource_type, reason=failure.reason,
                              rollback_failures=rollback_failures)

    def _undo(self, context: ProvisionContext, action: _Action, failures: list[str]) -> None:
        new, old = action.new, action.old
        provider = provider_for(new.type, new.logical_id)
        if action.kind in ("create", "replace"):
            self._attempt(failures, new.logical_id,
                          lambda: provider.delete(context, new.logical_id, new.provisioned,
                                                  new.properties))
            self._event(new, "DELETE_COMPLETE", "rollback")
        elif action.kind == "update" and old is not None:
            self._attempt(failures, new.logical_id,
                          lambda: provider.update(context, new.logical_id, new.provisioned,
                                                  new.properties, old.properties))
            self._event(old, "UPDATE_COMPLETE", "rollback")

    @staticmethod
    def _attempt(failures: list[str], logical_id: str, operation: Callable[[], Any]) -> None:
        try:
            operation()
        except Exception as exc:  # noqa: BLE001 - keep rolling back the rest
            failures.append(f"{logical_id}: {_reason(exc)}")
            log.warning("rollback of %s failed: %s", logical_id, exc)

    def _cleanup(self, context: ProvisionContext, resource: StackResource) -> None:
        provider = provider_for(resource.type, resource.logical_id)
        try:
            provider.delete(context, resource.logical_id, resource.provisioned, resource.properties)
            self._event(resource, "DELETE_COMPLETE")
        except Exception as exc:  # noqa: BLE001 - CloudFormation completes the update anyway
            reason = f"{resource.logical_id}: {_reason(exc)}"
            self.stack.cleanup_failures.append(reason)
            self._event(resource, "DELETE_FAILED", reason)
            log.warning("stack %s: cleanup of %s failed: %s", self.stack.name, resource.logical_id,
                        exc)

    # --- delete ------------------------------------------------------------------------------

    def delete(self) -> None:
        """Delete every resource (newest first); ``Retain`` ones are left alone."""
        stack = self.stack
        if not stack.resources:
            stack.status = "DELETE_COMPLETE"
            return
        context = self._context(stack.template or Template(None, {"Resources": {}}))
        stack.status = "DELETE_IN_PROGRESS"
        failures = []
        for logical_id in reversed(stack.order):
            resource = stack.resources.get(logical_id)
            if resource is None:
                continue
            if resource.deletion_policy == "Retain":
                self._event(resource, "DELETE_SKIPPED")
                del stack.resources[logical_id]
                continue
            try:
                provider_for(resource.type, logical_id).delete(
                    context, logical_id, resource.provisioned, resource.properties)
            except Exception as exc:  # noqa: BLE001 - delete what can be deleted
                failures.append(f"{logical_id}: {_reason(exc)}")
                self._event(resource, "DELETE_FAILED", _reason(exc))
                continue
            self._event(resource, "DELETE_COMPLETE")
            del stack.resources[logical_id]
        stack.order = [lid for lid in stack.order if lid in stack.resources]
        if failures:
            stack.status = "DELETE_FAILED"
            raise DeploymentError(f"stack {stack.name}: delete failed for: " + "; ".join(failures),
                                  reason="; ".join(failures))
        stack.status = "DELETE_COMPLETE"
        stack.outputs, stack.exports = {}, {}

    # --- planning ----------------------------------------------------------------------------

    def _plan(self, template: Template, overrides: Mapping[str, Any] | None) -> "_Plan":
        body = template.body
        declared = body.get("Parameters") or {}
        values = resolve_parameters(declared, overrides, self._ssm_parameter)
        specs = body.get("Resources") or {}
        plan = _Plan(self, template, values)
        base = plan.evaluator({})
        active = {}
        for logical_id, spec in specs.items():
            if not isinstance(spec, dict) or "Type" not in spec:
                raise TemplateEvaluationError(f"resource {logical_id} has no Type")
            condition = spec.get("Condition")
            if condition is None or base.condition(condition):
                active[logical_id] = spec
        known = set(declared) | set(PSEUDO_PARAMETERS) | set(specs)
        dependencies = {}
        for logical_id, spec in active.items():
            provider_for(spec["Type"], logical_id)   # unsupported types fail before any change
            names = references(spec.get("Properties") or {})
            depends = spec.get("DependsOn") or []
            names |= set([depends] if isinstance(depends, str) else depends)
            unknown = sorted(names - known)
            if unknown:
                raise TemplateEvaluationError(f"Unresolved resource dependencies {unknown} in the "
                                              f"Resources block of the template ({logical_id})")
            dependencies[logical_id] = frozenset(n for n in names if n in active)
        plan.active = active
        plan.dependencies = dependencies
        plan.order = _order(list(active), dependencies,
                            first=lambda lid: is_custom(active[lid]["Type"]))
        return plan

    def _outputs(self, template: Template, evaluator: Evaluator,
                 plan: "_Plan") -> tuple[dict[str, Any], dict[str, Any]]:
        outputs, exports = {}, {}
        for name, spec in (template.body.get("Outputs") or {}).items():
            condition = spec.get("Condition")
            if condition is not None and not evaluator.condition(condition):
                continue
            value = evaluator.resolve(spec.get("Value"))
            if value is NO_VALUE:
                continue
            outputs[name] = value
            export = spec.get("Export")
            if isinstance(export, dict) and "Name" in export:
                exports[str(evaluator.resolve(export["Name"]))] = value
        return outputs, exports

    def _ssm_parameter(self, name: str) -> str:
        return self._client_factory("ssm").get_parameter(Name=name)["Parameter"]["Value"]

    def _context(self, template: Template) -> ProvisionContext:
        return ProvisionContext(stack_name=self.stack.name, stack_id=self.stack.stack_id,
                                region=self.region, account_id=self.stack.account_id,
                                template=template, lambdas=self.lambdas,
                                client_factory=self._client_factory)

    def _event(self, resource: StackResource, status: str, reason: str = "") -> None:
        self.stack.events.append(StackEvent(time.time(), resource.logical_id, resource.type, status,
                                            reason, resource.physical_id))


class _Plan:
    """A template with its parameter values: what to deploy and in which order."""

    def __init__(self, deployer: StackDeployer, template: Template,
                 parameters: dict[str, Any]) -> None:
        self.deployer = deployer
        self.template = template
        self.parameters = parameters
        self.active: dict[str, Any] = {}
        self.dependencies: dict[str, frozenset[str]] = {}
        self.order: list[str] = []

    def evaluator(self, working: dict[str, StackResource]) -> Evaluator:
        stack = self.deployer.stack
        body = self.template.body
        pseudo = {"AWS::AccountId": stack.account_id, "AWS::Region": stack.region,
                  "AWS::StackName": stack.name, "AWS::StackId": stack.stack_id,
                  "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
                  "AWS::NotificationARNs": []}

        def ref(name: str) -> Any:
            resource = working.get(name)
            if resource is None or (self.active and name not in self.active):
                raise TemplateEvaluationError(f"Unresolved resource dependencies [{name}]")
            return resource.physical_id

        def get_att(name: str, attribute: str) -> Any:
            resource = working.get(name)
            if resource is None or (self.active and name not in self.active):
                raise TemplateEvaluationError(f"Unresolved resource dependencies [{name}]")
            if attribute in resource.attributes:
                return resource.attributes[attribute]
            if is_custom(resource.type):
                raise TemplateEvaluationError(f"CustomResource attribute error: Vendor response "
                                              f"doesn't contain {attribute} attribute ({name})")
            raise TemplateEvaluationError(f"Template error: resource {name} does not support "
                                          f"attribute type {attribute} in Fn::GetAtt")

        return Evaluator(parameters=self.parameters, pseudo=pseudo,
                         mappings=body.get("Mappings") or {},
                         conditions=body.get("Conditions") or {}, ref=ref, get_att=get_att,
                         region=stack.region)


def _order(nodes: list[str], dependencies: Mapping[str, frozenset[str]],
           first: Callable[[str], bool]) -> list[str]:
    """Dependencies first; among ready nodes, ``first(node)`` ones, then template order."""
    position = {node: index for index, node in enumerate(nodes)}
    waiting = {node: set(dependencies[node]) for node in nodes}
    dependents: dict[str, list[str]] = {node: [] for node in nodes}
    for node, needs in waiting.items():
        for need in needs:
            dependents[need].append(node)
    ready = [(0 if first(n) else 1, position[n], n) for n in nodes if not waiting[n]]
    heapq.heapify(ready)
    order = []
    while ready:
        _, _, node = heapq.heappop(ready)
        order.append(node)
        for dependent in dependents[node]:
            waiting[dependent].discard(node)
            if not waiting[dependent]:
                heapq.heappush(ready, (0 if first(dependent) else 1, position[dependent],
                                       dependent))
    if len(order) != len(nodes):
        cycle = sorted(n for n in nodes if waiting[n])
        raise TemplateEvaluationError(f"Circular dependency between resources: {cycle}")
    return order


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return f"required property {exc.args[0]!r} is missing"
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code')}: {error.get('Message')}"
    return str(exc) or type(exc).__name__
