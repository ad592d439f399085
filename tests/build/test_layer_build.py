"""Building the layer: Lambda-platform wheels, connect_core, and bytecode Lambda will really use."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def layer(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("layer")
    subprocess.run(["make", "-s", "-f", "layers/connect_core/Makefile", "layer", f"ARTIFACTS_DIR={out}",
                    f"PYTHON={sys.executable}"], cwd=ROOT, check=True)
    return out / "python"


def test_layer_contains_connect_core_and_its_pinned_dependencies(layer):
    assert (layer / "connect_core" / "__init__.py").exists()
    assert (layer / "pydantic-2.14.3.dist-info").is_dir()
    assert (layer / "aws_lambda_powertools-3.37.0.dist-info").is_dir()
    assert (layer / "localstack_client-2.12.dist-info").is_dir()
    assert not (layer / "tests").exists()


def test_every_module_has_unchecked_hash_bytecode(layer):
    sources = list((layer / "connect_core").rglob("*.py"))
    assert sources
    for source in sources:
        pyc = Path(importlib.util.cache_from_source(str(source)))
        assert pyc.exists(), f"no bytecode for {source.relative_to(layer)}"
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{pyc.name} is not an unchecked-hash pyc (flags={flags})"


def test_the_layer_imports_in_a_clean_interpreter(layer):
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(layer), "PYTHONDONTWRITEBYTECODE": "1"}
    code = "import connect_core, pydantic; print(connect_core.__file__, pydantic.VERSION)"
    out = subprocess.run([sys.executable, "-S", "-c", code], env=env, cwd=layer, capture_output=True,
                         text=True, check=True)
    assert out.stdout.startswith(str(layer)) and "2.14.3" in out.stdout
