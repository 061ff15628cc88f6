"""suno-archiver: keep the songs made through PiAPI's Suno API, tagged, verified, incremental."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
