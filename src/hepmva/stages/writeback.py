"""The writeback stage (``workflow/rules/writeback.smk``): out-of-fold scores back to ROOT, one friend tree per input file.

For an input ``dir/file.root`` with tree ``Events`` of N entries, the friend file
``{directory}/{index}_file.root`` holds a tree (default name ``hepmva``) with N entries:

- ``selected`` (bool): the event passed the selections,
- ``fold`` (int8, -1 when not selected): the fold the event belongs to,
- ``score_{classifier}`` (float64, NaN when not selected): the out-of-fold score,
- the spectators (float64, NaN when not selected), when the study has some.

In ROOT: ``events->AddFriend("hepmva", "results/friends/signal/0_file.root")``; in uproot, read
both trees with the same entry range. ``friends.json`` lists which friend belongs to which input.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from hepmva import io
from hepmva.datasets import load_feature_tables

__all__ = ["write_friend_trees"]

log = logging.getLogger(__name__)


def write_friend_trees(files: Sequence[str], table: str | Path, scores: Mapping[str, str | Path], *, sample: dict,
                       tree: str, directory: str | Path, spectators: Sequence[str] = ()) -> list[Path]:
    """Write one friend tree per input file of ``sample``; returns the written paths."""
    feats = load_feature_tables([table], columns=["file_index", "entry", *spectators])
    name = sample["name"]
    per_clf = {}
    for clf, path in scores.items():
        df = io.read_table(path, columns=["sample", "row", "role", "score"])
        df = df[(df["sample"] == name) & (df["role"] == "test")].sort_values("row")
        if len(df) != len(feats):
            raise ValueError(f"{path}: has {len(df)} scores for sample '{name}', expected {len(feats)}")
        per_clf[clf] = df["score"].to_numpy()
    fold = feats["fold"].to_numpy()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written, index = [], []
    for i, path in enumerate(io.expand_files(files)):
        t = io.open_tree(path, sample.get("tree", "Events"))
        n = t.num_entries
        t.file.close()
        m = feats["file_index"].to_numpy() == i
        entries = feats["entry"].to_numpy()[m]
        cols = {"selected": np.zeros(n, dtype=bool), "fold": np.full(n, -1, dtype=np.int8)}
        cols["selected"][entries] = True
        cols["fold"][entries] = fold[m]
        for clf, s in per_clf.items():
            col = np.full(n, np.nan)
            col[entries] = s[m]
            cols[f"score_{clf}"] = col
        for name in spectators:
            col = np.full(n, np.nan)
            col[entries] = feats[name].to_numpy()[m]
            cols[name] = col
        out = directory / f"{i}_{Path(path).name}"
        io.write_friend_tree(out, tree, cols)
        written.append(out)
        index.append({"input": str(path), "friend": str(out), "tree": tree, "entries": n})
        log.info("%s: friend tree %s with %d entries (%d selected)", path, out, n, int(m.sum()))
    io.write_json(index, directory / "friends.json")
    return written
