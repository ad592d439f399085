"""The API over HTTP on loopback (``AdminServer``) and ``connectctl local up``'s ``run``."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from admin_helpers import ROOT
from connect_core.admin.server import AdminServer

pytestmark = pytest.mark.integration

_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _direct.open(request, timeout=60) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_a_server_on_a_free_port_answers_in_json_and_frees_the_port(stack):
    with AdminServer(stack.api, port=0) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url) and server.port != 0
        status, headers, body = http("GET", server.url + "/connectors/?expand=status")
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert int(headers["Content-Length"]) == len(body)
        assert json.loads(body)["demo-source"]["status"]["name"] == "demo-source"

        status, _, body = http("PUT", server.url + "/connector-plugins/file-sink/config/validate",
                               json.dumps({"name": "f"}).encode(), {"Content-Type": "application/json"})
        assert status == 200 and json.loads(body)["error_count"] == 1  # path is required

        status, headers, body = http("TRACE", server.url + "/connectors")
        assert status == 405 and headers["Allow"] == "GET, POST" and json.loads(body)["error_code"] == 405
        status, _, _ = http("DELETE", server.url + "/connectors/nope")
        assert status == 404
        port = server.port

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_the_local_admin_server_is_up_with_the_stack(stack):
    status, _, body = http("GET", stack.url + "/")
    assert status == 200 and json.loads(body)["kafka_cluster_id"] == stack.runtime.stack_name


def test_run_serves_a_local_stack_until_sigterm_then_stops_and_keeps_the_tables(tmp_path):
    """`connectctl local up` in a process of its own, with its own embedded endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL") and k != "MOTO_PORT"}
    code = ("import sys; from connect_core.admin.local import run; "
            "run(0, sys.argv[1], {'DemoRecords': 3, 'DemoOutputPath': sys.argv[2]}, sys.argv[3])")
    state = tmp_path / "state"
    process = subprocess.Popen([sys.executable, "-c", code, str(ROOT / "template.yaml"), str(tmp_path / "out.jsonl"),
                                str(state)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        url = None
        assert process.stdout is not None
        for line in process.stdout:
            found = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
            if found:
                url = found.group(1)
                break
        assert url, process.stderr.read() if process.stderr else ""
        status, _, body = http("GET", url + "/connectors")
        assert status == 200 and set(json.loads(body)) == {"demo-sink", "demo-source"}
        status, _, _ = http("PUT", url + "/connectors/demo-source/pause")
        assert status == 202

        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=120)

        assert process.returncode == 0, err[-3000:]
        assert out.strip().endswith("stopped")
        saved = json.loads((state / "dynamodb" / "ConfigsTable.json").read_text())
        assert "PAUSED" in json.dumps(saved)  # what the API changed is in the saved tables
        assert (state / "functions.log").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
