"""A features part is the same table, value for value, as the one main's code wrote before the one-open reader.

The digests below were computed by ``build_feature_part`` at commit 11e5cf3 (before ``io.RootFile``, the
lz4 / byte-stream-split parquet options, the 4 MB default chunks and the generator's 16k-event baskets: the
file then had one basket per branch, the same events) on the same generated file: the default
study's ttbar sample (its features, spectators, selections, generator weight, metadata cross-section and
sum of weights, 3 folds), in several chunks. The parquet bytes differ (codec, encodings); every column's
values, its dtype, the row order and the footer's counts and sums must not.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from hepmva.config import load_config
from hepmva.datasets import PART_METADATA_KEY
from hepmva.generate import write_sample
from hepmva.stages.features import build_feature_part

ROOT = Path(__file__).resolve().parents[1]


def _study(path: str, **sample_keys) -> tuple[dict, dict]:
    cfg = load_config(ROOT / "config" / "config.yaml")
    sample = dict(next(s for s in cfg["samples"] if s["name"] == "ttbar"))
    sample.pop("generate")
    sample.update(files=[path], tree="Events", weight="genWeight", xsec_pb={"tree": "Runs", "branch": "xsec_pb"},
                  sum_weights={"tree": "Runs", "branch": "genEventSumw"})
    sample.update(sample_keys)
    kwargs = dict(features=cfg["features"], folds=3, event_id=cfg["event_id"], selection=cfg["selection"],
                  truth_llr=cfg["truth_llr"], spectators=cfg["spectators"], define=cfg["define"],
                  aliases=cfg["aliases"])
    return sample, kwargs


def part_digest(path: Path) -> dict:
    """sha256 of every column's values (numpy bytes and dtype), in order, and the footer without the file name."""
    table = pq.read_table(path)
    out = {}
    for name in table.column_names:
        col = table[name].combine_chunks()
        if name == "sample":
            values = np.asarray(col.dictionary.to_pylist(), dtype=object)[np.asarray(col.indices)]
            data = "\n".join(values).encode()
        else:
            arr = col.to_numpy()
            data = arr.dtype.str.encode() + arr.tobytes()
        out[name] = hashlib.sha256(data).hexdigest()[:16]
    meta = json.loads(pq.read_metadata(path).metadata[PART_METADATA_KEY.encode()])
    meta.pop("file")
    out["footer"] = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]
    out["rows"] = table.num_rows
    return out


@pytest.fixture(scope="module")
def ttbar_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("reference") / "ttbar.root"
    write_sample(path, "ttbar", 20_000, 7, first_event=101)
    return str(path)


#: (sample keys, part, step_size) -> the digests main's code gave
CASES = {
    "whole file, metadata from Runs, 4 chunks": ({}, {"part": 0, "file_index": 0}, 5000),
    "entry range, sum_weights auto": ({"sum_weights": "auto"}, {"part": 1, "file_index": 2, "entry_start": 3000,
                                                                "entry_stop": 17001}, 4000),
    "whole file, one chunk, numbers": ({"xsec_pb": 2.5, "sum_weights": 1234.5}, {"part": 0, "file_index": 0},
                                       "50 MB"),
}

REFERENCE = {
    'whole file, metadata from Runs, 4 chunks': {
        'nlep': '713d6934ca002a1e', 'njet': 'cc29f22d4d76f73c', 'met': 'a053a68ee3a5041c',
        'lep1_pt': '8289444c249e550d', 'lep1_abseta': '0257918fcf25aa32', 'jet1_pt': '746100a803aed76f',
        'jet2_pt': 'a41619dc1fd756b0', 'mjj': '1919bd577ba7b3e5', 'dphi_jj': '261985bad314ef3d',
        'deta_jj': '39781d4567d15970', 'sample': '8d042d3a6c5d9c96', 'label': '887cc636c5475d8c',
        'generator_weight': '5d3c415a5050f0de', 'event': 'd289cd7e4b35bfe3', 'fold': '4c9e81ce849ffef1',
        'file_index': 'da49afef88cc01e6', 'entry': '95a0e596de3c38fa', 'mt_w': '9610776da73a264b',
        'truth_llr': 'a4179d08f26fff69', 'footer': 'a06dd61023f73415', 'rows': 14998,
    },
    'entry range, sum_weights auto': {
        'nlep': 'bf57472e36287120', 'njet': 'a092cda230e5b3da', 'met': '46c1517426de7cc3',
        'lep1_pt': 'b67871762aaf4bb1', 'lep1_abseta': '3957f707075069a2', 'jet1_pt': '496df9981f09dda4',
        'jet2_pt': '6afe0fedfed9bdc9', 'mjj': '3845f32a967ff1b9', 'dphi_jj': '72784b8e389d4a93',
        'deta_jj': 'e3d10585bb55b63f', 'sample': 'a0f00ad85bc0b62e', 'label': 'f9869f07d3a70599',
        'generator_weight': '4df22aac0d5916c3', 'event': '844d016260558cdd', 'fold': '302a389787766563',
        'file_index': '30d921d10b4d2626', 'entry': 'a2359685eb67367d', 'mt_w': '63450239c5b9baf6',
        'truth_llr': 'c4fede77ad711cb3', 'footer': '000a122f708bed6b', 'rows': 10449,
    },
}
#: one chunk instead of four, the cross-section and the sum of weights as numbers: the same columns, another footer
REFERENCE["whole file, one chunk, numbers"] = {**REFERENCE["whole file, metadata from Runs, 4 chunks"],
                                               "footer": "699ac9c1a58dba37"}
#: The digests above were computed on a CPU with AVX-512 (numpy's X86_V4 loops). numpy's exp / log / cos loops
#: for AVX2 (X86_V3) differ in the last bit for some inputs, so the two columns computed with them (mjj: cosh and
#: cos of the jets; truth_llr: the generator's log densities) have other digests there: these, computed by
#: 11e5cf3's code on an AVX2-only AMD EPYC (2026-12-02). Every other column is the same on both.
AVX2_DIGESTS = {
    "whole file, metadata from Runs, 4 chunks": {"mjj": "6bfc3ca593c0d2dd", "truth_llr": "160dcf8f38119e3a"},
    "entry range, sum_weights auto": {"mjj": "a520ed44e23bbf48", "truth_llr": "73ebdd81e3c516a4"},
}
AVX2_DIGESTS["whole file, one chunk, numbers"] = AVX2_DIGESTS["whole file, metadata from Runs, 4 chunks"]


@pytest.mark.parametrize("case", list(CASES))
def test_part_is_the_table_main_wrote(ttbar_file, tmp_path, case):
    keys, part, step = CASES[case]
    sample, kwargs = _study(ttbar_file, **keys)
    out = tmp_path / "part.parquet"
    build_feature_part(sample, {**part, "file": ttbar_file}, step_size=step, output=out, **kwargs)
    assert part_digest(out) in (REFERENCE[case], {**REFERENCE[case], **AVX2_DIGESTS[case]})
