"""The features tables as arrays: one event table, the training-weight policy, the studies' split.

- :func:`load_feature_tables`: the per-sample tables concatenated, with each event's ``row``, reading only
  the ``columns`` asked for, in the ``dtype`` asked for; :func:`iter_feature_parts` the same one part at a
  time, :func:`iter_feature_blocks` in blocks of a fixed number of events within a part (the read API: every
  consumer of the features reads through these three);
- :class:`TrainingPolicy`: how physics weights become training weights and which scaler is fitted,
  built once from the config's ``training`` block (defaults from the schema only);
- :func:`study_split`: the capped, scaled training / validation split that the studies use.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from hepmva.checks import subsample_index
from hepmva.config import with_defaults
from hepmva.errors import InputError, TrainingError
from hepmva.preprocessing import Scaler, fit_scaler
from hepmva.samples import training_weights

__all__ = ["BOOKKEEPING", "MANIFEST_FORMAT", "PART_METADATA_KEY", "FeaturePart", "feature_parts", "feature_columns",
           "load_feature_tables", "iter_feature_parts",
           "BLOCK_EVENTS", "iter_feature_blocks", "iter_part_blocks", "TrainingPolicy", "StudySplit", "study_split"]


#: columns every frame of the read API carries, whatever ``columns`` asks for (``row`` is added by the reader)
BOOKKEEPING = ("sample", "label", "weight", "fold")
#: ``format`` of a sample's features manifest (``results/features/{sample}.json``)
MANIFEST_FORMAT = "hepmva-features/1"
#: the key of a part's parquet footer that holds its counts and sums (see :mod:`hepmva.stages.features`)
PART_METADATA_KEY = "hepmva.part"


@dataclass(frozen=True)
class FeaturePart:
    """One part of a sample's features: a parquet file, where its rows sit in the sample, its weight factor.

    ``row_offset`` is the sample-wide ``row`` of the part's first event. A part of a features dataset
    (a manifest) stores ``generator_weight``, multiplied by ``scale`` into ``weight`` as it is read, and
    no sample name (the reader adds it); a single table (``.parquet``) stores ``weight`` and ``sample``.
    """

    sample: str
    part: int
    path: Path
    row_offset: int
    scale: float = 1.0
    stored_weight: str = "weight"
    stores_sample: bool = True


def feature_parts(paths: Sequence[str | Path]) -> list[FeaturePart]:
    """The parts of the features ``paths`` (what ``get_feature_tables()`` returns), in sample order.

    A path is a sample's manifest (``{sample}.json``, its parts beside it in ``{sample}/``) or a single
    parquet table whose ``weight`` is already the physics weight.
    """
    parts = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise InputError(f"{p}: no features table here: re-run the features stage")
        if p.suffix != ".json":
            parts.append(FeaturePart(p.stem, 0, p, 0))
            continue
        try:
            manifest = json.loads(p.read_text())
            if manifest.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"format {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}")
            parts += [FeaturePart(manifest["sample"], int(q["part"]), p.parent / q["path"], int(q["row_offset"]),
                                  float(manifest["scale"]), "generator_weight", False) for q in manifest["parts"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{p}: not a features manifest ({exc}): re-run the features stage") from None
    return parts


def _stored(name: str, part: FeaturePart) -> str:
    return part.stored_weight if name == "weight" else name


def feature_columns(paths: Sequence[str | Path]) -> list[str]:
    """Column names of the features (read from the first part's parquet schema; no data read)."""
    import pyarrow.parquet as pq

    parts = feature_parts(paths)
    if not parts:
        return []
    names = ["weight" if n == parts[0].stored_weight else n for n in pq.read_schema(parts[0].path).names]
    return names if parts[0].stores_sample or "sample" in names else ["sample", *names]


def _read_part(part: FeaturePart, columns: Sequence[str] | None, dtype) -> pd.DataFrame:
    """One part as a DataFrame: ``columns`` (all when None), weights scaled, ``row`` sample-wide,
    floating columns other than ``weight`` in ``dtype`` when given."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns, read = _part_columns(part, columns)
    try:
        table = pq.read_table(part.path, columns=read)
    except (KeyError, OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{part.path}: cannot read the features table ({exc}): re-run the features stage") from None
    return _part_frame(part, table, columns, dtype, part.row_offset)


def _iter_part_blocks(part: FeaturePart, columns: Sequence[str] | None, dtype,
                      block_events: int) -> Iterator[pd.DataFrame]:
    """One part as :func:`_read_part` gives it, in frames of at most ``block_events`` rows, in row order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns, read = _part_columns(part, columns)
    try:
        source = pq.ParquetFile(part.path, buffer_size=1 << 20, pre_buffer=False)  # column chunks read in pieces, not whole
        batches = source.iter_batches(batch_size=int(block_events), columns=read, use_threads=False)
        row = part.row_offset
        empty = True
        for batch in batches:
            table = pa.Table.from_batches([batch])
            empty = False
            yield _part_frame(part, table, columns, dtype, row)
            row += table.num_rows
        if empty:  # a part without rows: one empty frame, as _read_part gives
            yield _part_frame(part, source.schema_arrow.empty_table().select(read), columns, dtype, row)
    except (KeyError, OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{part.path}: cannot read the features table ({exc}): re-run the features stage") from None


def _part_columns(part: FeaturePart, columns: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """The frame's columns (all when None) and the stored columns to read for them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if columns is None:
            columns = ["weight" if n == part.stored_weight else n for n in pq.read_schema(part.path).names]
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{part.path}: cannot read the features table ({exc}): re-run the features stage") from None
    return list(columns), [_stored(c, part) for c in columns if part.stores_sample or c != "sample"]


def _part_frame(part: FeaturePart, table, columns: Sequence[str], dtype, row_start: int) -> pd.DataFrame:
    """Rows of a part read as an arrow ``table`` as the read API's DataFrame; ``row_start`` is the first one's row."""
    import pyarrow as pa

    if dtype is not None:
        target = pa.from_numpy_dtype(np.dtype(dtype))
        fields = [pa.field(f.name, target) if pa.types.is_floating(f.type) and f.name != part.stored_weight else f
                  for f in table.schema]
        table = table.cast(pa.schema(fields))
    df = table.to_pandas()
    if part.stored_weight != "weight" and part.stored_weight in df:
        df = df.rename(columns={part.stored_weight: "weight"})
    if part.scale != 1.0 and "weight" in df:
        df["weight"] = df["weight"].to_numpy() * part.scale
    if not part.stores_sample and "sample" in columns:
        df.insert(list(columns).index("sample"), "sample", part.sample)
    df["row"] = np.arange(row_start, row_start + len(df), dtype=np.int64)
    return df


def _columns_to_read(paths: Sequence[str | Path], feature_names: Sequence[str], columns) -> list[str] | None:
    """The columns to read, checked against the tables (None: all of them)."""
    available = feature_columns(paths)
    wanted = None if columns is None else [*BOOKKEEPING, *feature_names, *columns]
    missing = [c for c in dict.fromkeys(list(feature_names) + list(wanted or ())) if c not in available and c != "row"]
    if missing:
        raise InputError(f"features table lacks column(s) {', '.join(missing)}: re-run the features stage")
    return None if wanted is None else [c for c in dict.fromkeys(wanted) if c != "row"]


def load_feature_tables(paths: Sequence[str | Path], feature_names: Sequence[str] = (), *,
                        columns: Sequence[str] | None = None, dtype=None) -> pd.DataFrame:
    """Every sample's features as one DataFrame, checking every feature column is there.

    Parameters
    ----------
    paths : sequence of path
        The features of each sample, as ``get_feature_tables()`` in the workflow returns them.
    feature_names : sequence of str
        Columns that must be present (read too when ``columns`` is given).
    columns : sequence of str, optional
        Read only these (plus ``feature_names`` and the bookkeeping :data:`BOOKKEEPING`); all when None.
    dtype : numpy dtype, optional
        Floating-point type of the feature, spectator and truth columns (e.g. ``np.float32``); the
        ``weight`` stays float64 so that yields are exact.

    Returns
    -------
    DataFrame : samples one after the other, weights scaled to xsec x lumi, plus ``row``, the event's
        position in its sample: with ``sample`` it is the key that score tables use to refer to an event.
    """
    cols = _columns_to_read(paths, feature_names, columns)
    frames = [_read_part(part, cols, dtype) for part in feature_parts(paths)]
    return pd.concat(frames, ignore_index=True) if len(frames) != 1 else frames[0]


def iter_feature_parts(paths: Sequence[str | Path], columns: Sequence[str] | None = None,
                       dtype=None) -> Iterator[tuple[str, int, pd.DataFrame]]:
    """Yield ``(sample, part, frame)`` one part of one sample at a time (memory bounded by the part).

    ``frame`` is what :func:`load_feature_tables` gives for that part: ``columns`` plus the bookkeeping
    (all columns when None), weights scaled, ``row`` sample-wide (the part's row offset + position).
    """
    cols = _columns_to_read(paths, (), columns)
    for part in feature_parts(paths):
        yield part.sample, part.part, _read_part(part, cols, dtype)


#: rows per frame of :func:`iter_feature_blocks` (the consumers that work event by event: writeback, input plots)
BLOCK_EVENTS = 65_536


def iter_feature_blocks(paths: Sequence[str | Path], columns: Sequence[str] | None = None, dtype=None, *,
                        block_events: int = BLOCK_EVENTS) -> Iterator[tuple[str, int, pd.DataFrame]]:
    """:func:`iter_feature_parts` in frames of at most ``block_events`` rows (memory bounded by the block,
    whatever the events per part): ``(sample, part, frame)``, a part's frames one after the other in row
    order, their rows together those of the part's frame (a part without rows: one empty frame)."""
    if int(block_events) < 1:
        raise ValueError(f"block_events must be positive, got {block_events}")
    cols = _columns_to_read(paths, (), columns)
    for part in feature_parts(paths):
        for frame in _iter_part_blocks(part, cols, dtype, int(block_events)):
            yield part.sample, part.part, frame


def iter_part_blocks(part: FeaturePart, columns: Sequence[str] | None = None, dtype=None, *,
                     block_events: int = BLOCK_EVENTS) -> Iterator[pd.DataFrame]:
    """One part's frames of :func:`iter_feature_blocks` (``part`` one of :func:`feature_parts`; ``columns`` plus
    the bookkeeping, all when None; a column the part lacks: :class:`InputError`)."""
    if int(block_events) < 1:
        raise ValueError(f"block_events must be positive, got {block_events}")
    wanted = None if columns is None else [c for c in dict.fromkeys([*BOOKKEEPING, *columns]) if c != "row"]
    yield from _iter_part_blocks(part, wanted, dtype, int(block_events))


@dataclass(frozen=True)
class TrainingPolicy:
    """The config's ``training`` block as one object (see :func:`hepmva.samples.training_weights`).

    Attributes
    ----------
    negative_weights : {"keep", "zero", "abs"}
    class_balance : bool
    scaler : {"standard", "minmax", "none"}
    """

    negative_weights: str
    class_balance: bool
    scaler: str

    @classmethod
    def from_config(cls, training: dict | None = None) -> TrainingPolicy:
        """From a (possibly partial) ``training`` block; missing keys take the schema's defaults."""
        t = with_defaults("training", training)
        return cls(t["negative_weights"], bool(t["class_balance"]), t["scaler"])

    def weights(self, weight: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Training weights of events with physics weights ``weight`` and labels ``y``, shape (n,)."""
        return training_weights(weight, y, negative_weights=self.negative_weights, class_balance=self.class_balance)

    def fit_scaler(self, X: np.ndarray, w: np.ndarray) -> Scaler:
        """The configured scaler fitted on ``X`` with training weights ``w``."""
        return fit_scaler(X, w, self.scaler)


class StudySplit(NamedTuple):
    """Scaled training and validation arrays of a study (see :func:`study_split`)."""

    X: np.ndarray          # (n_train, n_features), scaled
    y: np.ndarray          # (n_train,)
    w: np.ndarray          # (n_train,) training weights
    X_val: np.ndarray      # (n_val, n_features), scaled with the training scaler
    y_val: np.ndarray      # (n_val,)
    w_val: np.ndarray      # (n_val,) the training-weight policy applied to the validation events
    w_val_physics: np.ndarray  # (n_val,) physics weights of the validation events
    scaler: Scaler


def study_split(feature_tables: Sequence[str | Path], feature_names: Sequence[str], training: dict | None, *,
                n_train: int, n_val: int, seed: int, stream: int, study: str) -> StudySplit:
    """Training events from folds != 0 and validation events from fold 0, randomly capped, scaled.

    The studies (optimizer study, training-methods comparison) use this so that they see the same kind
    of split as the classifiers. ``stream`` separates the random subsamples of different studies.
    """
    policy = TrainingPolicy.from_config(training)
    df = load_feature_tables(feature_tables, feature_names, columns=())
    X_all = df[list(feature_names)].to_numpy(dtype=np.float64)
    y_all = df["label"].to_numpy().astype(np.int64)
    w_all = df["weight"].to_numpy(dtype=np.float64)
    is_val = df["fold"].to_numpy() == 0
    rng = np.random.default_rng([int(seed), int(stream)])
    i_train, i_val = (np.flatnonzero(mask)[subsample_index(int(mask.sum()), int(n), rng)]
                      for mask, n in ((~is_val, n_train), (is_val, n_val)))
    for name, idx in (("training", i_train), ("validation", i_val)):
        if np.unique(y_all[idx]).size < 2:
            raise TrainingError(f"{study}: the {name} events have only one class")
    w_train = policy.weights(w_all[i_train], y_all[i_train])
    w_val = policy.weights(w_all[i_val], y_all[i_val])
    scaler = policy.fit_scaler(X_all[i_train], w_train)
    return StudySplit(scaler.transform(X_all[i_train]), y_all[i_train], w_train, scaler.transform(X_all[i_val]),
                      y_all[i_val], w_val, w_all[i_val], scaler)
