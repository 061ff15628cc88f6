"""The API key: where it comes from, and a holder that never shows it."""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

__all__ = ["ENV_KEY", "KeySource", "Secret"]

ENV_KEY = "PIAPI_API_KEY"


class Secret:
    """A string that does not appear in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where the key will come from; resolved only when an API request is about to be made."""

    env_value: str | None = None
    key_file: Path | None = None
    key_command: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.env_value or self.key_file or self.key_command)

    def resolve(self) -> Secret:
        if self.env_value:
            return Secret(self.env_value.strip())
        if self.key_file is not None:
            return Secret(_first_line(self._read_file(), f"api_key_file {self.key_file}"))
        if self.key_command:
            return Secret(_first_line(self._run_command(), "api_key_command"))
        raise UsageError(
            f"no API key: set {ENV_KEY}, or api_key_file / api_key_command in the config file"
        )

    def _read_file(self) -> str:
        assert self.key_file is not None
        try:
            return self.key_file.expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"api_key_file {self.key_file}: {exc.strerror or exc}") from None

    def _run_command(self) -> str:
        assert self.key_command is not None
        try:
            done = subprocess.run(
                shlex.split(self.key_command), capture_output=True, text=True, timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
            raise UsageError(f"api_key_command failed to run: {exc}") from None
        if done.returncode != 0:
            raise UsageError(f"api_key_command exited with status {done.returncode}")
        return done.stdout


def _first_line(text: str, where: str) -> str:
    key = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not key:
        raise UsageError(f"{where} gave an empty key")
    return key
