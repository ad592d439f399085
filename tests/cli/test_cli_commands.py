"""Each command against the stub API: the request it sends, what it prints, its exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import run_cli

STATUS = {"name": "orders", "type": "source",
          "connector": {"state": "RUNNING", "worker_id": "source-poller"},
          "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "source-poller"},
                    {"id": 1, "state": "FAILED", "worker_id": "source-poller",
                     "trace": "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: bad row 7"}]}
INFO = {"name": "orders", "type": "source",
        "config": {"name": "orders", "connector": "datagen-source", "max_tasks": 2,
                   "transforms": [{"type": "InsertField", "static_field": "region", "static_value": "eu"}]},
        "tasks": [{"connector": "orders", "task": 0}, {"connector": "orders", "task": 1}]}


def write(tmp_path: Path, document: object, name: str = "connector.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


# --- connectors list / get ---------------------------------------------------------------------

def test_list_asks_for_status_and_info_and_prints_an_aligned_table(stub_api, cli):
    sink_status = {"name": "files", "type": "sink", "connector": {"state": "PAUSED", "worker_id": "w"},
                   "tasks": [{"id": 0, "state": "PAUSED", "worker_id": "w"}]}
    stub_api.on("GET", "/connectors", body={
        "orders": {"status": STATUS, "info": INFO},
        "files": {"status": sink_status, "info": {"name": "files", "type": "sink", "tasks": [],
                                                  "config": {"connector": "file-sink"}}}})

    result = cli("connectors", "list")

    assert result.code == 0, result.err
    assert stub_api.last.query == "expand=status&expand=info"
    lines = result.out.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "STATE", "TASKS", "CONNECTOR"]
    assert lines[1].split() == ["files", "sink", "PAUSED", "1", "PAUSED", "file-sink"]
    assert lines[2].split() == ["orders", "source", "RUNNING", "1", "FAILED,", "1", "RUNNING", "datagen-source"]
    # aligned: every column starts at the same offset in every line
    assert {line.index(word) for line, word in zip(lines, ["TYPE", "sink", "source"])} == {lines[0].index("TYPE")}


def test_list_with_no_connectors_says_so_on_stderr(stub_api, cli):
    stub_api.on("GET", "/connectors", body={})
    result = cli("connectors", "list")
    assert (result.code, result.out, result.err.strip()) == (0, "", "no connectors")


def test_list_of_plain_names_is_a_one_column_table(stub_api, cli):
    stub_api.on("GET", "/connectors", body=["b", "a"])
    assert cli("connectors", "list").out.split() == ["NAME", "a", "b"]


def test_get_prints_the_config_as_field_paths(stub_api, cli):
    stub_api.on("GET", "/connectors/orders", body=INFO)
    result = cli("connectors", "get", "orders")
    assert result.code == 0
    rows = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in result.out.splitlines() if line.strip()}
    assert rows["Tasks"] == "0, 1"
    assert rows["max_tasks"] == "2"
    assert rows["transforms[0].static_field"] == "region"


def test_output_json_prints_the_api_answer_unchanged_wherever_the_option_is(stub_api, cli):
    stub_api.on("GET", "/connectors/orders", body=INFO)
    assert cli("-o", "json", "connectors", "get", "orders").json() == INFO
    assert cli("connectors", "get", "orders", "--output", "json").json() == INFO


# --- create / update ---------------------------------------------------------------------------

def test_create_from_a_bare_config_posts_kafkas_shape(stub_api, cli, tmp_path):
    stub_api.on("POST", "/connectors", 201, INFO)
    config = {"name": "orders", "connector": "datagen-source", "max_tasks": 2}

    result = cli("connectors", "create", "-f", write(tmp_path, config))

    assert result.code == 0, result.err
    assert stub_api.last.json() == {"name": "orders", "config": config}
    assert stub_api.last.headers["content-type"] == "application/json"
    assert result.out.strip() == "Created connector orders (source, datagen-source)."


def test_create_from_kafkas_shape_fills_in_the_name_of_the_config(stub_api, cli, tmp_path):
    stub_api.on("POST", "/connectors", 201, INFO)
    result = cli("connectors", "create", "-f", write(tmp_path, {"name": "orders", "config": {"connector": "x"}}))
    assert result.code == 0
    assert stub_api.last.json() == {"name": "orders", "config": {"connector": "x", "name": "orders"}}


def test_create_reads_stdin(stub_api, monkeypatch):
    stub_api.on("POST", "/connectors", 201, INFO)
    result = run_cli("--url", stub_api.url, "connectors", "create", "-f", "-",
                     stdin='{"name": "orders", "connector": "datagen-source"}', monkeypatch=monkeypatch)
    assert result.code == 0, result.err
    assert stub_api.last.json()["name"] == "orders"


def test_update_says_created_or_updated_from_the_status_code(stub_api, cli, tmp_path):
    path = write(tmp_path, {"connector": "datagen-source", "max_tasks": 3})
    stub_api.on("PUT", "/connectors/orders/config", 201, INFO)
    created = cli("connectors", "update", "orders", "-f", path)
    stub_api.on("PUT", "/connectors/orders/config", 200, INFO)
    updated = cli("connectors", "update", "orders", "-f", path)

    assert created.out.startswith("Created connector orders")
    assert updated.out.startswith("Updated connector orders")
    assert stub_api.last.json() == {"connector": "datagen-source", "max_tasks": 3, "name": "orders"}


def test_get_output_round_trips_into_update(stub_api, cli, tmp_path):
    stub_api.on("GET", "/connectors/orders", body=INFO)
    stub_api.on("PUT", "/connectors/orders/config", 200, INFO)
    path = tmp_path / "orders.json"
    path.write_text(cli("connectors", "get", "orders", "-o", "json").out)

    assert cli("connectors", "update", "-f", str(path)).code == 0
    assert stub_api.last.json() == INFO["config"]


@pytest.mark.parametrize(("argv", "document", "message"), [
    (["connectors", "create"], {"connector": "x"}, "no connector name"),
    (["connectors", "update", "other"], {"name": "orders", "connector": "x"}, "configures connector 'orders', not 'other'"),
    (["connectors", "create"], ["not", "an", "object"], "holds a JSON object, not a list"),
    (["connectors", "create"], {"name": "a", "config": {"name": "b"}}, "'name' is 'a' but 'config.name' is 'b'"),
    (["validate"], {"name": "a"}, "no 'connector' in the config"),
])
def test_bad_files_are_usage_errors_and_send_nothing(stub_api, cli, tmp_path, argv, document, message):
    result = cli(*argv, "-f", write(tmp_path, document))
    assert result.code == 2
    assert message in result.err
    assert stub_api.received == []


def test_a_file_that_is_not_json_names_the_line(stub_api, cli, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "name": "a",\n  oops\n}')
    result = cli("connectors", "create", "-f", str(path))
    assert result.code == 2
    assert f"{path} is not valid JSON" in result.err and "line 3" in result.err


def test_a_missing_file_is_a_usage_error(cli, tmp_path):
    result = cli("connectors", "create", "-f", str(tmp_path / "nope.json"))
    assert result.code == 2 and "cannot read" in result.err


# --- status, tasks, lifecycle ------------------------------------------------------------------

def test_status_shows_the_connector_and_each_task_with_the_failure_line(stub_api, cli):
    stub_api.on("GET", "/connectors/orders/status", body=STATUS)
    result = cli("connectors", "status", "orders")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["CONNECTOR", "TYPE", "STATE", "WORKER", "TRACE"]
    assert lines[1].split() == ["orders", "source", "RUNNING", "source-poller", "-"]
    task_rows = [line.split(None, 3) for line in lines[lines.index("") + 2:]]
    assert task_rows == [["0", "RUNNING", "source-poller", "-"],
                         ["1", "FAILED", "source-poller", "ValueError: bad row 7"]]
    assert "File \"x.py\"" not in result.out


def test_status_trace_prints_traces_in_full(stub_api, cli):
    stub_api.on("GET", "/connectors/orders/status", body=STATUS)
    result = cli("connectors", "status", "orders", "--trace")
    assert "task 1 trace:\nTraceback (most recent call last):\n  File \"x.py\", line 1" in result.out


def test_status_of_one_task(stub_api, cli):
    stub_api.on("GET", "/connectors/orders/tasks/1/status", body=STATUS["tasks"][1])
    result = cli("connectors", "status", "orders", "--task", "1")
    assert result.code == 0
    assert result.out.splitlines()[1].split(None, 3) == ["1", "FAILED", "source-poller", "ValueError: bad row 7"]


def test_tasks_lists_task_configs(stub_api, cli):
    stub_api.on("GET", "/connectors/orders/tasks", body=[
        {"id": {"connector": "orders", "task": 0}, "config": {"partitions": [0, 1]}}])
    result = cli("connectors", "tasks", "orders")
    assert result.out.splitlines()[1].split() == ["0", '{"partitions":[0,1]}']


@pytest.mark.parametrize(("action", "verb"), [("pause", "Pausing"), ("resume", "Resuming"), ("stop", "Stopping")])
def test_pause_resume_stop_put_to_their_paths(stub_api, cli, action, verb):
    stub_api.on("PUT", f"/connectors/orders/{action}", 202)
    result = cli("connectors", action, "orders")
    assert (result.code, result.out.strip()) == (0, f"{verb} connector orders.")
    assert (stub_api.last.method, stub_api.last.path, stub_api.last.body) == ("PUT", f"/connectors/orders/{action}", b"")


def test_restart_passes_its_flags_and_prints_the_status_it_gets_back(stub_api, cli):
    stub_api.on("POST", "/connectors/orders/restart", 202, STATUS)
    result = cli("connectors", "restart", "orders", "--include-tasks", "--only-failed")
    assert result.code == 0
    assert stub_api.last.query == "includeTasks=true&onlyFailed=true"
    assert result.out.startswith("Restarting connector orders and its tasks (only failed instances).")
    assert "ValueError: bad row 7" in result.out


def test_restart_without_flags_restarts_the_connector_only(stub_api, cli):
    stub_api.on("POST", "/connectors/orders/restart", 204)
    result = cli("connectors", "restart", "orders")
    assert stub_api.last.query == "includeTasks=false&onlyFailed=false"
    assert result.out.strip() == "Restarting connector orders."


def test_restart_one_task(stub_api, cli):
    stub_api.on("POST", "/connectors/orders/tasks/1/restart", 204)
    result = cli("connectors", "restart", "orders", "--task", "1")
    assert (result.code, result.out.strip()) == (0, "Restarted task 1 of connector orders.")


def test_restart_one_task_does_not_combine_with_include_tasks(stub_api, cli):
    result = cli("connectors", "restart", "orders", "--task", "1", "--include-tasks")
    assert result.code == 2 and stub_api.received == []


def test_delete(stub_api, cli):
    stub_api.on("DELETE", "/connectors/orders", 204)
    result = cli("connectors", "delete", "orders")
    assert (result.code, result.out.strip()) == (0, "Deleted connector orders.")
    assert stub_api.last.method == "DELETE"


def test_an_empty_answer_prints_nothing_in_json_mode(stub_api, cli):
    stub_api.on("DELETE", "/connectors/orders", 204)
    result = cli("connectors", "delete", "orders", "-o", "json")
    assert (result.code, result.out) == (0, "")


def test_names_are_quoted_into_the_path(stub_api, cli):
    stub_api.on("GET", "/connectors/a%2Fb%20c/status", body=STATUS)
    assert cli("connectors", "status", "a/b c").code == 0


# --- offsets -----------------------------------------------------------------------------------

OFFSETS = {"offsets": [{"partition": {"shard": 1}, "offset": {"position": 9}},
                       {"partition": {"shard": 0}, "offset": {"position": 42}}]}


def test_offsets_get_prints_partitions_in_order(stub_api, cli):
    stub_api.on("GET", "/connectors/orders/offsets", body=OFFSETS)
    result = cli("offsets", "get", "orders")
    assert result.out.split() == ["PARTITION", "OFFSET", '{"shard":0}', '{"position":42}',
                                  '{"shard":1}', '{"position":9}']


def test_offsets_get_with_none_committed(stub_api, cli):
    stub_api.on("GET", "/connectors/orders/offsets", body={"offsets": []})
    result = cli("offsets", "get", "orders")
    assert (result.code, result.out) == (0, "")
    assert "no committed offsets" in result.err


def test_offsets_alter_from_a_file_round_trips_offsets_get(stub_api, cli, tmp_path):
    stub_api.on("GET", "/connectors/orders/offsets", body=OFFSETS)
    stub_api.on("PATCH", "/connectors/orders/offsets", 200, {"message": "The offsets have been altered"})
    path = tmp_path / "offsets.json"
    path.write_text(cli("offsets", "get", "orders", "-o", "json").out)

    result = cli("offsets", "alter", "orders", "-f", str(path))

    assert (result.code, result.out.strip()) == (0, "The offsets have been altered")
    assert stub_api.last.json() == OFFSETS


def test_offsets_alter_one_partition_from_options(stub_api, cli):
    stub_api.on("PATCH", "/connectors/orders/offsets", 200, {"message": "ok"})
    result = cli("offsets", "alter", "orders", "--partition", '{"shard": 0}', "--offset", '{"position": 5}')
    assert result.code == 0
    assert stub_api.last.json() == {"offsets": [{"partition": {"shard": 0}, "offset": {"position": 5}}]}


@pytest.mark.parametrize(("argv", "message"), [
    (["--partition", "{bad", "--offset", "{}"], "--partition: not valid JSON"),
    (["--partition", '{"shard": 0}'], "together with --offset"),
    (["--partition", "[0]", "--offset", "{}"], "needs a 'partition' object"),
    (["--partition", "{}", "--offset", "7"], "needs an 'offset' object"),
])
def test_offsets_alter_checks_its_options(stub_api, cli, argv, message):
    result = cli("offsets", "alter", "orders", *argv)
    assert result.code == 2 and message in result.err
    assert stub_api.received == []


def test_offsets_reset_deletes_all(stub_api, cli):
    stub_api.on("DELETE", "/connectors/orders/offsets", 200, {"message": "The offsets have been reset"})
    result = cli("offsets", "reset", "orders")
    assert (result.code, result.out.strip()) == (0, "The offsets have been reset")


def test_offsets_reset_of_some_partitions_patches_them_with_null(stub_api, cli):
    stub_api.on("PATCH", "/connectors/orders/offsets", 200, {"message": "ok"})
    cli("offsets", "reset", "orders", "--partition", '{"shard": 0}', "--partition", '{"shard": 1}')
    assert stub_api.last.json() == {"offsets": [{"partition": {"shard": 0}, "offset": None},
                                                {"partition": {"shard": 1}, "offset": None}]}


# --- plugins, validate, info -------------------------------------------------------------------

def test_plugins_table(stub_api, cli):
    stub_api.on("GET", "/connector-plugins", body=[
        {"class": "datagen-source", "type": "source", "version": "0.1.0"},
        {"class": "file-sink", "type": "sink", "version": "0.1.0"}])
    assert [line.split() for line in cli("plugins").out.splitlines()] == [
        ["CLASS", "TYPE", "VERSION"], ["datagen-source", "source", "0.1.0"], ["file-sink", "sink", "0.1.0"]]
    assert stub_api.last.query == ""
    cli("plugins", "--all")
    assert stub_api.last.query == "connectorsOnly=false"


def test_plugin_config_keys(stub_api, cli):
    stub_api.on("GET", "/connector-plugins/datagen-source/config", body=[
        {"name": "name", "type": "STRING", "required": True, "default_value": None, "importance": "HIGH",
         "documentation": "Unique connector name.", "group": "Common", "width": "MEDIUM",
         "display_name": "name", "dependents": [], "order": 1},
        {"name": "max_tasks", "type": "INT", "required": False, "default_value": "1", "importance": "HIGH",
         "documentation": "Upper bound on the number of tasks.", "group": "Common", "width": "SHORT",
         "display_name": "max_tasks", "dependents": [], "order": 3}])
    result = cli("plugins", "datagen-source")
    assert [line.split(None, 4) for line in result.out.splitlines()] == [
        ["KEY", "TYPE", "REQUIRED", "DEFAULT", "DOCUMENTATION"],
        ["name", "STRING", "yes", "-", "Unique connector name."],
        ["max_tasks", "INT", "no", "1", "Upper bound on the number of tasks."]]
    assert cli("plugins", "datagen-source", "--all").code == 2


VALIDATION_FAILED = {
    "name": "datagen-source", "error_count": 2, "groups": ["Common"],
    "configs": [
        {"definition": {"name": "max_tasks"}, "value": {"name": "max_tasks", "value": "0", "errors": [
            "Input should be greater than or equal to 1"], "visible": True}},
        {"definition": {"name": "name"}, "value": {"name": "name", "value": "orders", "errors": [], "visible": True}},
        {"definition": {"name": "bogus"}, "value": {"name": "bogus", "value": "1", "errors": [
            "unknown option (misspelt, or not an option of this connector)"], "visible": True}}]}


def test_validate_with_errors_lists_them_on_stderr_and_exits_1(stub_api, cli, tmp_path):
    stub_api.on("PUT", "/connector-plugins/datagen-source/config/validate", body=VALIDATION_FAILED)
    config = {"name": "orders", "connector": "datagen-source", "max_tasks": 0, "bogus": 1}

    result = cli("validate", "-f", write(tmp_path, config))

    assert result.code == 1
    assert stub_api.last.json() == config
    assert result.out == ""
    assert "config of orders is invalid (2 errors)" in result.err
    assert "  max_tasks: Input should be greater than or equal to 1" in result.err
    assert "  bogus: unknown option" in result.err


def test_validate_in_json_mode_prints_the_answer_and_still_exits_1(stub_api, cli, tmp_path):
    stub_api.on("PUT", "/connector-plugins/datagen-source/config/validate", body=VALIDATION_FAILED)
    result = cli("validate", "-f", write(tmp_path, {"connector": "datagen-source"}), "-o", "json")
    assert (result.code, result.json()) == (1, VALIDATION_FAILED)


def test_validate_a_valid_config(stub_api, cli, tmp_path):
    stub_api.on("PUT", "/connector-plugins/my.pkg%3AConn/config/validate",
                body={"name": "my.pkg:Conn", "error_count": 0, "groups": [], "configs": []})
    result = cli("validate", "-f", write(tmp_path, {"name": "orders", "connector": "my.pkg:Conn"}))
    assert (result.code, result.out.strip()) == (0, "Config of orders is valid (connector my.pkg:Conn).")


def test_info(stub_api, cli):
    stub_api.on("GET", "/", body={"version": "0.1.0", "commit": "abc"})
    result = cli("info")
    assert [line.split() for line in result.out.splitlines()] == [
        ["URL", stub_api.url], ["version", "0.1.0"], ["commit", "abc"]]


# --- errors and settings -----------------------------------------------------------------------

def test_an_api_error_prints_its_message_and_exits_1(stub_api, cli):
    stub_api.on("GET", "/connectors/nope/status", 404, {"error_code": 404, "message": "Connector nope not found"})
    result = cli("connectors", "status", "nope")
    assert (result.code, result.out) == (1, "")
    assert result.err.strip() == "connectctl: Connector nope not found (HTTP 404)"


def test_an_error_page_that_is_not_the_apis_json_is_reported_with_its_status(stub_api, cli):
    stub_api.on("GET", "/connector-plugins", 502, raw=b"<html>Bad Gateway</html>", content_type="text/html")
    result = cli("plugins")
    assert result.code == 1
    assert "HTTP 502" in result.err and "<html>Bad Gateway</html>" in result.err
    assert result.err.strip() == "connectctl: Bad Gateway: <html>Bad Gateway</html> (HTTP 502)"  # the status once


def test_an_unreachable_api_exits_1_naming_the_url():
    import socket

    with socket.socket() as probe:  # a port nobody listens on: bound, never listening
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
        result = run_cli("--url", url, "plugins")
    assert result.code == 1
    assert f"cannot reach the API at {url}: connection refused" in result.err


def test_an_api_that_never_answers_times_out():
    import socket

    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = run_cli("--url", url, "--timeout", "0.2", "plugins")
    assert result.code == 1
    assert f"no answer from the API at {url} within 0.2 s" in result.err


def test_the_url_comes_from_the_environment(stub_api, monkeypatch):
    stub_api.on("GET", "/connector-plugins", body=[])
    monkeypatch.setenv("CONNECTCTL_URL", stub_api.url)
    assert run_cli("plugins").code == 0
    assert stub_api.last.path == "/connector-plugins"


def test_a_bad_url_is_a_usage_error():
    result = run_cli("--url", "ftp://example.com", "plugins")
    assert result.code == 2 and "not an http(s) URL" in result.err


def test_usage_errors_exit_2():
    assert run_cli("connectors").code == 2
    assert run_cli("connectors", "create").code == 2  # -f is required
    assert run_cli("connectors", "frobnicate", "x").code == 2
    assert run_cli("-o", "yaml", "plugins").code == 2
    assert run_cli("--timeout", "0", "plugins").code == 2


def test_local_up_checks_its_arguments_before_starting_anything(tmp_path):
    missing = run_cli("local", "up", "--template", str(tmp_path / "none.yaml"))
    assert missing.code == 2 and "no such file" in missing.err
    template = tmp_path / "template.yaml"
    template.write_text("Resources: {}\n")
    bad = run_cli("local", "up", "--template", str(template), "--parameter", "NoEquals")
    assert bad.code == 2 and "expected KEY=VALUE" in bad.err


@pytest.fixture
def local_run(monkeypatch):
    """``connect_core.admin.local.run`` replaced: the arguments `local up` calls it with."""
    calls = []
    monkeypatch.setattr("connect_core.admin.local.run", lambda *args, **kwargs: calls.append((args, kwargs)))
    return calls


def test_local_up_runs_the_local_api_with_its_arguments(local_run, tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text("Resources: {}\n")
    state_dir = tmp_path / "state"

    result = run_cli("local", "up", "--port", "0", "--template", str(template), "--parameter", "DeployDemo=false",
                     "--parameter", "Size=a=b", "--state-dir", str(state_dir))

    assert result.code == 0, result.err
    assert local_run == [((0, template, {"DeployDemo": "false", "Size": "a=b"}, state_dir), {})]


def test_local_up_without_the_dev_extra_says_what_is_missing(tmp_path, monkeypatch):
    def run(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'moto'", name="moto")

    monkeypatch.setattr("connect_core.admin.local.run", run)
    template = tmp_path / "template.yaml"
    template.write_text("Resources: {}\n")
    result = run_cli("local", "up", "--template", str(template))
    assert result.code == 1
    assert result.err.strip() == "connectctl: local up needs the dev extra (pip install '.[dev]'): missing moto"
