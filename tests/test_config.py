import copy
from pathlib import Path

import pytest
import yaml

from hepmva.config import ConfigError, load_config, validate_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def default():
    return yaml.safe_load((ROOT / "config/config.yaml").read_text())


def test_default_config_validates_and_fills_defaults(default):
    cfg = validate_config(default)
    assert cfg["folds"] == 2
    assert cfg["training"]["negative_weights"] in {"keep", "zero", "abs"}
    sig = cfg["samples"][0]
    assert sig["sum_weights"] == {"tree": "Runs", "branch": "genEventSumw"}
    assert sig["weight"] == "genWeight"


def test_workflow_schema_is_the_package_schema():
    assert (ROOT / "workflow/schemas/config.schema.yaml").read_text() == (
        ROOT / "src/hepmva/config.schema.yaml"
    ).read_text()


def _broken(default, mutate):
    cfg = copy.deepcopy(default)
    mutate(cfg)
    return cfg


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c.pop("luminosity_pb"), "luminosity_pb"),
        (lambda c: c.update(luminosity_pb=-1), "luminosity_pb"),
        (lambda c: c["samples"][1].update(name="signal"), "samples[1].name"),
        (lambda c: c["samples"][1].update(label="bkg"), "samples.1.label"),
        (lambda c: c.update(samples=[s for s in c["samples"] if s["label"] == "signal"] * 2), "samples"),
        (lambda c: c["classifiers"][0].update(kind="tmva"), "classifiers[0].kind"),
        (lambda c: c["features"][0].update(expr="__import__('os')"), "features[0].expr"),
        (lambda c: c["features"][0].update(name="weight"), "features[0].name"),
        (lambda c: c.update(selection="met >"), "selection"),
        (lambda c: c["training"].update(negative_weights="drop"), "training.negative_weights"),
        (lambda c: c["samples"][0]["generate"].update(process="zprime"), "samples[0].generate.process"),
        (lambda c: c["samples"][0].update(files=["x.root"]), "samples[0]"),
    ],
)
def test_errors_name_the_key(default, mutate, key):
    with pytest.raises(ConfigError) as err:
        validate_config(_broken(default, mutate))
    msg = str(err.value)
    assert "\n" not in msg
    assert key in msg or key.replace(".", "[", 1) in msg or key.split(".")[0] in msg


def test_load_config_names_the_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("samples: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(p)
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_config(tmp_path / "missing.yaml")


def _merge(base: dict, over: dict) -> dict:
    """Snakemake's --configfile merge: mappings merge recursively, everything else is replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def test_quick_config_validates_on_top_of_the_default(default):
    quick = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
    cfg = validate_config(_merge(default, quick))
    assert [c["name"] for c in cfg["classifiers"]] == ["xgboost", "mlp-adam", "fisher"]
    assert not cfg["optimizer_study"]["activate"]
