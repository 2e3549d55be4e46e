"""Logging set-up for command-line and workflow use (library code only calls ``logging.getLogger``)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

__all__ = ["log_to"]


def log_to(path: str | Path | None, level: int = logging.INFO) -> None:
    """Send hepmva's log records (and warnings) to ``path`` and to stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s", "%H:%M:%S")
    for h in handlers:
        h.setFormatter(fmt)
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(True)
