"""The layer ships exactly the versions the package declares."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pins(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")}


def test_layer_requirements_match_the_package_dependencies():
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    layer = ROOT / "layers" / "connect_core"
    shipped = pins(layer / "requirements.txt") | pins(layer / "requirements-sdist.txt")

    assert shipped == declared
    assert all("==" in requirement for requirement in shipped), "layer requirements must be exact pins"
