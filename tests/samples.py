"""Access to the sample tasks for tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_tasks"


def sample_files() -> list[Path]:
    return sorted(path for path in SAMPLES.glob("*.json") if path.name != "catalog.json")


def load_sample(name_prefix: str) -> Any:
    (path,) = [p for p in sample_files() if p.name.startswith(name_prefix)]
    return json.loads(path.read_text(encoding="utf-8"))
