"""Retries with backoff on 429/5xx and network failures, Retry-After, non-retryable statuses, timeouts,
stale connections, secret rotation, and the secret never showing up in errors or logs."""

from __future__ import annotations

import json
import logging
import socket

import pytest

from connect_core import aws
from http_support import Reply, config, order

pytestmark = pytest.mark.integration

RETRY_30S = {"retry_timeout_ms": 30_000, "retry_max_delay_ms": 1_000}


def test_a_503_is_retried_with_jittered_backoff_and_the_same_idempotency_key(webhook, make_sink, virtual_time):
    webhook.script(Reply(503, "busy"), Reply(200))
    sink = make_sink(config(webhook, errors=RETRY_30S))

    result = sink.deliver([order(1)])

    assert (result.written, result.failed_ids) == (1, [])
    assert len(webhook.requests) == 2
    assert webhook.requests[0].headers["Idempotency-Key"] == webhook.requests[1].headers["Idempotency-Key"]
    [pause] = virtual_time.sleeps
    assert 0.05 <= pause <= 0.1  # the first backoff step (100 ms) with jitter


def test_a_429_waits_at_least_what_retry_after_asks(webhook, make_sink, virtual_time):
    webhook.script(Reply(429, headers={"Retry-After": "3"}), Reply(200))
    sink = make_sink(config(webhook, errors=RETRY_30S))

    result = sink.deliver([order(1), order(2)])

    assert result.written == 2
    assert virtual_time.sleeps == [3.0]
    assert [r.json["order"] for r in webhook.requests] == [1, 1, 2]


def test_a_retry_after_beyond_the_budget_gives_up_at_once_and_sends_nothing_more(webhook, make_sink, virtual_time):
    webhook.script(Reply(429, "slow down", headers={"Retry-After": "120"}))
    sink = make_sink(config(webhook, errors={"retry_timeout_ms": 5_000}))

    result = sink.deliver([order(1), order(2), order(3)])

    assert len(webhook.requests) == 1 and virtual_time.sleeps == []
    first = result.failures["m1"]
    assert first.error_type == "HttpRetryLaterError"
    assert "HTTP 429" in first.error_message and "retry after 120 s" in first.error_message
    assert {result.failures[i].error_type for i in ("m2", "m3")} == {"HttpNotSentError"}
    assert result.failures["m2"].attempts == 0


def test_a_persistent_5xx_is_retried_until_the_budget_runs_out_then_the_batch_stops(webhook, make_sink, virtual_time):
    webhook.responder = lambda request: Reply(502, "<html>bad gateway</html>")
    sink = make_sink(config(webhook, errors={"retry_timeout_ms": 10_000, "retry_max_delay_ms": 2_000}))

    result = sink.deliver([order(1), order(2)])

    assert result.written == 0
    attempts = len(webhook.requests)
    assert attempts > 3 and all(r.json["order"] == 1 for r in webhook.requests)  # order 2 was never sent
    assert sum(virtual_time.sleeps) == pytest.approx(10.0) and max(virtual_time.sleeps) <= 2.0
    failed = result.failures["m1"]
    assert (failed.error_type, failed.attempts) == ("HttpRetriableStatusError", attempts)
    assert "HTTP 502 Bad Gateway" in failed.error_message and "bad gateway" in failed.error_message
    assert result.failures["m2"].error_type == "HttpNotSentError"
    assert "an earlier request of this batch failed" in result.failures["m2"].error_message


def test_without_a_retry_budget_a_503_fails_the_record_for_redelivery(webhook, make_sink, virtual_time):
    webhook.script(Reply(503))
    sink = make_sink(config(webhook))  # errors.retry_timeout_ms defaults to 0

    result = sink.deliver([order(1)])

    assert len(webhook.requests) == 1 and virtual_time.sleeps == []
    assert result.failed_ids == ["m1"]


def test_statuses_outside_retry_on_status_are_not_retried(webhook, make_sink):
    webhook.script(Reply(503))
    sink = make_sink(config(webhook, retry_on_status=["429"], errors=RETRY_30S))

    result = sink.deliver([order(1), order(2)])

    assert result.failures["m1"].error_type == "HttpStatusError"
    assert result.written == 1 and len(webhook.requests) == 2


def test_a_400_fails_only_its_record_with_the_status_and_a_bounded_excerpt(webhook, make_sink):
    webhook.responder = lambda r: Reply(400, "invalid qty " + "!" * 5_000) if r.json.get("qty", 0) < 0 else Reply(200)
    sink = make_sink(config(webhook, errors=RETRY_30S, error_excerpt_chars=40))

    result = sink.deliver([order(1), order(2, qty=-1), order(3)])

    assert result.written == 2 and result.failed_ids == ["m2"]
    failed = result.failures["m2"]
    assert failed.error_type == "HttpStatusError" and failed.attempts == 1
    assert failed.error_message == f"HTTP 400 Bad Request from POST {webhook.url}/hooks/orders: invalid qty " \
                                   + "!" * 28 + "…"
    assert len(webhook.requests) == 3  # not retried


def test_a_rejected_array_is_resent_one_record_at_a_time_so_only_the_bad_record_fails(webhook, make_sink):
    def judge(request):
        items = request.json
        return Reply(422, "qty must be positive") if any(i.get("qty", 0) < 0 for i in items) else Reply(200)

    webhook.responder = judge
    sink = make_sink(config(webhook, batch_max_records=10))

    result = sink.deliver([order(1), order(2, qty=-1), order(3)])

    assert result.written == 2 and result.failed_ids == ["m2"]
    assert result.failures["m2"].error_message.startswith("HTTP 422")
    assert [[i["order"] for i in r.json] for r in webhook.requests] == [[1, 2, 3], [1], [2], [3]]


def test_a_redirect_is_not_followed_and_says_where_it_points(webhook, make_sink):
    webhook.script(Reply(308, headers={"Location": "https://new.example.com/hooks"}))

    result = make_sink(config(webhook)).deliver([order(1)])

    assert "redirects are not followed; set url to 'https://new.example.com/hooks'" in \
        result.failures["m1"].error_message


def test_connection_refused_is_retried_within_the_budget(make_sink, virtual_time):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    sink = make_sink({"name": "down", "connector": "http-sink", "url": f"http://127.0.0.1:{port}/in",
                      "errors": {"retry_timeout_ms": 5_000, "retry_max_delay_ms": 1_000}})

    result = sink.deliver([order(1), order(2)])

    failed = result.failures["m1"]
    assert failed.error_type == "HttpConnectionError" and "ConnectionRefusedError" in failed.error_message
    assert failed.attempts == len(virtual_time.sleeps) + 1 > 1
    assert result.failures["m2"].error_type == "HttpNotSentError"


def test_a_server_that_does_not_answer_in_time_is_retried(webhook, make_sink):
    webhook.script(Reply(hang=True), Reply(200))
    sink = make_sink(config(webhook, read_timeout_ms=200, errors=RETRY_30S))

    result = sink.deliver([order(1)])

    assert result.written == 1
    assert len(webhook.requests) == 2 and len(webhook.connections) == 2  # the timed-out connection was dropped
    assert webhook.requests[0].headers["Idempotency-Key"] == webhook.requests[1].headers["Idempotency-Key"]


def test_a_timeout_without_retry_budget_names_the_timeouts(webhook, make_sink):
    webhook.script(Reply(hang=True))

    result = make_sink(config(webhook, read_timeout_ms=200)).deliver([order(1)])

    assert "timed out (connect_timeout_ms 5000, read_timeout_ms 200)" in result.failures["m1"].error_message


def test_a_kept_alive_connection_the_server_closed_is_reopened_without_a_retry(webhook, make_sink, virtual_time):
    webhook.script(Reply(200, drop_connection=True))
    sink = make_sink(config(webhook))  # no retry budget: the reconnect is not a retry

    result = sink.deliver([order(1), order(2), order(3)])

    assert result.written == 3 and virtual_time.sleeps == []
    assert [r.json["order"] for r in webhook.requests] == [1, 2, 3]
    assert len(webhook.connections) == 2


def test_no_request_starts_when_the_invocation_is_about_to_end(webhook, make_sink):
    sink = make_sink(config(webhook), remaining_ms=lambda: 5_000)  # less than connect + read timeouts

    result = sink.deliver([order(1), order(2)])

    assert webhook.requests == []
    assert {d.error_type for d in result.failures.values()} == {"HttpNotSentError"}
    assert "the invocation has 5000 ms left" in result.failures["m1"].error_message


def test_retrying_forever_still_stops_before_the_invocation_ends(webhook, make_sink, virtual_time):
    webhook.responder = lambda request: Reply(503)
    sink = make_sink(config(webhook, errors={"retry_timeout_ms": -1, "retry_max_delay_ms": 1_000}),
                     remaining_ms=lambda: 20_000)

    result = sink.deliver([order(1)])

    # 20 s left, minus one request's timeouts (5 s + 10 s) and a 1 s margin: 4 s of retries
    assert result.failed_ids == ["m1"] and sum(virtual_time.sleeps) == pytest.approx(4.0)


def test_a_record_the_url_cannot_address_fails_alone(webhook, make_sink):
    sink = make_sink(config(webhook, url=f"{webhook.url}/items/${{key}}", method="PUT"))
    keyless = order(2)
    keyless.key = None

    result = sink.deliver([order(1), keyless, order(3)])

    assert result.written == 2 and result.failed_ids == ["m2"]
    assert result.failures["m2"].error_message == "url needs ${key} but the record has no key"


# -- the auth secret ----------------------------------------------------------------------------------

def test_a_401_after_rotation_re_reads_the_secret_and_retries_once(webhook, make_sink, token_secret):
    sink = make_sink(config(webhook, auth_secret=token_secret["ref"], auth_prefix="Bearer "))
    aws.client("secretsmanager").put_secret_value(SecretId=token_secret["arn"],
                                                  SecretString=json.dumps({"token": "rotated"}))
    webhook.script(Reply(401, "expired token"))

    result = sink.deliver([order(1), order(2)])

    assert result.written == 2
    assert [r.headers["Authorization"] for r in webhook.requests] == [
        f"Bearer {token_secret['token']}", "Bearer rotated", "Bearer rotated"]


def test_a_401_with_an_unchanged_secret_fails_the_record(webhook, make_sink, token_secret):
    webhook.script(Reply(401, "no"))
    sink = make_sink(config(webhook, auth_secret=token_secret["ref"]))

    result = sink.deliver([order(1)])

    assert result.failures["m1"].error_message.startswith("HTTP 401 Unauthorized") and len(webhook.requests) == 1


def test_the_secret_never_reaches_errors_or_logs(webhook, make_sink, token_secret, caplog):
    caplog.set_level(logging.DEBUG, logger="connect_core")
    webhook.responder = lambda r: Reply(400, f"bad request, you sent Authorization: {r.headers['Authorization']}")
    webhook.script(Reply(503, f"sorry {token_secret['token']}"))
    sink = make_sink(config(webhook, auth_secret=token_secret["ref"], auth_prefix="Bearer ", errors=RETRY_30S))

    result = sink.deliver([order(1)])

    message = result.failures["m1"].error_message
    assert token_secret["token"] not in message and "you sent Authorization: ***" in message
    ours = [r for r in caplog.records if r.name.startswith("connect_core")]
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert "HTTP 503" in logged and "sorry ***" in logged  # the retry was logged, its excerpt masked
    assert token_secret["token"] not in logged


def test_a_secret_that_cannot_be_read_stops_the_task_from_starting(webhook, make_sink, fresh_secrets):
    from connect_core.connectors.http import HttpSecretError

    ref = "arn:aws:secretsmanager:us-east-1:123456789012:secret:does-not-exist-AbCdEf#token"
    with pytest.raises(HttpSecretError) as info:
        make_sink(config(webhook, auth_secret=ref))
    assert "cannot read auth_secret" in str(info.value) and "does-not-exist" in str(info.value)
