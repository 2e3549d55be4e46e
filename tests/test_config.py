import copy
from pathlib import Path

import pytest
import yaml

from hepmva.config import ConfigError, load_config, validate_config
from hepmva.models import check_classifiers

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


def test_the_schema_read_with_libyaml_is_the_schema_pyyaml_reads():
    """Jobs read the schema with libyaml's loader (fast); it must give the pure-Python loader's dict exactly."""
    from hepmva.config import load_schema

    text = (ROOT / "src/hepmva/config.schema.yaml").read_text()
    assert load_schema() == yaml.load(text, Loader=yaml.SafeLoader)


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


@pytest.mark.parametrize("mutate, line", [
    (lambda c: c.update(folds="two"), "config key 'folds': 'two' is not an integer"),
    (lambda c: c.update(samples=c["samples"][:1]),
     "config key 'samples': has 1 item(s), needs at least 2; need one signal and one background sample"),
    (lambda c: c.update(samples=c["samples"][1:]),
     "config key 'samples': need at least one signal and one background sample, got only ['background']"),
    (lambda c: c["samples"][0].update(xsec_pb=-2.0), "config key 'samples[0].xsec_pb': -2.0 must be > 0"),
    (lambda c: c["samples"][0].update(xsec_pb=float("inf")),
     "config key 'samples[0].xsec_pb': sample 'signal' has inf; it must be a finite number > 0"),
    (lambda c: c["samples"][0].update(xsec_pb=float("nan")),
     "config key 'samples[0].xsec_pb': sample 'signal' has nan; it must be a finite number > 0"),
    (lambda c: c["samples"][0].update(sum_weights="all"),
     "config key 'samples[0].sum_weights': 'all' is not a number > 0 or {tree: ..., branch: ...} or 'auto'"),
    (lambda c: c["classifiers"].append({"name": "m", "kind": "mlp", "params": {"solver": "bfgz"}}),
     "config key 'classifiers[18].params' (m): classifier kind 'mlp': solver='bfgz' is not one of"),
    (lambda c: c["classifiers"].append({"name": "r", "kind": "random_forest", "params": {"n_trees": 3}}),
     "config key 'classifiers[18].params' (r): classifier kind 'random_forest': unknown parameter(s) n_trees"),
    (lambda c: c["classifiers"].append({"name": "r", "kind": "random_forest", "params": {"max_depth": -1}}),
     "config key 'classifiers[18].params' (r): classifier kind 'random_forest': The 'max_depth' parameter"),
    (lambda c: c["reading"].update(chunk=5), "config key 'reading': unknown key(s) chunk; known: entries_per_job, step_size"),
    # xgboost takes any keyword and would ignore a misspelt one at fit time, after the features were built
    (lambda c: c["classifiers"][0]["params"].update(max_depht=3),
     "config key 'classifiers[0].params' (xgboost): classifier kind 'xgboost': xgboost does not know the "
     "parameter(s) max_depht (it would ignore them)"),
    (lambda c: c["classifiers"][0]["params"].update(tree_method="gpu-hist"),
     "config key 'classifiers[0].params' (xgboost): classifier kind 'xgboost': Invalid Input: 'gpu-hist'"),
])
def test_schema_and_semantic_errors_are_one_short_line(default, mutate, line):
    assert len(default["classifiers"]) == 18
    with pytest.raises(ConfigError) as err:  # the Snakefile runs both checks before anything else
        check_classifiers(validate_config(_broken(default, mutate)))
    assert str(err.value).startswith(line) and "\n" not in str(err.value) and len(str(err.value)) < 300


def test_generated_sample_keys_do_not_leak_into_a_users_study(default, tmp_path):
    """A user's --configfile replaces `samples`; nothing of the generated study's truth or selection stays."""
    cfg = validate_config(default)
    assert cfg["truth_llr"] == "llr" and cfg["selection"] is None
    assert all(s["selection"] == "nlep >= 1" for s in cfg["samples"])
    user = _merge(default, {"samples": [
        {"name": "s", "label": "signal", "files": ["s.root"], "xsec_pb": 1.0, "sum_weights": 10.0},
        {"name": "b", "label": "background", "files": ["b.root"], "xsec_pb": 1.0, "sum_weights": 10.0}]})
    cfg = validate_config(user)
    assert cfg["truth_llr"] is None and cfg["selection"] is None
    assert all(s["selection"] is None for s in cfg["samples"])


def test_input_files_are_checked_before_anything_runs(default, tmp_path):
    from hepmva.config import check_input_files
    from hepmva.errors import InputError

    (tmp_path / "a.root").write_bytes(b"")
    cfg = _merge(default, {"samples": [
        {"name": "s", "label": "signal", "files": [str(tmp_path / "a.root")], "xsec_pb": 1.0, "sum_weights": 1.0},
        {"name": "b", "label": "background", "files": [str(tmp_path / "b_*.root"), "root://host//x.root"],
         "xsec_pb": 1.0, "sum_weights": 1.0}]})
    with pytest.raises(InputError, match=r"sample 'b' \(config key 'samples\[1\]\.files'\): .*b_\*\.root: no file"):
        check_input_files(validate_config(cfg))
    check_input_files(validate_config(default))  # generated samples have no files


def test_nested_command_line_values_read_as_snakemake_gives_them(default):
    """``snakemake --config 'training={memory_budget_mb: 10000}'`` reads the mapping with YAML's BaseLoader (every
    scalar a string: snakemake.cli.parse_config); the numbers, booleans and nulls the schema wants are taken."""
    from snakemake.cli import parse_config

    given = parse_config(["training={memory_budget_mb: 10000, class_balance: false}",
                          "evaluation={eff_b: [0.01, 0.2], importance_events: null, n_bootstrap: 50}"])
    assert given["training"]["memory_budget_mb"] == "10000"  # what Snakemake hands over
    cfg = copy.deepcopy(default)
    for key, block in given.items():
        cfg[key] = {**cfg.get(key, {}), **block}
    out = validate_config(cfg)
    assert out["training"]["memory_budget_mb"] == 10000 and out["training"]["class_balance"] is False
    assert out["evaluation"]["eff_b"] == [0.01, 0.2] and out["evaluation"]["importance_events"] is None
    assert out["evaluation"]["n_bootstrap"] == 50
    # a string the schema accepts stays a string; one that reads as nothing it accepts keeps its one-line error
    cfg["training"] = {**cfg["training"], "scaler": "none", "negative_weights": "keep"}
    assert validate_config(cfg)["training"]["scaler"] == "none"
    cfg["training"]["memory_budget_mb"] = "lots"
    with pytest.raises(ConfigError, match="training.memory_budget_mb"):
        validate_config(cfg)
    cfg["training"]["memory_budget_mb"] = "true"  # reads as a boolean, which the schema refuses too
    with pytest.raises(ConfigError, match="training.memory_budget_mb"):
        validate_config(cfg)
