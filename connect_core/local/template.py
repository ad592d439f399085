"""Read a SAM template and turn it into plain CloudFormation, offline.

    template = load_template("template.yaml")                # SAM or plain CloudFormation
    template.resources["SinkConsumerFunction"]["Type"]       # "AWS::Lambda::Function"
    template.code_dir(template.resources["SinkConsumerFunction"]["Properties"])  # functions/sink_consumer

What ``sam deploy`` does before CloudFormation sees a template, done here without AWS:

- YAML with CloudFormation's short tags (``!Ref``, ``!Sub``, ...) becomes the long JSON form.
- A local ``DefinitionUri`` (an ASL file beside the template) is inlined as ``Definition``.
- Local ``CodeUri``/``ContentUri`` paths become ``s3://`` placeholders, which is what the SAM
  translator needs; the placeholders are remembered so the deployer finds each function's code.
- The SAM translator (``samtranslator``) expands ``AWS::Serverless::*`` into CloudFormation, using
  the managed-policy map it bundles instead of asking IAM.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
ARTIFACT_BUCKET = "local-runtime-artifacts"


class TemplateError(ValueError):
    """The template cannot be read or translated."""


# --- YAML with CloudFormation's short tags ---------------------------------------------------------

class CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation's short tags into their long JSON forms.

    Dates stay strings, as CloudFormation reads them (``AWSTemplateFormatVersion: 2010-09-09``).
    """


CloudFormationLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_SHORT_FUNCTIONS = ("Base64", "Cidr", "Equals", "FindInMap", "GetAZs", "If", "ImportValue", "Join",
                    "Not", "And", "Or", "Select", "Split", "Sub", "Transform", "Length",
                    "ToJsonString")


def _node_value(loader: CloudFormationLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _long_form(name: str):
    def construct(loader: CloudFormationLoader, node: yaml.Node) -> dict[str, Any]:
        return {name: _node_value(loader, node)}
    return construct


def _get_att(loader: CloudFormationLoader, node: yaml.Node) -> dict[str, Any]:
    value = _node_value(loader, node)
    if isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


CloudFormationLoader.add_constructor("!Ref", _long_form("Ref"))
CloudFormationLoader.add_constructor("!Condition", _long_form("Condition"))
CloudFormationLoader.add_constructor("!GetAtt", _get_att)
for _name in _SHORT_FUNCTIONS:
    CloudFormationLoader.add_constructor(f"!{_name}", _long_form(f"Fn::{_name}"))


def parse_template(text: str) -> dict[str, Any]:
    """A template's text (YAML with short tags, or JSON) as a dict."""
    try:
        body = yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TemplateError(f"the template is not valid YAML: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("Resources"), dict):
        raise TemplateError("a template is a mapping with a Resources section")
    return body


# --- the translated template -----------------------------------------------------------------------

@dataclass(frozen=True)
class Template:
    """A template as plain CloudFormation, plus where the local code of its functions lives."""

    path: Path | None
    body: dict[str, Any]
    artifacts: Mapping[str, Path] = field(default_factory=dict)  # "s3://bucket/key" -> local path

    @property
    def resources(self) -> dict[str, Any]:
        return self.body.get("Resources", {})

    @property
    def parameters(self) -> dict[str, Any]:
        return self.body.get("Parameters", {}) or {}

    def code_dir(self, properties: Mapping[str, Any]) -> Path | None:
        """The local directory of an ``AWS::Lambda::Function``'s code, or None if it is elsewhere."""
        code = properties.get("Code")
        if isinstance(code, str):
            return self._local(code)
        if isinstance(code, dict) and isinstance(code.get("S3Bucket"), str) and isinstance(
                code.get("S3Key"), str):
            return self.artifacts.get(f"s3://{code['S3Bucket']}/{code['S3Key']}")
        return None

    def content_dir(self, properties: Mapping[str, Any]) -> Path | None:
        """The local directory of an ``AWS::Lambda::LayerVersion``'s content, if it has one."""
        content = properties.get("Content")
        if isinstance(content, dict) and isinstance(content.get("S3Bucket"), str):
            return self.artifacts.get(f"s3://{content['S3Bucket']}/{content.get('S3Key')}")
        return None

    def _local(self, value: str) -> Path | None:
        if value.startswith("s3://"):
            return self.artifacts.get(value)
        base = self.path.parent if self.path else Path.cwd()
        candidate = (base / value).resolve()
        return candidate if candidate.exists() else None


def load_template(path: str | os.PathLike[str], parameters: Mapping[str, Any] | None = None, *,
                  region: str | None = None) -> Template:
    """Read ``path`` and return it as plain CloudFormation (SAM translated when it asks for it)."""
    path = Path(path).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read the template {path}: {exc}") from exc
    return translate(parse_template(text), base_dir=path.parent, parameters=parameters,
                     region=region, path=path)


def translate(body: Mapping[str, Any], *, base_dir: str | os.PathLike[str],
              parameters: Mapping[str, Any] | None = None, region: str | None = None,
              path: Path | None = None) -> Template:
    """Prepare local paths in ``body`` and run the SAM transform if the template declares it."""
    body = copy.deepcopy(dict(body))
    artifacts = _Artifacts(Path(base_dir).resolve())
    artifacts.prepare(body)
    if not _uses_sam(body):
        return Template(path=path, body=body, artifacts=dict(artifacts.paths))
    translated = _run_sam_translator(body, parameters or {}, region)
    return Template(path=path, body=translated, artifacts=dict(artifacts.paths))


def _uses_sam(body: Mapping[str, Any]) -> bool:
    transform = body.get("Transform")
    transforms = transform if isinstance(transform, list) else [transform]
    return SAM_TRANSFORM in transforms


# --- local paths -----------------------------------------------------------------------------------

class _Artifacts:
    """Replaces local code paths with ``s3://`` placeholders and remembers which is which."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.paths: dict[str, Path] = {}

    def prepare(self, body: dict[str, Any]) -> None:
        globals_ = body.get("Globals") or {}
        for section, key in (("Function", "CodeUri"), ("StateMachine", "DefinitionUri")):
            props = globals_.get(section)
            if isinstance(props, dict) and key in props:
                self._prepare_property(props, key, f"Globals.{section}")
        for logical_id, resource in (body.get("Resources") or {}).items():
            if not isinstance(resource, dict) or not isinstance(resource.get("Properties"), dict):
                continue
            props = resource["Properties"]
            kind = resource.get("Type")
            if kind == "AWS::Serverless::Function":
                self._prepare_property(props, "CodeUri", logical_id)
            elif kind == "AWS::Serverless::LayerVersion":
                self._prepare_property(props, "ContentUri", logical_id)
            elif kind == "AWS::Serverless::StateMachine":
                self._prepare_property(props, "DefinitionUri", logical_id)
            elif kind == "AWS::Lambda::Function" and isinstance(props.get("Code"), str):
                props["Code"] = self._placeholder(props["Code"], logical_id, as_uri=False)
            elif kind == "AWS::StepFunctions::StateMachine" and isinstance(
                    props.get("DefinitionS3Location"), str):
                props["Definition"] = self._definition(props.pop("DefinitionS3Location"), logical_id)

    def _prepare_property(self, props: dict[str, Any], key: str, where: str) -> None:
        value = props.get(key)
        if not isinstance(value, str) or value.startswith("s3://"):
            return
        if key == "DefinitionUri":
            props.pop(key)
            props["Definition"] = self._definition(value, where)
        else:
            props[key] = self._placeholder(value, where, as_uri=True)

    def _placeholder(self, value: str, where: str, *, as_uri: bool) -> Any:
        local = (self.base_dir / value).resolve()
        if not local.exists():
            raise TemplateError(f"{where}: the local path {value!r} does not exist "
                                f"(relative to {self.base_dir})")
        key = f"{len(self.paths)}/{local.name or 'root'}"
        uri = f"s3://{ARTIFACT_BUCKET}/{key}"
        self.paths[uri] = local
        return uri if as_uri else {"S3Bucket": ARTIFACT_BUCKET, "S3Key": key}

    def _definition(self, value: str, where: str) -> Any:
        local = (self.base_dir / value).resolve()
        try:
            text = local.read_text(encoding="utf-8")
        except OSError as exc:
            raise TemplateError(f"{where}: cannot read the state machine definition {value!r}: "
                                f"{exc}") from exc
        try:
            if local.suffix in (".yaml", ".yml"):
                return yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506
            return json.loads(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise TemplateError(f"{where}: the state machine definition {value!r} is not valid: "
                                f"{exc}") from exc


# --- the SAM translator, offline --------------------------------------------------------------------

class OfflineManagedPolicyLoader:
    """The managed-policy map the SAM translator asks IAM for, taken from the copy it bundles."""

    def __init__(self, partition: str = "aws") -> None:
        self.partition = partition

    def load(self) -> dict[str, str]:
        from samtranslator.internal.managed_policies import get_bundled_managed_policy_map

        return dict(get_bundled_managed_policy_map(self.partition) or {})


_TRANSLATOR_ENV = ("AWS_DEFAULT_REGION", "AWS_REGION")


def _run_sam_translator(body: dict[str, Any], parameters: Mapping[str, Any],
                        region: str | None) -> dict[str, Any]:
    try:
        from samtranslator.model.exceptions import InvalidDocumentException
        from samtranslator.translator.transform import transform
    except ImportError as exc:  # pragma: no cover - a dev dependency
        raise TemplateError("translating a SAM template needs aws-sam-translator "
                            "(pip install -e '.[dev]')") from exc

    from ..aws import clients

    metrics_log = logging.getLogger("samtranslator.metrics.metrics")
    if metrics_log.level == logging.NOTSET:
        metrics_log.setLevel(logging.ERROR)   # it warns that nobody publishes its metrics
    # The translator finds the region (and so the partition) through boto3's default session.
    region = region or clients.region()
    saved = {name: os.environ.get(name) for name in _TRANSLATOR_ENV}
    os.environ["AWS_DEFAULT_REGION"] = region
    os.environ["AWS_REGION"] = region
    values = {name: str(value) for name, value in parameters.items()}
    try:
        return transform(body, values, OfflineManagedPolicyLoader(_partition(region)))
    except InvalidDocumentException as exc:
        causes = "; ".join(str(cause) for cause in getattr(exc, "causes", []) or []) or str(exc)
        raise TemplateError(f"the SAM template is invalid: {causes}") from exc
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"

