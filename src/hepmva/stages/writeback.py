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
import pandas as pd

from hepmva import io, score_parts
from hepmva.datasets import iter_feature_parts

__all__ = ["write_friend_trees"]

log = logging.getLogger(__name__)


def write_friend_trees(files: Sequence[str], table: str | Path | Sequence[str | Path],
                       scores: Mapping[str, Sequence[str | Path]], *, sample: dict, tree: str, directory: str | Path,
                       spectators: Sequence[str] = ()) -> list[Path]:
    """Write one friend tree per input file of ``sample``; returns the written paths.

    ``table`` is the sample's features (read part by part); ``scores`` maps each classifier to its
    fold models' score tables (:mod:`hepmva.score_parts`), of which the sample's held-out rows are read.
    """
    tables = [table] if isinstance(table, (str, Path)) else list(table)
    parts = [frame for _, _, frame in iter_feature_parts(tables, columns=["file_index", "entry", *spectators])]
    feats = pd.concat(parts, ignore_index=True).sort_values("row", kind="stable")
    name = sample["name"]
    per_clf = {}
    for clf, paths in scores.items():
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        df = score_parts.read_scores(paths, role="test", sample=name, columns=["row", "score"]).sort_values("row")
        if len(df) != len(feats) or not np.array_equal(df["row"].to_numpy(), feats["row"].to_numpy()):
            raise io.InputError(f"{', '.join(map(str, paths))}: {len(df)} held-out scores for sample '{name}', "
                                f"expected one for each of its {len(feats)} events: re-run the train jobs of {clf}")
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
