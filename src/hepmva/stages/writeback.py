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
from hepmva.datasets import FeaturePart, feature_parts, iter_part_blocks

__all__ = ["write_friend_trees"]

log = logging.getLogger(__name__)

#: events a writeback block holds at most (one ``TTree.extend``, one basket per branch: 128 kB of a float64 score).
#: A block holds every classifier's scores, and each classifier's fold files are read alongside, one row group
#: buffered per file (:data:`hepmva.score_parts.ROW_GROUP_ROWS` rows): with 18 classifiers 65,536-event blocks
#: made a job's peak RSS grow by a quarter from 10k- to 100k-event input files, 16,384 by ~5 %
#: (``benchmarks/bench_part_memory.py``).
WRITEBACK_BLOCK_EVENTS = 16_384


def write_friend_trees(files: Sequence[str], table: str | Path | Sequence[str | Path],
                       scores: Mapping[str, Sequence[str | Path]], *, sample: dict, tree: str, directory: str | Path,
                       spectators: Sequence[str] = (), block_events: int = WRITEBACK_BLOCK_EVENTS) -> list[Path]:
    """Write one friend tree per input file of ``sample``; returns the written paths.

    ``table`` is the sample's features, read in blocks of at most ``block_events`` events
    (:func:`hepmva.datasets.iter_feature_blocks`); ``scores`` maps each classifier to its fold models' score
    tables (:mod:`hepmva.score_parts`), of which each block's held-out rows are read alongside
    (:class:`hepmva.score_parts.PartScores`). The friend trees grow block by block, each ``TTree.extend`` at most
    ``block_events`` entries (parts come file by file, entries increasing): memory is bounded by the block, not
    by the events of a part or of the sample; the trees' entries do not depend on ``block_events``.
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
        friends = _Friends(files, sample.get("tree", "Events"), tree, tmp, directory, dtypes, int(block_events))
        try:
            for part in feature_parts(tables):
                _write_part(friends, part, score_paths, name=name, spectators=spectators, block_events=block_events)
            friends.finish()
        except BaseException as exc:
            friends.abort(exc)
            raise
        io.write_json(friends.index, tmp / "friends.json")
    return friends.written


def _write_part(friends: _Friends, part: FeaturePart, score_paths: Mapping[str, Sequence[str | Path]], *, name: str,
                spectators: Sequence[str], block_events: int) -> None:
    """One feature part into the friend trees, block by block, each block's held-out scores checked to be its events'."""
    n_rows = io.parquet_num_rows(part.path)
    scores = {clf: score_parts.PartScores(paths, sample=name, part=part.part, batch_rows=block_events)
              for clf, paths in score_paths.items()}

    def wrong(clf: str, n: int | None = None) -> io.InputError:
        n = scores[clf].n if n is None else n
        counted = f"{n}" if n is not None else "other than"
        return io.InputError(f"{', '.join(map(str, score_paths[clf]))}: {counted} held-out scores for sample '{name}' "
                             f"part {part.part}, expected one for each of its {n_rows} events: re-run the train jobs "
                             f"of {clf}")

    for clf, s in scores.items():
        if s.n is not None and s.n != n_rows:
            raise wrong(clf)
    for frame in iter_part_blocks(part, ["file_index", "entry", *spectators], block_events=block_events):
        rows = frame["row"].to_numpy()
        block = {"fold": frame["fold"].to_numpy(), **{s: frame[s].to_numpy() for s in spectators}}
        stop = int(rows[-1]) + 1 if len(rows) else part.row_offset
        for clf, s in scores.items():
            got, score = s.take(stop)
            if not np.array_equal(got, rows):
                raise wrong(clf)
            block[f"score_{clf}"] = score
        file_index, entries = frame["file_index"].to_numpy(), frame["entry"].to_numpy()
        for i in np.unique(file_index):  # in file order
            m = file_index == i
            friends.extend(int(i), entries[m], {k: v[m] for k, v in block.items()})
    for clf, s in scores.items():
        if not s.exhausted():
            raise wrong(clf)


class _Friends:
    """The friend trees of one sample's input files, written file by file, entry range by entry range.

    :meth:`extend` appends the entries up to the last selected one of a part (unselected ones: not
    selected, fold -1, NaN); a file is completed (to its number of entries) and closed when a later
    file's part arrives or at :meth:`finish`. Every file appears atomically, or none on :meth:`abort`.
    """

    def __init__(self, files: Sequence[str], tree: str, friend_tree: str, workdir: Path, directory: Path,
                 dtypes: dict, block_events: int):
        self.files, self.tree, self.friend_tree, self.dtypes = files, tree, friend_tree, dtypes
        self.workdir, self.directory = workdir, directory  # written in workdir, named as in directory
        self.block_events = block_events  # entries per TTree.extend at most
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
        self._write(writer, cursor, n, np.zeros(0, dtype=np.int64), {})
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

    def _write(self, writer: io.TreeChunkWriter, start: int, stop: int, entries: np.ndarray,
               columns: Mapping[str, np.ndarray]) -> None:
        """Entries ``[start, stop)``: ``entries`` (sorted, within the range) selected with ``columns``, the others
        not selected (fold -1, NaN); in extends of at most ``block_events`` entries."""
        for lo in range(start, stop, self.block_events):
            hi = min(lo + self.block_events, stop)
            a, b = np.searchsorted(entries, [lo, hi])
            block = {k: np.full(hi - lo, np.nan) for k in self.dtypes}
            block["selected"], block["fold"] = np.zeros(hi - lo, dtype=bool), np.full(hi - lo, -1, dtype=np.int8)
            at = entries[a:b] - lo
            block["selected"][at] = True
            for k, v in columns.items():
                block[k][at] = v[a:b]
            writer.write(block)

    def extend(self, i: int, entries: np.ndarray, columns: Mapping[str, np.ndarray]) -> None:
        self._advance_to(i)
        _, writer, n, cursor = self.current
        order = np.argsort(entries, kind="stable")
        entries = entries[order]
        if len(entries) and (entries[0] < cursor or entries[-1] >= n):
            raise io.InputError(f"features table: entries of {self.files[i]} out of order or beyond its {n} "
                                "entries: re-run the features stage")
        stop = int(entries[-1]) + 1 if len(entries) else cursor
        self._write(writer, cursor, stop, entries, {k: np.asarray(v)[order] for k, v in columns.items()})
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
