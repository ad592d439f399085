"""The local runtime: the embedded AWS endpoint and what runs connectors against it.

- ``EmbeddedAWS`` (``emulator``): moto's server on loopback, reached like LocalStack.
- ``LocalRuntime`` (``runtime``): a SAM template deployed into it, with schedules fired, SQS
  mappings polled and state machines running the project's real handlers.
- Underneath: ``load_template`` (``template``), ``StackDeployer`` (``deploy``), ``LambdaService``
  (``lambdas``), ``Scheduler`` (``scheduler``), ``SqsEventSourcePoller`` (``esm``), clocks.

Every name is imported on first use, so importing this package never loads moto or boto3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .clock import SystemClock, VirtualClock
    from .deploy import DeploymentError, Stack, StackDeployer
    from .emulator import EmbeddedAWS
    from .esm import SqsEventSourcePoller
    from .lambdas import LambdaContext, LambdaInvocationError, LambdaService, LocalFunction
    from .runtime import LocalRuntime, NotIdleError
    from .scheduler import Firing, Scheduler
    from .template import Template, TemplateError, load_template

_EXPORTS = {
    "EmbeddedAWS": "emulator",
    "LocalRuntime": "runtime",
    "NotIdleError": "runtime",
    "DeploymentError": "deploy",
    "Stack": "deploy",
    "StackDeployer": "deploy",
    "LambdaService": "lambdas",
    "LocalFunction": "lambdas",
    "LambdaContext": "lambdas",
    "LambdaInvocationError": "lambdas",
    "Scheduler": "scheduler",
    "Firing": "scheduler",
    "SqsEventSourcePoller": "esm",
    "Template": "template",
    "TemplateError": "template",
    "load_template": "template",
    "SystemClock": "clock",
    "VirtualClock": "clock",
}

__all__ = ["DeploymentError", "EmbeddedAWS", "Firing", "LambdaContext", "LambdaInvocationError",
           "LambdaService", "LocalFunction", "LocalRuntime", "NotIdleError", "Scheduler",
           "SqsEventSourcePoller", "Stack", "StackDeployer", "SystemClock", "Template",
           "TemplateError", "VirtualClock", "load_template"]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
