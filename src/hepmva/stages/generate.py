"""The generate stage (``workflow/rules/generate.smk``): a built-in sample's ROOT file from its ``generate`` block."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hepmva.generate import write_sample

__all__ = ["generate_sample"]


def generate_sample(sample: dict, *, seed: int, output: str | Path) -> dict[str, Any]:
    """Write the events of ``sample["generate"]`` (``process``, ``n_events``) to ``output`` (atomically).

    Returns the file's metadata (:func:`hepmva.generate.write_sample`).
    """
    gen = sample["generate"]
    return write_sample(output, gen["process"], gen["n_events"], seed=seed)
