"""A frozen Config from flags, the environment and a TOML file (flags > env > file > default)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError
from .models import AssetKind
from .naming import DEFAULT_TEMPLATE, check_template
from .secret import ENV_KEY, KeySource

__all__ = ["Config", "DEFAULT_BASE_URL", "FILE_KEYS", "default_config_path", "load_config"]

DEFAULT_BASE_URL = "https://api.piapi.ai"
ENV_BASE_URL = "PIAPI_BASE_URL"
ALL_ASSETS = frozenset(AssetKind)


@dataclass(frozen=True, slots=True)
class Config:
    dest: Path = Path("suno-archive")
    output: str = DEFAULT_TEMPLATE
    jobs: int = 8
    api_jobs: int = 4
    api_rate: float | None = None  # API requests per second, None: unlimited
    assets: frozenset[AssetKind] = ALL_ASSETS
    id3_version: int = 3
    give_up_after: int = 5
    base_url: str = DEFAULT_BASE_URL
    album: str = "Suno"
    key: KeySource = field(default_factory=KeySource)
    pending: bool = False
    retry_failed: bool = False

    @property
    def asset_names(self) -> str:
        return ",".join(kind.value for kind in AssetKind if kind in self.assets)


def _positive_int(name: str) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError
        number = int(value)
        if number < 1:
            raise ValueError
        return number

    convert.__name__ = name
    return convert


def parse_assets(value: Any) -> frozenset[AssetKind]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError
    return frozenset(AssetKind(str(item).strip().lower()) for item in items)


def _id3_version(value: Any) -> int:
    text = str(value).strip()
    if text in ("2.3", "3"):
        return 3
    if text in ("2.4", "4"):
        return 4
    raise ValueError


def _rate(value: Any) -> float | None:
    number = float(value)
    if number < 0:
        raise ValueError
    return number or None


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError
    return value


def _template(value: Any) -> str:
    check_template(_text(value))
    return str(value)


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "dest": lambda value: Path(_text(value)).expanduser(),
    "output": _template,
    "jobs": _positive_int("jobs"),
    "api_jobs": _positive_int("api_jobs"),
    "api_rate": _rate,
    "assets": parse_assets,
    "id3_version": _id3_version,
    "give_up_after": lambda value: max(0, int(value)),
    "base_url": _text,
    "album": _text,
}
FILE_KEYS = frozenset(_CONVERT) | {"api_key_file", "api_key_command"}


def default_config_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "suno-archiver" / "config.toml"


def load_config(
    flags: Mapping[str, Any], env: Mapping[str, str] | None = None, config_file: str | None = None
) -> Config:
    """Merge flags (None = not given), environment and config file into a Config."""
    env = os.environ if env is None else env
    file_values, source = _read_file(config_file, env)
    merged: dict[str, Any] = {}
    for key, convert in _CONVERT.items():
        for where, value in (("flag", flags.get(key)), (source, file_values.get(key))):
            if key == "base_url" and where != "flag" and env.get(ENV_BASE_URL):
                where, value = ENV_BASE_URL, env[ENV_BASE_URL]
            if value is not None:
                merged[key] = _convert(convert, key, value, where)
                break
    key_source = KeySource(
        env_value=env.get(ENV_KEY) or None,
        key_file=Path(file_values["api_key_file"]) if file_values.get("api_key_file") else None,
        key_command=file_values.get("api_key_command") or None,
    )
    return Config(**merged, key=key_source, pending=bool(flags.get("pending")),
                  retry_failed=bool(flags.get("retry_failed")))


def _convert(convert: Callable[[Any], Any], key: str, value: Any, where: str) -> Any:
    try:
        return convert(value)
    except UsageError:
        raise
    except (ValueError, TypeError):
        shown = f"--{key.replace('_', '-')}" if where == "flag" else f"{key} in {where}"
        raise UsageError(f"{shown}: invalid value {value!r}") from None


def _read_file(name: str | None, env: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    path = Path(name).expanduser() if name else default_config_path(env)
    if not path.exists() and not name:
        return {}, str(path)
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(values) - FILE_KEYS)
    if unknown:
        raise UsageError(f"{path}: unknown config key {unknown[0]!r} "
                         f"(known: {', '.join(sorted(FILE_KEYS))})")
    return values, str(path)
