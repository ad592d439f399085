"""How connectctl is started: the console script / ``python -m``, and what it costs to import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_python_dash_m_runs_the_cli_against_the_api(stub_api):
    stub_api.on("GET", "/connector-plugins", body=[{"class": "file-sink", "type": "sink", "version": "0.1.0"}])
    out = subprocess.run([sys.executable, "-m", "connect_core.cli", "--url", stub_api.url, "plugins", "-o", "json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert '"file-sink"' in out.stdout


def test_the_console_script_runs_the_cli(stub_api):
    stub_api.on("GET", "/connector-plugins", body=[{"class": "datagen-source", "type": "source", "version": "0.1.0"}])
    script = Path(sys.executable).with_name("connectctl")
    out = subprocess.run([str(script), "--url", stub_api.url, "plugins"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "datagen-source" in out.stdout


def test_exit_code_of_an_api_error_reaches_the_shell(stub_api):
    stub_api.on("DELETE", "/connectors/x", 404, {"error_code": 404, "message": "Connector x not found"})
    out = subprocess.run([sys.executable, "-m", "connect_core.cli", "--url", stub_api.url, "connectors", "delete", "x"],
                         capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stderr.strip()) == (1, "connectctl: Connector x not found (HTTP 404)")


def test_unsigned_use_loads_neither_the_aws_sdk_nor_pydantic(stub_api):
    stub_api.on("GET", "/connectors", body={})
    code = ("import sys; from connect_core.cli import main; "
            f"main(['--url', {stub_api.url!r}, 'connectors', 'list']); "
            "print(','.join(m for m in ('boto3', 'botocore', 'pydantic', 'moto') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
