from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from archiver.demo import DemoServer


@pytest.fixture
def demo_server() -> Iterator[DemoServer]:
    with DemoServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read the developer's own config or key."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("PIAPI_API_KEY", raising=False)
    monkeypatch.delenv("PIAPI_BASE_URL", raising=False)
