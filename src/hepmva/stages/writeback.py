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

from hepmva import io, score_parts
from hepmva.datasets import iter_feature_parts

__all__ = ["write_friend_trees"]

log = logging.getLogger(__name__)


def write_friend_trees(files: Sequence[str], table: str | Path | Sequence[str | Path],
                       scores: Mapping[str, Sequence[str | Path]], *, sample: dict, tree: str, directory: str | Path,
                       spectators: Sequence[str] = ()) -> list[Path]:
    """Write one friend tree per input file of ``sample``; returns the written paths.

    ``table`` is the sample's features, read part by part (:func:`hepmva.datasets.iter_feature_parts`);
    ``scores`` maps each classifier to its fold models' score tables (:mod:`hepmva.score_parts`), of
    which each part's held-out rows are read: memory is bounded by a part's entry range, not by the sample.
    The friend trees grow part by part (parts come file by file, entries increasing).
    """
    tables = [table] if isinstance(table, (str, Path)) else list(table)
    name = sample["name"]
    score_paths = {clf: [p] if isinstance(p, (str, Path)) else list(p) for clf, p in scores.items()}
    files = io.expand_files(files)
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    dtypes = {"selected": np.bool_, "fold": np.int8, **{f"score_{c}": np.float64 for c in score_paths},
              **{s: np.float64 for s in spectators}}
    with io.atomic_directory(directory) as tmp:  # all friend trees, or none
        friends = _Friends(files, sample.get("tree", "Events"), tree, tmp, directory, dtypes)
        try:
            for _, part, frame in iter_feature_parts(tables, columns=["file_index", "entry", *spectators]):
                frame = frame.sort_values("row", kind="stable")
                block = {"fold": frame["fold"].to_numpy(), **{s: frame[s].to_numpy() for s in spectators}}
                for clf, paths in score_paths.items():
                    block[f"score_{clf}"] = _part_scores(paths, name, part, frame["row"].to_numpy(), clf)
                file_index, entries = frame["file_index"].to_numpy(), frame["entry"].to_numpy()
                for i in np.unique(file_index):  # in file order
                    m = file_index == i
                    friends.extend(int(i), entries[m], {k: v[m] for k, v in block.items()})
            friends.finish()
        except BaseException as exc:
            friends.abort(exc)
            raise
        io.write_json(friends.index, tmp / "friends.json")
    return friends.written


def _part_scores(paths: Sequence[str | Path], sample: str, part: int, rows: np.ndarray, clf: str) -> np.ndarray:
    """The held-out scores of one feature part (rows sorted), checked to cover exactly its events."""
    df = score_parts.read_scores(paths, role="test", sample=sample, part=part, columns=["row", "score"])
    df = df.sort_values("row", kind="stable")
    if len(df) != len(rows) or not np.array_equal(df["row"].to_numpy(), rows):
        raise io.InputError(f"{', '.join(map(str, paths))}: {len(df)} held-out scores for sample '{sample}' part "
                            f"{part}, expected one for each of its {len(rows)} events: re-run the train jobs of {clf}")
    return df["score"].to_numpy()


class _Friends:
    """The friend trees of one sample's input files, written file by file, entry range by entry range.

    :meth:`extend` appends the entries up to the last selected one of a part (unselected ones: not
    selected, fold -1, NaN); a file is completed (to its number of entries) and closed when a later
    file's part arrives or at :meth:`finish`. Every file appears atomically, or none on :meth:`abort`.
    """

    def __init__(self, files: Sequence[str], tree: str, friend_tree: str, workdir: Path, directory: Path,
                 dtypes: dict):
        self.files, self.tree, self.friend_tree, self.dtypes = files, tree, friend_tree, dtypes
        self.workdir, self.directory = workdir, directory  # written in workdir, named as in directory
        self.current: tuple[int, io.TreeChunkWriter, int, int] | None = None  # index, writer, entries, cursor
        self.done = -1  # files up to here are written
        self.n_selected = 0
        self.written: list[Path] = []
        self.index: list[dict] = []

    def _open(self, i: int) -> None:
        n = io.count_entries(self.files[i], self.tree)
        writer = io.TreeChunkWriter(self.workdir / f"{i}_{Path(self.files[i]).name}", self.friend_tree, self.dtypes)
        writer.__enter__()
        self.current, self.n_selected = (i, writer, n, 0), 0

    def _close_current(self) -> None:
        i, writer, n, cursor = self.current
        self._write_empty(writer, n - cursor)
        writer.__exit__(None, None, None)
        out = self.directory / writer.path.name
        self.written.append(out)
        self.index.append({"input": str(self.files[i]), "friend": str(out), "tree": self.friend_tree, "entries": n})
        log.info("%s: friend tree %s with %d entries (%d selected)", self.files[i], out, n, self.n_selected)
        self.current, self.done = None, i

    def _advance_to(self, i: int) -> None:
        """Complete every file before ``i`` (those without selected events too) and open file ``i``."""
        if i <= self.done or i >= len(self.files):
            raise io.InputError(f"features table: entries of input file {i} out of order or unknown "
                                f"({len(self.files)} input files): re-run the features stage")
        if self.current is not None and self.current[0] == i:
            return
        if self.current is not None:
            self._close_current()
        for j in range(self.done + 1, i + 1):
            self._open(j)
            if j < i:
                self._close_current()

    def _write_empty(self, writer: io.TreeChunkWriter, n: int) -> None:
        if n > 0:
            writer.write(self._block(n))

    def _block(self, n: int) -> dict:
        block = {k: np.full(n, np.nan) for k in self.dtypes}
        block["selected"], block["fold"] = np.zeros(n, dtype=bool), np.full(n, -1, dtype=np.int8)
        return block

    def extend(self, i: int, entries: np.ndarray, columns: Mapping[str, np.ndarray]) -> None:
        self._advance_to(i)
        _, writer, n, cursor = self.current
        order = np.argsort(entries, kind="stable")
        entries = entries[order]
        if len(entries) and (entries[0] < cursor or entries[-1] >= n):
            raise io.InputError(f"features table: entries of {self.files[i]} out of order or beyond its {n} "
                                "entries: re-run the features stage")
        stop = int(entries[-1]) + 1 if len(entries) else cursor
        block = self._block(stop - cursor)
        at = entries - cursor
        block["selected"][at] = True
        for k, v in columns.items():
            block[k][at] = np.asarray(v)[order]
        writer.write(block)
        self.current = (i, writer, n, stop)
        self.n_selected += len(entries)

    def finish(self) -> None:
        if self.current is not None:
            self._close_current()
        if self.done < len(self.files) - 1:  # trailing files without selected events
            self._advance_to(len(self.files) - 1)
            self._close_current()

    def abort(self, exc: BaseException) -> None:
        if self.current is not None:
            self.current[1].__exit__(type(exc), exc, exc.__traceback__)
            self.current = None
