"""Builders of hostile model files: each one runs ``touch <marker>`` if a loader trusts it.

Used by tests/test_hostile_models.py (the loader) and tests/workflow/test_hostile_workflow.py (the real
workflow). Nothing here is ever loaded by the builders: pickles are written with ``pickle.dumps`` (which does
not call ``__reduce__``'s function), skops schemas are written as JSON by hand.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np


class _Touch:
    """Unpickling this calls ``os.system("touch <marker>")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def pickle_bytes(marker: Path) -> bytes:
    """A pickle that touches ``marker`` when loaded."""
    return pickle.dumps(_Touch(marker))


def _json_str(text: str) -> dict:
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(text), "is_json": True}


def call_node(marker: Path, module: str = "subprocess", name: str = "check_output") -> dict:
    """A skops node that calls ``module.name(["sh", "-c", "touch <marker>"])`` while loading."""
    argv = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
            "content": [_json_str("sh"), _json_str("-c"), _json_str(f"touch '{marker}'")]}
    args = {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": [argv]}
    return {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode", "content": args}


def _write_skops(path: Path, schema: dict, extra: dict[str, bytes] | None = None) -> Path:
    schema = {**schema, "protocol": 2, "_skops_version": "0.16.0"}
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("schema.json", json.dumps(schema))
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return path


def skops_calling(path: Path, marker: Path, module: str = "subprocess", name: str = "check_output") -> Path:
    """A skops file whose top node calls ``module.name`` (``subprocess.check_output`` by default)."""
    return _write_skops(path, call_node(marker, module, name))


def skops_stealth(genuine: Path, path: Path, marker: Path) -> Path:
    """A genuine skops model plus one extra attribute whose loading calls ``subprocess.check_output``.

    Disguised under ``sklearn.utils._testing`` (which re-exports ``subprocess.check_output``), so a
    prefix-trusting loader sees only ``sklearn.*`` types and the model still works after loading.
    """
    with zipfile.ZipFile(genuine) as z:
        schema = json.loads(z.read("schema.json"))
        extra = {n: z.read(n) for n in z.namelist() if n != "schema.json"}
    schema.pop("protocol", None)
    schema.pop("_skops_version", None)
    attrs = schema["content"]  # the estimator's __dict__: a DictNode (content + one key type per key)
    attrs["content"]["_calibration"] = call_node(marker, "sklearn.utils._testing", "check_output")
    attrs["key_types"]["content"].append({"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"})
    return _write_skops(path, schema, extra)


def npz_with_pickle(path: Path, marker: Path) -> Path:
    """An ``.npz`` whose ``theta`` is an object array (pickled; loading it with allow_pickle runs it)."""
    arr = np.empty(1, dtype=object)
    arr[0] = _Touch(marker)
    buf = io.BytesIO()
    np.savez(buf, theta=arr, classes=np.array([0, 1]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path
