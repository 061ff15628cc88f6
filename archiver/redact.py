"""Remove secrets from JSON before it is stored or shown anywhere."""

from __future__ import annotations

from typing import Any

__all__ = ["REDACTED", "redact"]

REDACTED = "[redacted]"
_SECRET_KEYS = frozenset(
    {"secret", "webhook_secret", "api_key", "apikey", "x-api-key", "authorization", "token"}
)


def redact(value: Any) -> Any:
    """A copy of a JSON value in which every non-empty secret-named string is replaced.

    PiAPI echoes `config.webhook_config.secret` back in every task; a webhook payload carries
    the same object. Empty strings stay empty, so the stored JSON still shows no secret was set.
    """
    if isinstance(value, dict):
        return {key: _redact_item(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def _redact_item(key: object, item: Any) -> Any:
    if isinstance(key, str) and key.lower() in _SECRET_KEYS and isinstance(item, str) and item:
        return REDACTED
    return redact(item)
