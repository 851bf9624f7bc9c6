"""Shared test set-up: the deployed code (`function/`) is importable as it is on FC, and no proxy
applies to the loopback local cloud (the alimt SDK transport ignores NO_PROXY)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "function", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)
