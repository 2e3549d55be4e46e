"""Input and output: ROOT in (uproot, chunked), tables out (parquet), ROOT friend trees out.

Inputs are TTrees or RNTuples (read the same way, in the same chunks), in local files, globs, or
remote URLs (``root://host//path/file.root``, read by uproot through fsspec-xrootd; install
``hepmva[xrootd]``; a glob in a remote URL is expanded on the server).

Awkward arrays cross to numpy in one place: :func:`hepmva.features` evaluates expressions on the
awkward chunks and returns one numpy value per event; everything after that is numpy/pandas.

A job opens each ROOT file once: :class:`RootFile` answers the entry count, the chunks and the metadata
trees of one open file (:func:`count_entries`, :func:`iterate_tree` and the metadata readers are its thin
wrappers, one open each). Every reader error is a one-line :class:`InputError` that names the file, tree or
branch.
Writers write to a temporary name and rename at the end, so a failure never leaves a partial file.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import glob
import json
import logging
import os
import posixpath
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # the annotations only: awkward is imported where ROOT files are read
    import awkward as ak

from hepmva.errors import InputError  # re-exported: ``hepmva.io.InputError`` stays importable

__all__ = [
    "InputError",
    "DEFAULT_STEP_SIZE",
    "expand_files",
    "is_remote",
    "RootFile",
    "open_tree",
    "iterate_tree",
    "count_entries",
    "parquet_num_rows",
    "read_part_footer",
    "read_metadata_sum",
    "atomic_path",
    "atomic_directory",
    "write_json",
    "write_arrays",
    "read_arrays",
    "remove_stale_temporaries",
    "process_start_time",
    "process_alive",
    "write_table",
    "ParquetChunkWriter",
    "read_table",
    "read_tables",
    "write_ttree",
    "write_friend_tree",
    "TreeChunkWriter",
]

log = logging.getLogger(__name__)

#: chunk size of the readers when none is given: the schema's ``reading.step_size`` default (memory of the
#: branches read per chunk; uproot converts it to entries), repeated here because io sits below the config
#: (tests/test_root_file.py checks that the two agree)
DEFAULT_STEP_SIZE = "4 MB"



def is_remote(path: str) -> bool:
    """True for a URL (``root://``, ``https://``, ...) rather than a local path."""
    return "://" in str(path) and not str(path).startswith("file://")


def _remote_filesystem(url: str):
    """The fsspec filesystem of ``url`` and the path on it; a one-line error without the plugin."""
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)  # no glob expansion here
    except (ImportError, ValueError) as exc:
        protocol = url.split("://", 1)[0]
        raise InputError(
            f"{url}: cannot read {protocol}:// files ({_first_line(exc)}); for root:// install "
            f"fsspec-xrootd and xrootd (pip install 'hepmva[xrootd]')"
        ) from None
    return fs, path


def _expand_remote(url: str) -> list[str]:
    """Check a remote file exists (one cheap stat), or expand a remote glob on the server."""
    fs, path = _remote_filesystem(url)
    prefix = url[: len(url) - len(url.split("://", 1)[1])]  # "root://"
    host = url.split("://", 1)[1].split("/", 1)[0]
    try:
        if glob.has_magic(url.split("://", 1)[1].split("/", 1)[1]):
            # wildcards in the file name only: list its directory once and match the names
            # (fsspec-xrootd's glob misses files at the server's root, which it lists as //f)
            directory, name = posixpath.split(path)
            if glob.has_magic(directory):
                raise InputError(f"{url}: wildcards are supported in the file name only, not in directories")
            fs.invalidate_cache()  # fsspec-xrootd's cached listing of "/" raises FileNotFoundError
            names = sorted(posixpath.basename(str(n).rstrip("/")) for n in fs.ls(directory or "/", detail=False))
            matched = [n for n in names if fnmatch.fnmatchcase(n, name)]
            if not matched:
                raise InputError(f"{url}: no file matches this pattern")
            return [f"{prefix}{host}/{posixpath.join('/' + directory.lstrip('/'), n)}" for n in matched]
        if not fs.exists(path):
            raise InputError(f"{url}: no such file on the server")
    except InputError:
        raise
    except Exception as exc:  # the client raises OSError, FileNotFoundError, timeouts, ...
        raise InputError(f"{url}: cannot reach the file ({type(exc).__name__}: {_first_line(exc)})") from None
    return [url]


def expand_files(patterns: Sequence[str]) -> list[str]:
    """Expand glob patterns into a sorted, de-duplicated list of existing files.

    Local paths and globs are checked on disk; remote URLs (``root://host//dir/f.root``,
    ``root://host//dir/*.root``) on their server, with one cheap request each.

    Raises
    ------
    InputError
        If a pattern matches nothing, a file does not exist, or a server cannot be reached.
    """
    files: list[str] = []
    for pattern in patterns:
        if is_remote(pattern):
            files.extend(_expand_remote(pattern))
        elif glob.has_magic(pattern):
            matched = sorted(glob.glob(pattern, recursive=True))
            if not matched:
                raise InputError(f"{pattern}: no file matches this pattern")
            files.extend(matched)
        else:
            if not os.path.isfile(pattern):
                raise InputError(f"{pattern}: no such file")
            files.append(pattern)
    return list(dict.fromkeys(files))


#: what :class:`RootFile` reads: uproot's TTree and RNTuple behaviours (exact classes)
def _tree_types() -> tuple:
    """uproot's TTree and RNTuple classes (uproot and awkward are imported where ROOT files are read or written,
    not by every job that only reads parquet: a train job does not pay their 0.5 s of imports)."""
    import uproot

    return (uproot.behaviors.TTree.TTree, uproot.behaviors.RNTuple.RNTuple)


class RootFile:
    """One ROOT file opened once (one ``uproot.open``): its trees' entry counts, chunked reads, metadata branches.

    A features or apply part asks a file for its entry count, its events chunk by chunk and, for
    ``xsec_pb`` / ``sum_weights`` given as ``{tree, branch}``, a metadata tree's values; through one
    ``RootFile`` that is one open of the file and one read of each tree's header, where the module functions
    (:func:`count_entries`, :func:`iterate_tree`, :func:`read_metadata_sum`, ...: thin wrappers of this class)
    open it once per question. Local paths and remote URLs (``root://``) alike::

        with io.RootFile(path) as f:
            n = f.num_entries("Events")
            for start, chunk in f.iterate("Events", ["met", "jet_pt"], step_size="4 MB"):
                ...
            xsec = f.metadata_value("Runs", "xsec_pb")

    Raises
    ------
    InputError
        One line naming the file (and the tree or branch): no such file, not a ROOT file, no such tree,
        a tree that is not a TTree/RNTuple, a missing branch (with close matches), an unreadable basket.
    """

    def __init__(self, path: str | os.PathLike):
        import uproot

        self.path = str(path)
        try:
            self._file = uproot.open(self.path)
        except FileNotFoundError:
            raise InputError(f"{self.path}: no such file") from None
        except Exception as exc:  # uproot raises many types for non-ROOT / corrupt files
            raise InputError(
                f"{self.path}: not a readable ROOT file ({type(exc).__name__}: {_first_line(exc)})"
            ) from None
        self._trees: dict = {}

    def __enter__(self) -> "RootFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (its trees are then unreadable); closing twice is harmless."""
        self._trees.clear()
        self._file.close()

    def tree(self, name: str):
        """The TTree or RNTuple at ``name`` (a TDirectory path such as ``analysis/tree``), its header read once.

        Both have ``keys()``, ``num_entries``, ``iterate(...)`` and ``file``, so callers read them alike.
        """
        if name not in self._trees:
            try:
                obj = self._file[name]
            except Exception:
                keys = sorted({k.split(";")[0] for k in self._file.keys(recursive=True)})
                raise InputError(
                    f"{self.path}: no tree '{name}'; the file holds: {', '.join(keys) or 'nothing'}"
                ) from None
            if not isinstance(obj, _tree_types()):
                what = getattr(obj, "classname", type(obj).__name__)
                raise InputError(f"{self.path}: '{name}' is a {what}, not a TTree or an RNTuple")
            self._trees[name] = obj
        return self._trees[name]

    def num_entries(self, tree: str) -> int:
        """Entries of ``tree``, from its header."""
        return int(self.tree(tree).num_entries)

    def branch_names(self, tree: str) -> set[str]:
        """Every name a branch of ``tree`` answers to (full paths and leaf names)."""
        t = self.tree(tree)
        return set(t.keys(full_paths=False)) | set(t.keys())

    def require_branches(self, tree: str, branches: Sequence[str]) -> None:
        """Raise the one-line :class:`InputError` naming the ``branches`` that ``tree`` lacks (with close matches)."""
        available = self.branch_names(tree)
        missing = sorted(set(branches) - available)
        if missing:
            raise InputError(f"{self.path}:{tree}: no branch {', '.join(repr(m) for m in missing)}"
                             f"{_close_matches(missing, available)}; available: "
                             f"{', '.join(sorted(self.tree(tree).keys()))}")

    def iterate(
        self, tree: str, branches: Sequence[str], step_size: int | str = DEFAULT_STEP_SIZE, *,
        entry_start: int | None = None, entry_stop: int | None = None,
    ) -> Iterator[tuple[int, ak.Array]]:
        """Stream ``branches`` of ``tree`` chunk by chunk (entries ``[entry_start, entry_stop)``: all by default).

        Yields
        ------
        entry_start : int
            Index of the first entry of the chunk in the tree.
        chunk : ak.Array
            Record array with one field per requested branch.
        """
        import uproot

        t = self.tree(tree)
        self.require_branches(tree, branches)
        if t.num_entries == 0:
            return
        if isinstance(step_size, str) and is_remote(self.path) and isinstance(t, uproot.behaviors.TTree.TTree):
            step_size = _entries_for(t, branches, step_size)
        try:
            for chunk, report in t.iterate(
                list(branches), step_size=step_size, library="ak", report=True,
                entry_start=entry_start, entry_stop=entry_stop,
            ):
                yield report.tree_entry_start, chunk
        except InputError:
            raise
        except Exception as exc:
            raise InputError(
                f"{self.path}:{tree}: cannot read data ({type(exc).__name__}: {_first_line(exc)})"
            ) from None

    def metadata_values(self, tree: str, branch: str) -> np.ndarray:
        """All values of a scalar ``branch`` of a (small) metadata ``tree``, checked finite."""
        t = self.tree(tree)
        if branch not in t.keys():
            raise InputError(f"{self.path}:{tree}: no branch '{branch}'{_close_matches([branch], t.keys())}; "
                             f"available: {', '.join(sorted(t.keys()))}")
        values = t[branch].array(library="np")
        if values.ndim != 1 or len(values) == 0 or not np.all(np.isfinite(values)):
            raise InputError(f"{self.path}:{tree}/{branch}: expected finite scalar values")
        return values

    def metadata_sum(self, tree: str, branch: str) -> float:
        """The sum of ``branch`` over the entries of the metadata ``tree`` (e.g. ``Runs/genEventSumw``)."""
        return float(np.sum(self.metadata_values(tree, branch)))

    def metadata_value(self, tree: str, branch: str) -> float:
        """A per-file constant (e.g. a cross-section) from ``tree``: every entry must hold the same value."""
        values = np.unique(self.metadata_values(tree, branch)).tolist()
        if len(values) != 1:
            raise InputError(f"{self.path}:{tree}/{branch}: the file's entries disagree on the value ({values}); "
                             f"a per-file constant must be the same in every entry")
        return float(values[0])


def open_tree(path: str, tree: str):
    """Open ``path`` and return the TTree or RNTuple at ``tree`` (a TDirectory path such as ``analysis/tree``).

    The caller must close the returned tree's file (``tree.file.close()``); prefer :class:`RootFile`
    (a context manager) or :func:`iterate_tree`, which do.
    """
    f = RootFile(path)
    try:
        return f.tree(tree)
    except BaseException:
        f.close()
        raise


def _close_matches(missing: Sequence[str], available) -> str:
    """``" (did you mean 'met'?)"`` for the missing names that have a close match, else ``""``."""
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, sorted(available), n=2, cutoff=0.6)
        if close:
            hints.append(f"{' or '.join(repr(c) for c in close)} for {name!r}" if len(missing) > 1
                         else " or ".join(repr(c) for c in close))
    return f" (did you mean {', '.join(hints)}?)" if hints else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


def iterate_tree(
    path: str, tree: str, branches: Sequence[str], step_size: int | str = DEFAULT_STEP_SIZE, *,
    entry_start: int | None = None, entry_stop: int | None = None,
) -> Iterator[tuple[int, ak.Array]]:
    """Stream ``branches`` of ``tree`` in ``path`` chunk by chunk: :meth:`RootFile.iterate` on a file of its own.

    Raises
    ------
    InputError
        Missing file/tree/branch (the message lists the available branches) or a corrupt basket.
    """
    with RootFile(path) as f:
        yield from f.iterate(tree, branches, step_size, entry_start=entry_start, entry_stop=entry_stop)


def count_entries(path: str, tree: str) -> int:
    """Entries of ``tree`` in ``path``, from the header only."""
    with RootFile(path) as f:
        return f.num_entries(tree)


def _entries_for(t, branches: Sequence[str], step_size: str) -> int:
    """Entries per chunk for a memory step size, from the branches' byte counts in the TTree header.

    uproot's own conversion reads basket headers through fsspec-xrootd, which fails on remote
    files (numpy offsets reach the XRootD client: TypeError) with uproot 5.7 / fsspec-xrootd 0.5.
    """
    import uproot

    size = uproot._util.memory_size(step_size)
    per_entry = sum(t[b].uncompressed_bytes for b in branches) / t.num_entries
    return max(1, int(size / max(per_entry, 1.0)))


def read_metadata_sum(paths: Sequence[str], tree: str, branch: str) -> float:
    """Sum ``branch`` of the metadata ``tree`` over all ``paths`` (e.g. ``Runs/genEventSumw``)."""
    total = 0.0
    for p in paths:
        with RootFile(p) as f:
            total += f.metadata_sum(tree, branch)
    return float(total)


def read_metadata_value(paths: Sequence[str], tree: str, branch: str) -> float:
    """Read a per-file constant (e.g. a cross-section) from ``tree``; it must agree across files."""
    values = set()
    for path in paths:
        with RootFile(path) as f:
            values.update(np.unique(f.metadata_values(tree, branch)).tolist())
    if len(values) != 1:
        raise InputError(f"{tree}/{branch}: files disagree on the value ({sorted(values)})")
    return float(values.pop())


#: names of the temporaries written by :func:`atomic_path` (``.<name>.tmp<PID>``) and the train stage
#: (``.fold<k>.tmp<PID>`` directories)
_TEMPORARY = re.compile(r"^\..+\.tmp\d*$")


def remove_stale_temporaries(root: str | Path) -> list[Path]:
    """Remove every temporary file or directory a killed job left under ``root``; return what was removed.

    Call it only when no job is writing under ``root`` (the workflow does, at the start of a run, holding
    Snakemake's lock): a temporary is renamed to its final name when its job succeeds and deleted when it
    fails, so any one found then belongs to a job that was killed.
    """
    removed = []
    root = Path(root)
    if not root.is_dir():
        return removed
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            if _TEMPORARY.match(name):
                p = Path(dirpath) / name
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink(missing_ok=True)
                removed.append(p)
        dirnames[:] = [d for d in dirnames if not _TEMPORARY.match(d)]
    return removed


def process_start_time(pid: int) -> str | None:
    """Start time of process ``pid`` (clock ticks since boot, Linux ``/proc``), or None where unknown.

    With the PID it identifies a process even after the PID is reused.
    """
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_alive(pid: int, start: str | None = None) -> bool:
    """Whether process ``pid`` (started at ``start``, see :func:`process_start_time`) still runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return start is None or process_start_time(pid) in (None, start)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it to ``path`` only if the block succeeds.

    A SIGKILL leaves the temporary (``.<name>.tmp<PID>``) behind; :func:`remove_stale_temporaries` removes it
    at the start of the next run.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary sibling directory; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_json(obj, path: str | Path) -> None:
    """Write ``obj`` as indented JSON, atomically (numpy scalars and arrays as numbers and lists)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")


def write_arrays(arrays: dict, path: str | Path) -> None:
    """Write named numpy arrays (numbers and strings only) to ``path`` (``.npz``), atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of :func:`write_arrays`. Nothing is unpickled (``allow_pickle=False``): a file holding object
    arrays is refused with a one-line error."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except ValueError as e:  # object arrays need pickle
        raise InputError(f"{path}: not a plain-array file ({e}); remove it and rerun the rule that writes it") from e


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` to parquet atomically."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


class ParquetChunkWriter:
    """Write a parquet table chunk by chunk (bounded memory), atomically: the file appears only on success.

    Use as a context manager; :meth:`write` appends a DataFrame whose columns and dtypes match the first, as
    row groups of at most ``row_group_rows`` rows (None: pyarrow's default, up to 1Mi rows); ``options`` go to
    :class:`pyarrow.parquet.ParquetWriter` (e.g. ``use_dictionary``).
    """

    def __init__(self, path: str | Path, *, row_group_rows: int | None = None, **options):
        self.path = Path(path)
        self.row_group_rows = row_group_rows
        self.options = options
        self._atomic = atomic_path(self.path)
        self._writer = None

    def __enter__(self) -> "ParquetChunkWriter":
        self._tmp = self._atomic.__enter__()
        return self

    def write(self, df: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._tmp, table.schema, **self.options)
        self._writer.write_table(table.cast(self._writer.schema), row_group_size=self.row_group_rows)

    def __exit__(self, *exc) -> bool:
        if self._writer is not None:
            self._writer.close()
        return bool(self._atomic.__exit__(*exc))


def parquet_num_rows(path: str | Path) -> int:
    """The rows of a parquet file, from its footer (no data read)."""
    import pyarrow.parquet as pq

    try:
        return int(pq.read_metadata(path).num_rows)
    except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
        raise InputError(f"{path}: not a parquet table ({str(exc).splitlines()[0]})") from None


def read_part_footer(path: str | Path, key: str, *, rows: str, what: str, remedy: str) -> dict:
    """The JSON a stage wrote under ``key`` in a parquet file's footer, checked against the file's row count.

    ``rows`` names the footer's row count; ``what`` / ``remedy`` word the one-line :class:`InputError` (e.g.
    "a features part", "re-run the features stage") of a file that is not such a part or lost rows.
    """
    import pyarrow.parquet as pq

    try:
        md = pq.read_metadata(path)
        meta = json.loads(md.metadata[key.encode()])
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: not {what} ({type(exc).__name__}): {remedy}") from None
    if md.num_rows != meta[rows]:
        raise InputError(f"{path}: {md.num_rows} rows, its footer says {meta[rows]}: {remedy}")
    return meta


def read_table(path: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a parquet table written by :func:`write_table`."""
    return pd.read_parquet(path, columns=list(columns) if columns is not None else None)


def read_tables(paths: Sequence[str | Path], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read and concatenate several parquet tables (e.g. all samples' features)."""
    return pd.concat([read_table(p, columns) for p in paths], ignore_index=True)


def write_ttree(file, name: str, data: dict) -> None:
    """Write ``data`` (name -> numpy array or awkward array/record) as a TTree into an open ``file``.

    uproot >= 5.7 writes an RNTuple for ``file[name] = data``; this always writes a TTree, which every
    ROOT version (and TTree::AddFriend) reads.
    """
    import awkward as ak

    data = {k: v if isinstance(v, ak.Array) else np.asarray(v) for k, v in data.items()}
    types = {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in data.items()}
    file.mktree(name, types).extend(data)


def write_friend_tree(path: str | Path, tree: str, columns: dict[str, np.ndarray]) -> None:
    """Write a flat TTree ``tree`` with ``columns`` (one entry per entry of the parent tree), atomically."""
    import uproot

    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as f:
            write_ttree(f, tree, columns)


class TreeChunkWriter:
    """Write a flat TTree chunk by chunk (memory bounded by the chunk), atomically: the file appears on success.

    ``dtypes`` (branch name -> numpy dtype) fixes the branches; :meth:`write` appends one chunk
    (name -> array, all of one length). A tree with no chunk written is written empty.
    """

    def __init__(self, path: str | Path, tree: str, dtypes: dict):
        self.path, self.tree, self.dtypes = Path(path), tree, {k: np.dtype(v) for k, v in dtypes.items()}
        self._atomic = atomic_path(self.path)

    def __enter__(self) -> "TreeChunkWriter":
        import uproot

        self._tmp = self._atomic.__enter__()
        self._file = uproot.recreate(self._tmp)
        self._ttree = self._file.mktree(self.tree, self.dtypes)
        return self

    def write(self, columns: dict) -> None:
        self._ttree.extend({k: np.asarray(columns[k], dtype=dt) for k, dt in self.dtypes.items()})

    def __exit__(self, *exc) -> bool:
        self._file.close()
        return bool(self._atomic.__exit__(*exc))
