"""Score tables written part by part: what a train job writes after its fit, and how every consumer reads it.

A fold model's scores are one parquet file, ``results/models/{classifier}/scores_fold{k}.parquet``, written
while the job walks the features part by part (:func:`hepmva.datasets.iter_feature_parts`): for every
feature part, one row group of its held-out (``role == "test"``) events and one of its training
(``role == "train"``) events. Columns (:data:`SCORE_COLUMNS`):

    sample (str), part (int32), row (int64), role ("test"/"train"), fold (int8), label (int8),
    weight (float64, physics weight), score (float64)

``(sample, row)`` is the event's key (the same as the features'). A row group holds one role, so the
readers skip the other role's row groups from the parquet statistics alone, and the score range of a
role is known from the statistics without reading a score.

- :class:`ScorePartWriter`: the writer (atomic; the file appears when the job succeeds);
- :func:`iter_score_parts`: one row group at a time (memory bounded by a part), filtered by role / sample;
- :func:`read_scores`: the rows of several files as one table, for the consumers that need events
  (the exact evaluation of a small sample, the anomaly comparison);
- :class:`PartScores`: one part's rows of one role in row order, batch by batch (the friend trees);
- :func:`score_summary`: events per role and score ranges, from the file metadata.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from hepmva import io
from hepmva.errors import InputError

__all__ = ["SCORE_COLUMNS", "ROLES", "ScorePartWriter", "iter_score_parts", "read_scores", "PartScores",
           "ScoreSummary", "score_summary"]

SCORE_COLUMNS = ("sample", "part", "row", "role", "fold", "label", "weight", "score")
ROLES = ("test", "train")
#: rows of a score table's row group at most: a reader holds one row group of every file it has open, and a
#: writeback opens every classifier's fold files at once (benchmarks/bench_part_memory.py)
ROW_GROUP_ROWS = 16_384


class ScorePartWriter:
    """Write a fold model's scores one feature part at a time (context manager, atomic).

    :meth:`write` takes one part's events of one role (or a block of them, in row order); the file holds one row group per call, or several of at
    most ``ROW_GROUP_ROWS`` rows: a reader's memory (a whole row group's column chunks, decompressed, however it
    is batched) is bounded by that, not by the events of an input file.
    """

    def __init__(self, path: str | Path):
        # dictionaries for the repeated strings only: tried on the rows and scores (all distinct) they cost the writer
        # its attempt and a reader a dictionary page per column of every row group
        self._writer = io.ParquetChunkWriter(path, row_group_rows=ROW_GROUP_ROWS, use_dictionary=["sample", "role"])
        self.counts = dict.fromkeys(ROLES, 0)

    def __enter__(self) -> ScorePartWriter:
        self._writer.__enter__()
        return self

    def write(self, *, sample: str, part: int, role: str, fold: int, row: np.ndarray, label: np.ndarray,
              weight: np.ndarray, score: np.ndarray) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        n = len(row)
        if not n:
            return
        self._writer.write(pd.DataFrame({
            "sample": np.full(n, sample), "part": np.full(n, part, dtype=np.int32),
            "row": np.asarray(row, dtype=np.int64), "role": np.full(n, role), "fold": np.full(n, fold, dtype=np.int8),
            "label": np.asarray(label, dtype=np.int8), "weight": np.asarray(weight, dtype=np.float64),
            "score": np.asarray(score, dtype=np.float64),
        }))
        self.counts[role] += n

    def __exit__(self, *exc) -> bool:
        if exc[0] is None and not any(self.counts.values()):  # a file with no part at all: keep the schema
            self._writer.write(pd.DataFrame({c: pd.Series(dtype=t) for c, t in _DTYPES.items()}))
        return self._writer.__exit__(*exc)


_DTYPES = {"sample": object, "part": np.int32, "row": np.int64, "role": object, "fold": np.int8, "label": np.int8,
           "weight": np.float64, "score": np.float64}


class _RowGroup(NamedTuple):
    path: str
    index: int
    role: str | None  # None when the statistics do not say
    sample: str | None
    part: int | None
    n: int
    score_min: float
    score_max: float


def _row_groups(path: str | Path) -> list[_RowGroup]:
    """Role, sample, part, size and score range of every row group, from the parquet metadata (read once
    per file version: a consumer reading part by part asks again and again)."""
    try:
        st = Path(path).stat()
    except OSError:
        raise InputError(f"{path}: no such score table: re-run its train job") from None
    return _row_groups_cached(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=256)
def _row_groups_cached(path: str, mtime_ns: int, size: int) -> list[_RowGroup]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
        raise InputError(f"{path}: not a score table ({str(exc).splitlines()[0]}): re-run its train job") from None
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    missing = [c for c in SCORE_COLUMNS if c not in names]
    if missing:
        raise InputError(f"{path}: score table lacks column(s) {', '.join(missing)}: re-run its train job")
    col = {c: names.index(c) for c in ("role", "sample", "part", "score")}
    out = []
    for i in range(meta.num_row_groups):
        rg = meta.row_group(i)

        def same(name):
            st = rg.column(col[name]).statistics
            if st is None or not st.has_min_max or st.min != st.max:
                return None
            v = st.min
            return v.decode() if isinstance(v, bytes) else v

        st = rg.column(col["score"]).statistics
        lo, hi = (float(st.min), float(st.max)) if st is not None and st.has_min_max else (np.nan, np.nan)
        out.append(_RowGroup(str(path), i, same("role"), same("sample"), same("part"), rg.num_rows, lo, hi))
    return out


def iter_score_parts(paths: Sequence[str | Path], *, role: str | None = None, columns: Sequence[str] | None = None,
                     sample: str | None = None, part: int | None = None) -> Iterator[pd.DataFrame]:
    """The score tables' rows one row group (a feature part of one role) at a time.

    Parameters
    ----------
    paths : sequence of path
        Score tables (e.g. the k fold models' of one classifier).
    role : {"test", "train"}, optional
        Only these rows (default both).
    columns : sequence of str, optional
        Columns to read (default all); ``role`` and ``sample`` are added when filtering on them.
    sample : str, optional
        Only this sample's rows.
    part : int, optional
        Only the rows of this feature part (with ``sample``: one part of one sample).
    """
    import pyarrow.parquet as pq

    if role is not None and role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    for path in paths:
        groups = _row_groups(path)
        f = pq.ParquetFile(path)
        for g in groups:
            if g.n == 0 or (role is not None and g.role not in (None, role)) or \
                    (sample is not None and g.sample not in (None, sample)) or \
                    (part is not None and g.part not in (None, part)):
                continue
            # a filter's column is read only where the statistics do not decide it (the strings cost the most)
            want = None if columns is None else list(dict.fromkeys([
                *columns, *(["role"] if role and g.role is None else []),
                *(["sample"] if sample and g.sample is None else []),
                *(["part"] if part is not None and g.part is None else [])]))
            df = f.read_row_group(g.index, columns=want).to_pandas()
            if role is not None and g.role is None:
                df = df[df["role"] == role]
            if sample is not None and g.sample is None:
                df = df[df["sample"] == sample]
            if part is not None and g.part is None:
                df = df[df["part"] == part]
            if len(df):
                yield df[list(columns)] if columns is not None else df


def read_scores(paths: Sequence[str | Path], *, role: str | None = None, columns: Sequence[str] | None = None,
                sample: str | None = None, part: int | None = None) -> pd.DataFrame:
    """The rows of :func:`iter_score_parts` as one table (for consumers that need every event)."""
    parts = list(iter_score_parts(paths, role=role, columns=columns, sample=sample, part=part))
    if parts:
        return pd.concat(parts, ignore_index=True)
    cols = list(columns) if columns is not None else list(SCORE_COLUMNS)
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, np.float64)) for c in cols})


#: bytes a :class:`PartScores` reads of a column chunk at a time (a part's row group is read in pieces): a
#: writeback holds two columns of every classifier's fold files open at once
_BUFFER_BYTES = 1 << 16


class PartScores:
    """One feature part's scores of one role in row order, read in batches of at most ``batch_rows`` rows a
    file (memory bounded by the batches, not by the part): :meth:`take` gives the rows below a row.

    Each file's rows of a part are in row order (a train job writes a part's rows as the features hold them),
    so the k fold models' files are merged batch by batch. ``n`` is the rows the statistics count (None when
    a row group's statistics do not decide).
    """

    def __init__(self, paths: Sequence[str | Path], *, sample: str, part: int, role: str = "test",
                 batch_rows: int = 65_536):
        import pyarrow.parquet as pq

        self.n: int | None = 0
        self._streams = []
        for path in paths:
            groups = [g for g in _row_groups(path) if g.n and g.role in (None, role) and g.sample in (None, sample)
                      and g.part in (None, part)]
            if not groups:
                continue
            decided = all(g.role is not None and g.sample is not None and g.part is not None for g in groups)
            self.n = self.n + sum(g.n for g in groups) if decided and self.n is not None else None
            filters = None if decided else {"role": role, "sample": sample, "part": part}
            cols = ["row", "score", *(filters or ())]
            source = pq.ParquetFile(path, buffer_size=_BUFFER_BYTES, pre_buffer=False)  # column chunks read in pieces, not whole
            indices = [g.index for g in groups]
            if _rows_ascending(source, indices):
                batches = source.iter_batches(batch_size=int(batch_rows), row_groups=indices, columns=cols,
                                              use_threads=False)
                self._streams.append(_ScoreStream(str(path), batches, filters))
            else:  # row groups whose rows interleave (a table written fold by fold): the part's rows at once, sorted
                table = source.read_row_groups(indices, columns=cols, use_threads=False)
                if filters:
                    import pyarrow.compute as pc

                    keep = None
                    for c, v in filters.items():
                        m = pc.equal(table[c], v)
                        keep = m if keep is None else pc.and_(keep, m)
                    table = table.filter(keep)
                table = table.select(["row", "score"]).sort_by("row")
                self._streams.append(_ScoreStream(str(path), iter(table.to_batches()), None))

    def take(self, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """``(row, score)`` of the rows below ``stop`` not taken yet, in row order."""
        got = [s.take(stop) for s in self._streams]
        rows = np.concatenate([g[0] for g in got]) if got else np.zeros(0, dtype=np.int64)
        scores = np.concatenate([g[1] for g in got]) if got else np.zeros(0)
        order = np.argsort(rows, kind="stable")
        return rows[order], scores[order]

    def exhausted(self) -> bool:
        """Every row has been taken."""
        return all(s.exhausted() for s in self._streams)


def _rows_ascending(source, indices: Sequence[int]) -> bool:
    """Whether the row groups ``indices`` hold ascending, non-overlapping row ranges (their ``row`` statistics), as a
    train job writes a part; False when a group has no statistics."""
    column = source.schema_arrow.get_field_index("row")
    last = -1
    for i in indices:
        stats = source.metadata.row_group(i).column(column).statistics
        if stats is None or not stats.has_min_max or stats.min <= last:
            return False
        last = stats.max
    return True


class _ScoreStream:
    """One file's rows of a part, batch by batch, checked to be in row order."""

    def __init__(self, path: str, batches, filters: dict | None):
        self.path, self._batches, self._filters = path, batches, filters
        self._row, self._score = np.zeros(0, dtype=np.int64), np.zeros(0)
        self._done, self._last = False, -1

    def _pull(self) -> bool:
        batch = next(self._batches, None)
        if batch is None:
            self._done = True
            return False
        row, score = batch.column("row").to_numpy(), batch.column("score").to_numpy()
        if self._filters:
            keep = np.ones(len(row), dtype=bool)
            for c, v in self._filters.items():
                keep &= batch.column(c).to_numpy(zero_copy_only=False) == v
            row, score = row[keep], score[keep]
        if len(row) and (row[0] <= self._last or np.any(np.diff(row) <= 0)):
            raise InputError(f"{self.path}: a part's score rows out of order: re-run its train job")
        if len(row):
            self._last = int(row[-1])
        self._row, self._score = np.concatenate([self._row, row]), np.concatenate([self._score, score])
        return True

    def take(self, stop: int) -> tuple[np.ndarray, np.ndarray]:
        while not self._done and (not len(self._row) or self._row[-1] < stop - 1):
            if not self._pull():
                break
        k = int(np.searchsorted(self._row, stop))
        out = self._row[:k], self._score[:k]
        self._row, self._score = self._row[k:], self._score[k:]
        return out

    def exhausted(self) -> bool:
        while not len(self._row) and not self._done:
            self._pull()
        return not len(self._row)


class ScoreSummary(NamedTuple):
    """Events per role and score ranges of some score tables (from their metadata).

    Attributes
    ----------
    n : dict
        Rows per role ``{"test": ..., "train": ...}``.
    score_min, score_max : dict
        Smallest and largest score per role (NaN without rows); the key ``"all"`` covers both.
    """

    n: dict
    score_min: dict
    score_max: dict


def score_summary(paths: Sequence[str | Path]) -> ScoreSummary:
    """Rows and score ranges per role, read from the parquet statistics (the scores themselves only
    for row groups whose statistics do not say)."""
    n = dict.fromkeys(ROLES, 0)
    lo = dict.fromkeys((*ROLES, "all"), np.inf)
    hi = dict.fromkeys((*ROLES, "all"), -np.inf)
    for path in paths:
        groups = [g for g in _row_groups(path) if g.n]
        if all(g.role is not None and np.isfinite([g.score_min, g.score_max]).all() for g in groups):
            rows = ((g.role, g.n, g.score_min, g.score_max) for g in groups)
        else:  # statistics missing: read this file's roles and scores
            df = read_scores([path], columns=["role", "score"])
            rows = ((r, len(d), d["score"].min(), d["score"].max()) for r, d in df.groupby("role"))
        for r, k, s_min, s_max in rows:
            n[r] += k
            lo[r], hi[r] = min(lo[r], s_min), max(hi[r], s_max)
    for r in ROLES:
        if n[r]:
            lo["all"], hi["all"] = min(lo["all"], lo[r]), max(hi["all"], hi[r])
    nan = float("nan")
    return ScoreSummary(n, {k: float(v) if np.isfinite(v) else nan for k, v in lo.items()},
                        {k: float(v) if np.isfinite(v) else nan for k, v in hi.items()})
