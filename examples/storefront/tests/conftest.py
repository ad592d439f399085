"""The example's code (src/) and its local stand-in API (local_api.py) on the import path."""

import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1]
for folder in (EXAMPLE / "src", EXAMPLE):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
