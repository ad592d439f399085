"""Cold start: importing the SDK must stay light - no AWS SDK, no emulator, no runtime."""

import subprocess
import sys


def test_importing_connect_core_loads_no_aws_sdk_or_test_tooling():
    code = ("import sys, connect_core; "
            "heavy = [m for m in ('boto3', 'botocore', 'moto', 'aws_lambda_powertools', 'hypothesis') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_client_factory_creates_no_client_at_import():
    code = "import sys, connect_core.aws, connect_core.config.secrets; print('boto3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_lambda_handlers_import_neither_the_aws_sdk_nor_the_config_models_nor_xray():
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    for handler in sorted((root / "functions").glob("*/app.py")):
        code = (f"import sys; sys.path.insert(0, {str(handler.parent)!r}); import app; "
                "print(','.join(m for m in ('boto3', 'pydantic', 'aws_xray_sdk', 'moto') if m in sys.modules))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
        assert out.stdout.strip() == "", f"{handler.parent.name} imports {out.stdout.strip()} at import time"
