"""The config blocks of issue 11: spectators and apply (schema defaults and semantic checks naming the key)."""

import copy
import re
from pathlib import Path

import pytest
import yaml

from hepmva.config import ConfigError, validate_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def default():
    return yaml.safe_load((ROOT / "config/config.yaml").read_text())


def _with_apply(default, *samples, **block):
    cfg = copy.deepcopy(default)
    cfg["apply"] = {"activate": True, "samples": list(samples), **block}
    return cfg


DATA = {"name": "data", "kind": "data", "files": ["d.root"]}
MC = {"name": "tt", "kind": "mc", "files": ["t.root"], "xsec_pb": 1.0, "weight": "genWeight"}


def test_defaults(default):
    cfg = validate_config(_with_apply(default, DATA, MC))
    assert cfg["spectators"][0]["name"] == "mt_w"
    block = cfg["apply"]
    assert (block["fold_mode"], block["tree"], block["bins"], block["classifiers"]) == ("fold", "hepmva", 20, None)
    data, mc = block["samples"]
    assert data["tree"] == "Events" and mc["sum_weights"] == "auto" and mc["label"] == "background"
    assert mc["variations"] == {} and mc["weight_variations"] == {}
    assert validate_config(default)["apply"]["activate"] is False


@pytest.mark.parametrize("sample, block, key", [
    (DATA | {"weight": "w"}, {}, "apply.samples[0].weight"),
    (DATA | {"weight_variations": {"up": "w"}}, {}, "apply.samples[0]"),
    ({k: v for k, v in MC.items() if k != "xsec_pb"}, {}, "apply.samples[0].xsec_pb"),
    (MC | {"trained_as": "zjets"}, {}, "apply.samples[0].trained_as"),
    (MC | {"trained_as": "ttbar", "fold_mode": "mean"}, {}, "apply.samples[0].fold_mode"),
    (MC | {"weight_variations": {"nominal": "w"}}, {}, "apply.samples[0]"),
    (MC | {"variations": {"up": {"files": ["u.root"]}}, "weight_variations": {"up": "w"}}, {}, "apply.samples[0]"),
    (MC | {"weight_variations": {"up": "__import__('os')"}}, {}, "apply.samples[0].weight_variations.up"),
    (MC | {"selection": "met >"}, {}, "apply.samples[0].selection"),
    (MC | {"kind": "collisions"}, {}, "apply.samples[0].kind"),
    (MC, {"classifiers": ["nope"]}, "apply.classifiers"),
    (MC, {"fold_mode": "avg"}, "apply.fold_mode"),
])
def test_bad_apply_blocks_name_the_key(default, sample, block, key):
    with pytest.raises(ConfigError) as err:
        validate_config(_with_apply(default, sample, **block))
    assert f"config key '{key}" in str(err.value) and "\n" not in str(err.value)


def test_duplicate_apply_sample_names(default):
    with pytest.raises(ConfigError, match="apply.samples\\[1\\].name"):
        validate_config(_with_apply(default, DATA, DATA))


@pytest.mark.parametrize("spectator, key", [
    ({"name": "met", "expr": "met"}, "spectators[0].name"),
    ({"name": "weight", "expr": "met"}, "spectators[0].name"),
    ({"name": "ht", "expr": "sum(jet_pt"}, "spectators[0].expr"),
])
def test_bad_spectators_name_the_key(default, spectator, key):
    cfg = copy.deepcopy(default)
    cfg["spectators"] = [spectator]
    with pytest.raises(ConfigError, match=re.escape(f"config key '{key}'")):
        validate_config(cfg)


def test_missing_apply_files_are_one_line_naming_the_key(default, tmp_path):
    from hepmva.config import check_input_files
    from hepmva.io import InputError

    (tmp_path / "t.root").write_text("")
    mc = MC | {"files": [str(tmp_path / "t.root")], "variations": {"jes_up": {"files": [str(tmp_path / "up_*.root")]}}}
    cfg = validate_config(_with_apply(default, mc))
    with pytest.raises(InputError) as err:
        check_input_files(cfg)
    msg = str(err.value)
    assert "\n" not in msg and "apply sample 'tt' [jes_up] (config key 'apply.samples[0].variations.jes_up.files')" in msg
    assert "up_*.root" in msg
    cfg["apply"]["activate"] = False  # an inactive stage is not checked
    check_input_files(cfg)
