"""Asynchronous invocation (``InvocationType: Event``) the way Lambda's internal queue does it.

An event is accepted at once (the caller gets its request ID) and runs on a thread of its own.
What happens next follows the function's asynchronous invocation configuration
(``AWS::Lambda::EventInvokeConfig``, ``PutFunctionEventInvokeConfig``), as on AWS:

- a function error (an exception, a timeout, a sandbox that died) is retried up to
  ``MaximumRetryAttempts`` times (0-2, default 2), after ``retry_delays`` (AWS waits about a
  minute, then about two), with the same request ID;
- an event older than ``MaximumEventAgeInSeconds`` (default 6 hours) when its next attempt is due
  is dropped;
- the outcome goes to a destination: ``OnSuccess`` after a success, ``OnFailure`` once retries are
  exhausted (condition ``RetriesExhausted``) or the event is too old (``EventAgeExceeded``). The
  destination gets Lambda's invocation record: a Lambda function is invoked asynchronously with it
  as the event (the function itself is a valid destination: a function that restarts itself after
  a crash), an SQS queue receives it as a message body, an SNS topic as a message, an EventBridge
  bus as an event's detail.

Delays and event ages are measured on the service's clock. With a ``VirtualClock`` a retry waits,
"parked", until the clock reaches its time: parked retries do not count as pending work
(``pending``, ``wait``), so a test's clock that stands still leaves them parked, and
``next_retry_due()`` tells a driver of the clock when to stop for the next one
(``LocalRuntime.advance`` does). Events not yet done when the service stops are dropped.

Deviations from AWS: throttled events are not queued for hours (a sandboxed function's event
waits for a free sandbox; an in-process function runs one invocation at a time anyway); the
retry delays are exact, not jittered; destination ARNs must be in the endpoint this process uses.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    from .lambdas import Invocation, LambdaService

log = logging.getLogger(__name__)

DEFAULT_RETRY_DELAYS = (60.0, 120.0)
_POLL_S = 0.05     # how often a parked retry looks at the clock (a virtual one moves in jumps)


@dataclass(frozen=True)
class AsyncInvokeConfig:
    """A function's asynchronous invocation settings; destinations are ARNs."""

    maximum_retry_attempts: int = 2
    maximum_event_age_s: float = 21600
    on_success: str | None = None
    on_failure: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.maximum_retry_attempts <= 2:
            raise ValueError("MaximumRetryAttempts must be between 0 and 2")
        if self.maximum_event_age_s <= 0:
            raise ValueError("MaximumEventAgeInSeconds must be positive")

    @classmethod
    def from_aws(cls, settings: Mapping[str, Any]) -> "AsyncInvokeConfig":
        """From the shape ``AWS::Lambda::EventInvokeConfig`` and ``PutFunctionEventInvokeConfig``
        share: ``MaximumRetryAttempts``, ``MaximumEventAgeInSeconds``, ``DestinationConfig``."""
        destinations = settings.get("DestinationConfig") or {}

        def destination(key: str) -> str | None:
            value = (destinations.get(key) or {}).get("Destination")
            return str(value) if value else None

        return cls(maximum_retry_attempts=int(settings.get("MaximumRetryAttempts", 2)),
                   maximum_event_age_s=float(settings.get("MaximumEventAgeInSeconds", 21600)),
                   on_success=destination("OnSuccess"), on_failure=destination("OnFailure"))


@dataclass(eq=False)          # kept in a set by identity
class _Event:
    function_name: str
    function_arn: str
    invoked_as: str
    event: Any
    request_id: str
    accepted_at: float
    attempts: int = 0
    due: float | None = None              # set while parked, waiting for its retry
    last: "Invocation | None" = field(default=None, repr=False)


class AsyncInvoker:
    """The asynchronous side of a ``LambdaService``: accepted events, retries, destinations."""

    def __init__(self, service: "LambdaService",
                 retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS) -> None:
        if not retry_delays:
            raise ValueError("give at least one retry delay")
        self.service = service
        self.retry_delays = tuple(float(d) for d in retry_delays)
        self._configs: dict[str, AsyncInvokeConfig] = {}
        self._events: set[_Event] = set()   # accepted and not done: running or parked
        self._cond = threading.Condition()
        self._stopped = False

    # --- configuration -----------------------------------------------------------------------

    def config(self, function_name: str) -> AsyncInvokeConfig:
        return self._configs.get(function_name) or AsyncInvokeConfig()

    def set_config(self, function_name: str, config: AsyncInvokeConfig | None) -> None:
        if config is None:
            self._configs.pop(function_name, None)
        else:
            self._configs[function_name] = config

    # --- accepting and waiting ---------------------------------------------------------------

    def submit(self, function_name: str, function_arn: str, invoked_as: str, event: Any) -> str:
        """Accept an event; its request ID. It runs on a thread of its own."""
        job = _Event(function_name=function_name, function_arn=function_arn, invoked_as=invoked_as,
                     event=event, request_id=str(uuid.uuid4()),
                     accepted_at=self.service.clock.now())
        with self._cond:
            if self._stopped:
                raise RuntimeError("the local Lambda service is stopped")
            self._events.add(job)
            self._cond.notify_all()
        threading.Thread(target=self._run, args=(job,), daemon=True,
                         name=f"lambda-async-{function_name[-40:]}").start()
        return job.request_id

    @property
    def pending(self) -> int:
        """Events running now, or parked with their retry due by the clock's now."""
        with self._cond:
            return self._pending()

    def _pending(self) -> int:
        now = self.service.clock.now()
        return sum(1 for job in self._events if job.due is None or job.due <= now)

    def wait(self, timeout: float) -> bool:
        """Wait until nothing is pending; True if so, False if ``timeout`` ran out first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, _POLL_S))
            return True

    def next_retry_due(self, after: float | None = None) -> float | None:
        """When the earliest parked retry is due (the first after ``after``, if given)."""
        with self._cond:
            times = [job.due for job in self._events
                     if job.due is not None and (after is None or job.due > after)]
        return min(times) if times else None

    def stop(self) -> None:
        """Drop parked retries; running attempts finish but are neither retried nor delivered."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    # --- one event ---------------------------------------------------------------------------

    def _run(self, job: _Event) -> None:
        try:
            self._attempts(job)
        except Exception:  # noqa: BLE001 - a background thread must not die silently
            log.exception("asynchronous invocation %s of %s failed", job.request_id,
                          job.function_name)
        finally:
            with self._cond:
                self._events.discard(job)
                self._cond.notify_all()

    def _attempts(self, job: _Event) -> None:
        from .lambdas import Invocation, LambdaInvocationError, ResourceNotFoundError

        while True:
            config = self.config(job.function_name)
            if self.service.clock.now() - job.accepted_at > config.maximum_event_age_s:
                self._finish(job, config, "EventAgeExceeded")
                return
            job.attempts += 1
            try:
                job.last = self.service._call(job.invoked_as, job.event, request_id=job.request_id,
                                              wait=True)
            except ResourceNotFoundError:
                log.warning("asynchronous invocation %s: %s no longer exists; event dropped",
                            job.request_id, job.function_name)
                return
            except LambdaInvocationError as exc:      # could not run at all: a failed attempt
                job.last = Invocation(function_name=job.function_name, request_id=job.request_id,
                                      event=job.event, result=exc.payload, error=exc.payload,
                                      started_at=self.service.clock.now())
            if job.last.ok:
                self._finish(job, config, "Success")
                return
            if job.attempts > config.maximum_retry_attempts:
                self._finish(job, config, "RetriesExhausted")
                return
            delay = self.retry_delays[min(job.attempts - 1, len(self.retry_delays) - 1)]
            if not self._park(job, self.service.clock.now() + delay):
                log.info("asynchronous invocation %s of %s dropped: the service stopped",
                         job.request_id, job.function_name)
                return

    def _park(self, job: _Event, due: float) -> bool:
        """Wait, not pending, until the clock reaches ``due``; False if the service stopped."""
        with self._cond:
            job.due = due
            self._cond.notify_all()
            while not self._stopped:
                now = self.service.clock.now()
                if now >= due:
                    job.due = None
                    self._cond.notify_all()
                    return True
                self._cond.wait(min(due - now, _POLL_S))
            return False

    def _finish(self, job: _Event, config: AsyncInvokeConfig, condition: str) -> None:
        if self._stopped:
            return
        destination = config.on_success if condition == "Success" else config.on_failure
        if destination is None:
            if condition != "Success":
                log.warning("asynchronous invocation %s of %s failed (%s, %d attempts): %s",
                            job.request_id, job.function_name, condition, job.attempts,
                            job.last.error if job.last else None)
            return
        record = invocation_record(job.request_id, job.function_arn, condition, job.attempts,
                                   job.event, job.last, self.service.clock.now())
        try:
            deliver(self.service, destination, record, success=condition == "Success")
        except Exception as exc:  # noqa: BLE001 - a lost record is logged, as Lambda would drop it
            log.warning("asynchronous invocation %s of %s: delivering to %s failed: %s",
                        job.request_id, job.function_name, destination, exc)


def invocation_record(request_id: str, function_arn: str, condition: str, attempts: int,
                      event: Any, last: "Invocation | None", now: float) -> dict[str, Any]:
    """What a destination receives, in Lambda's shape."""
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": _iso_millis(now),
        "requestContext": {"requestId": request_id, "functionArn": f"{function_arn}:$LATEST",
                           "condition": condition, "approximateInvokeCount": attempts},
        "requestPayload": event,
    }
    if last is not None:
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if not last.ok:
            response["functionError"] = "Unhandled"
        record["responseContext"] = response
        record["responsePayload"] = last.result
    return record


def deliver(service: "LambdaService", destination: str, record: dict[str, Any], *,
            success: bool) -> None:
    """Send an invocation record to a Lambda function, SQS queue, SNS topic or event bus."""
    parts = destination.split(":")
    kind = parts[2] if len(parts) > 5 else ""
    body = json.dumps(record)
    if kind == "lambda":
        if service.get(destination) is None:
            raise LookupError(f"destination function {destination} does not run locally")
        service.call_async(destination, record)
        return
    from .. import aws

    if kind == "sqs":
        sqs = aws.client("sqs")
        url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=body)
    elif kind == "sns":
        aws.client("sns").publish(TopicArn=destination, Message=body)
    elif kind == "events":
        outcome = "Success" if success else "Failure"
        aws.client("events").put_events(Entries=[{
            "Source": "lambda", "DetailType": f"Lambda Function Invocation Result - {outcome}",
            "Detail": body, "EventBusName": destination,
            "Resources": [record["requestContext"]["functionArn"]]}])
    else:
        raise ValueError(f"{destination} is not a destination the local runtime supports")


def _iso_millis(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
