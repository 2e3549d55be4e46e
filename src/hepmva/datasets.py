"""The features tables as arrays: one event table, the training-weight policy, the studies' split.

- :func:`load_feature_tables`: the per-sample tables concatenated, with each event's ``row``;
- :class:`TrainingPolicy`: how physics weights become training weights and which scaler is fitted,
  built once from the config's ``training`` block (defaults from the schema only);
- :func:`study_split`: the capped, scaled training / validation split that the studies use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from hepmva import io
from hepmva.checks import subsample_index
from hepmva.config import with_defaults
from hepmva.errors import InputError, TrainingError
from hepmva.preprocessing import Scaler, fit_scaler
from hepmva.samples import training_weights

__all__ = ["load_feature_tables", "iter_feature_parts", "TrainingPolicy", "StudySplit", "study_split"]


def load_feature_tables(paths: Sequence[str | Path], feature_names: Sequence[str] = ()) -> pd.DataFrame:
    """Concatenate the per-sample feature tables, checking every feature column is there.

    Adds ``row``, the event's position in its sample's table: with ``sample`` it is the key that
    score tables use to refer to an event.
    """
    tables = [io.read_table(p) for p in paths]
    for t in tables:
        t["row"] = np.arange(len(t))
    df = pd.concat(tables, ignore_index=True)
    missing = [f for f in feature_names if f not in df.columns]
    if missing:
        raise InputError(f"features table lacks column(s) {', '.join(missing)}: re-run the features stage")
    return df


def iter_feature_parts(paths: Sequence[str | Path], columns: Sequence[str] | None = None, dtype=None):
    """Yield ``(sample, part, frame)`` one part (a parquet row group) at a time, with ``row`` global in the sample.

    Only ``columns`` (plus ``row``) are read, the feature columns in ``dtype`` when given (weights stay
    float64); memory is bounded by the part.
    """
    import pyarrow.parquet as pq

    for path in paths:
        f = pq.ParquetFile(path)
        offset = 0
        cols = None if columns is None else [c for c in dict.fromkeys(["sample", *columns]) if c != "row"]
        for part in range(f.num_row_groups):
            frame = f.read_row_group(part, columns=cols).to_pandas()
            if dtype is not None:
                for c in frame.columns:
                    if frame[c].dtype.kind == "f" and c not in ("weight", "truth_llr"):
                        frame[c] = frame[c].astype(dtype)
            frame["row"] = np.arange(offset, offset + len(frame))
            offset += len(frame)
            yield (str(frame["sample"].iloc[0]) if len(frame) else Path(path).stem), part, frame


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
    df = load_feature_tables(feature_tables, feature_names)
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
