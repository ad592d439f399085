"""connectctl against the real admin API: template.yaml deployed by the local runtime on the
session's embedded AWS endpoint, the API served over HTTP on 127.0.0.1.

The runtime's clock is virtual and nothing runs in the background: a source task polls only when
a test invokes its tick, so what the CLI shows does not depend on timing.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from cli_helpers import Run, run_cli
from connect_core import aws, testing

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2030, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def admin(embedded_aws) -> Iterator[Any]:
    from connect_core.admin.local import local_admin
    from connect_core.local.clock import VirtualClock

    with local_admin(ROOT / "template.yaml", {"DeployDemo": "false"}, port=0, endpoint=embedded_aws,
                     clock=VirtualClock(START), background=False,
                     stack_name=f"cli{uuid.uuid4().hex[:8]}") as running:
        yield running


@pytest.fixture
def ctl(admin) -> Callable[..., Run]:
    def run(*argv: str) -> Run:
        return run_cli("--url", admin.url, *argv, capture_argparse=False)

    return run


@pytest.fixture
def name() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def queue() -> Iterator[str]:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"cli-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


def datagen_file(tmp_path: Path, name: str, queue: str, **options: Any) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"name": name, "connector": "datagen-source", "records": 5, "partitions": 2,
                                "target": {"type": "sqs", "queue_url": queue}, **options}))
    return str(path)


def tick(admin: Any, name: str, task: int = 0) -> dict[str, Any]:
    """One tick of a source task, as its schedule would start it."""
    return admin.runtime.invoke("SourcePollerFunction", {"connector": name, "task": task})


def drained(queue: str) -> dict[int, list[int]]:
    """Sequence numbers by partition of every message now in the queue (which is emptied)."""
    out: dict[int, list[int]] = {}
    for message in testing.drain(queue):
        value = json.loads(message["Body"])
        out.setdefault(value["partition"], []).append(value["seq"])
    return {p: sorted(s) for p, s in sorted(out.items())}


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


def partition(name: str, number: int) -> str:
    return json.dumps({"datagen": name, "partition": number})


def test_create_from_a_file_then_list_get_and_status(ctl, admin, name, queue, tmp_path):
    created = ctl("connectors", "create", "-f", datagen_file(tmp_path, name, queue))
    assert (created.code, created.out.strip()) == (0, f"Created connector {name} (source, datagen-source)."), \
        created.err

    listed = rows(ctl("connectors", "list").out)
    assert listed[0] == ["NAME", "TYPE", "STATE", "TASKS", "CONNECTOR"]
    assert [name, "source", "RUNNING", "1", "UNASSIGNED", "datagen-source"] in listed

    config = ctl("connectors", "get", name, "-o", "json").json()["config"]
    assert (config["records"], config["target"]["queue_url"]) == (5, queue)
    assert ["records", "5"] in rows(ctl("connectors", "get", name).out)

    assert tick(admin, name)["records"] == 10
    status = rows(ctl("connectors", "status", name).out)
    assert status[1][:3] == [name, "source", "RUNNING"]
    assert status[2] == ["TASK", "STATE", "MSGS_BEHIND", "SECONDS_BEHIND", "WORKER", "TRACE"]
    assert status[3][:3] == ["0", "RUNNING", "0"]  # the tick measured its lag: nothing left to read


def test_output_json_is_the_apis_answer(ctl, admin, name, queue, tmp_path):
    ctl("connectors", "create", "-f", datagen_file(tmp_path, name, queue))
    status = ctl("connectors", "status", name, "-o", "json").json()
    assert status["name"] == name and status["type"] == "source"
    assert status["connector"]["state"] == "RUNNING"
    assert [task["id"] for task in status["tasks"]] == [0]

    listed = ctl("-o", "json", "connectors", "list").json()
    assert listed[name]["status"] == status
    assert listed[name]["info"]["config"]["name"] == name


def test_pause_resume_and_stop(ctl, admin, name, queue, tmp_path):
    ctl("connectors", "create", "-f", datagen_file(tmp_path, name, queue))
    tick(admin, name)

    def states() -> list[str]:
        body = ctl("connectors", "status", name, "-o", "json").json()
        return [body["connector"]["state"]] + [task["state"] for task in body["tasks"]]

    assert ctl("connectors", "pause", name).out.strip() == f"Pausing connector {name}."
    assert states() == ["PAUSED", "PAUSED"]
    assert ctl("connectors", "resume", name).code == 0
    assert states() == ["RUNNING", "RUNNING"]
    assert ctl("connectors", "stop", name).code == 0
    assert states() == ["STOPPED"]
    assert ctl("connectors", "status", name).out.rstrip().endswith("no tasks")


def test_offsets_get_alter_and_reset_while_stopped(ctl, admin, name, queue, tmp_path):
    ctl("connectors", "create", "-f", datagen_file(tmp_path, name, queue))
    tick(admin, name)
    assert drained(queue) == {0: [0, 1, 2, 3, 4], 1: [0, 1, 2, 3, 4]}
    assert rows(ctl("offsets", "get", name).out)[1:] == [
        [partition(name, 0).replace(" ", ""), '{"seq":4}'], [partition(name, 1).replace(" ", ""), '{"seq":4}']]

    # GIVEN a running connector, WHEN its offsets are altered, THEN the API refuses and says why
    refused = ctl("offsets", "alter", name, "--partition", partition(name, 0), "--offset", '{"seq": 1}')
    assert refused.code == 1 and refused.out == ""
    assert "must be in the STOPPED state" in refused.err and "(HTTP 409)" in refused.err

    assert ctl("connectors", "stop", name).code == 0
    altered = ctl("offsets", "alter", name, "--partition", partition(name, 0), "--offset", '{"seq": 1}')
    assert (altered.code, altered.out.strip()) == (0, "The offsets for this connector have been altered successfully")
    assert ctl("offsets", "get", name, "-o", "json").json()["offsets"] == [
        {"partition": json.loads(partition(name, 0)), "offset": {"seq": 1}},
        {"partition": json.loads(partition(name, 1)), "offset": {"seq": 4}}]

    # a file written by `offsets get -o json`, edited, goes back with `offsets alter -f`
    saved = ctl("offsets", "get", name, "-o", "json").json()
    saved["offsets"][1]["offset"] = {"seq": 2}
    path = tmp_path / "offsets.json"
    path.write_text(json.dumps(saved))
    assert ctl("offsets", "alter", name, "-f", str(path)).code == 0

    ctl("connectors", "resume", name)
    tick(admin, name)
    assert drained(queue) == {0: [2, 3, 4], 1: [3, 4]}  # resumed after the altered offsets

    ctl("connectors", "stop", name)
    reset_one = ctl("offsets", "reset", name, "--partition", partition(name, 1))
    assert reset_one.code == 0
    assert [o["partition"]["partition"] for o in ctl("offsets", "get", name, "-o", "json").json()["offsets"]] == [0]
    reset_all = ctl("offsets", "reset", name)
    assert (reset_all.code, reset_all.out.strip()) == (0, "The offsets for this connector have been reset successfully")
    empty = ctl("offsets", "get", name)
    assert (empty.code, empty.out, empty.err.strip()) == (0, "", f"connector {name} has no committed offsets")

    ctl("connectors", "resume", name)
    tick(admin, name)
    assert drained(queue) == {0: [0, 1, 2, 3, 4], 1: [0, 1, 2, 3, 4]}  # reset: from the start


def test_restart_the_connector_its_tasks_or_one_task(ctl, admin, name, queue, tmp_path):
    ctl("connectors", "create", "-f", datagen_file(tmp_path, name, queue))
    tick(admin, name)

    restarted = ctl("connectors", "restart", name, "--include-tasks")
    assert restarted.code == 0, restarted.err
    assert restarted.out.startswith(f"Restarting connector {name} and its tasks.")
    assert ["CONNECTOR", "TYPE", "STATE", "WORKER", "TRACE"] in rows(restarted.out)

    one = ctl("connectors", "restart", name, "--task", "0")
    assert (one.code, one.out.strip()) == (0, f"Restarted task 0 of connector {name}.")
    missing = ctl("connectors", "restart", name, "--task", "7")
    assert missing.code == 1 and "(HTTP 404)" in missing.err


def test_update_replaces_the_config(ctl, admin, name, queue, tmp_path):
    ctl("connectors", "create", "-f", datagen_file(tmp_path, name, queue))
    updated = ctl("connectors", "update", name, "-f", datagen_file(tmp_path, name, queue, records=7))
    assert (updated.code, updated.out.strip()) == (0, f"Updated connector {name} (source, datagen-source)."), \
        updated.err
    assert ctl("connectors", "get", name, "-o", "json").json()["config"]["records"] == 7


def test_delete_then_the_connector_is_gone(ctl, admin, name, queue, tmp_path):
    ctl("connectors", "create", "-f", datagen_file(tmp_path, name, queue))
    deleted = ctl("connectors", "delete", name)
    assert (deleted.code, deleted.out.strip()) == (0, f"Deleted connector {name}.")

    gone = ctl("connectors", "get", name)
    assert (gone.code, gone.out) == (1, "")
    assert gone.err.strip() == f"connectctl: Connector {name} not found (HTTP 404)"
    assert name not in ctl("connectors", "list", "-o", "json").json()


def test_validate_reports_every_field_error_and_exits_1(ctl, name, queue, tmp_path):
    bad = datagen_file(tmp_path, name, queue, max_tasks=0, bogus=1)

    result = ctl("validate", "-f", bad)

    assert (result.code, result.out) == (1, "")
    assert f"config of {name} is invalid (2 errors)" in result.err
    assert "  max_tasks: " in result.err
    assert "  bogus: unknown option" in result.err

    as_json = ctl("validate", "-f", bad, "-o", "json")
    assert as_json.code == 1 and as_json.json()["error_count"] == 2

    valid = ctl("validate", "-f", datagen_file(tmp_path, name, queue))
    assert (valid.code, valid.out.strip()) == (0, f"Config of {name} is valid (connector datagen-source).")


def test_creating_an_invalid_connector_prints_the_apis_message(ctl, name, queue, tmp_path):
    result = ctl("connectors", "create", "-f", datagen_file(tmp_path, name, queue, max_tasks=0))
    assert result.code == 1
    assert "Connector configuration is invalid" in result.err and "(HTTP 400)" in result.err
    assert "max_tasks: " in result.err
    assert name not in ctl("connectors", "list", "-o", "json").json()


def test_plugins(ctl):
    plugins = rows(ctl("plugins").out)
    assert plugins[0] == ["CLASS", "TYPE", "VERSION"]
    assert {(row[0], row[1]) for row in plugins[1:]} >= {("datagen-source", "source"), ("file-sink", "sink")}
    assert all(row[1] in ("source", "sink") for row in plugins[1:])
    everything = ctl("plugins", "--all", "-o", "json").json()
    assert {"class": "InsertField", "type": "transformation"}.items() <= \
        next(p for p in everything if p["class"] == "InsertField").items()


def test_plugin_config_keys(ctl):
    keys = {row[0]: row for row in rows(ctl("plugins", "datagen-source").out)[1:]}
    assert keys["name"][1:3] == ["STRING", "yes"]
    assert keys["max_tasks"][1:4] == ["INT", "no", "1"]
    unknown = ctl("plugins", "no-such-plugin")
    assert unknown.code == 1 and "(HTTP 404)" in unknown.err


def test_local_up_serves_the_api_until_interrupted_and_keeps_state_in_the_state_dir(tmp_path):
    """`connectctl local up` in a process of its own (with its own embedded endpoint), on a free port."""
    state_dir = tmp_path / "state"
    connector = tmp_path / "kept.json"
    connector.write_text(json.dumps({"name": "kept", "connector": "datagen-source", "records": 1}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "MOTO_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "connect_core.cli", "local", "up", "--port", "0", "--template",
         str(ROOT / "template.yaml"), "--parameter", "DeployDemo=false", "--state-dir", str(state_dir)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = []
        assert process.stdout is not None
        for line in process.stdout:  # blocks until the API is up (or the process ended)
            seen.append(line)
            found = re.search(r"admin API .* on (http://127\.0\.0\.1:\d+)", line)
            if found:
                break
        else:
            process.wait(timeout=60)
            raise AssertionError(f"local up ended with {process.returncode}:\n{''.join(seen)}")
        url = found.group(1)

        created = run_cli("--url", url, "connectors", "create", "-f", str(connector))
        assert created.code == 0, created.err
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=120)

        assert process.returncode == 0 and "stopped" in out, out[-3000:]
        assert (state_dir / "functions.log").exists()
        assert '"kept"' in (state_dir / "dynamodb" / "ConfigsTable.json").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
