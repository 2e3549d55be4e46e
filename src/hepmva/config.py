"""Load and validate a study configuration.

The YAML is validated against the JSON schema shipped with the package (the workflow validates
against the same file: ``workflow/schemas/config.schema.yaml`` links to it), defaults from the
schema are filled in, then semantic checks run (unique names, both classes present, known
classifier kinds, parseable expressions). Every error is a one-line :class:`ConfigError` naming
the offending key.

Python users::

    from hepmva.config import load_config
    config = load_config("config/config.yaml")
"""

from __future__ import annotations

import copy
import functools
import math
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hepmva.errors import ConfigError  # re-exported: ``hepmva.config.ConfigError`` stays importable
from hepmva.errors import InputError
from hepmva.io import expand_files, is_remote
from hepmva.samples import BOOKKEEPING_COLUMNS

if TYPE_CHECKING:
    import jsonschema

__all__ = ["ConfigError", "load_config", "load_schema", "validate_config", "with_defaults", "schema_default",
           "check_input_files", "sample_by_name", "config_definitions"]



def load_schema() -> dict:
    """Return the configuration JSON schema shipped with the package (a fresh copy)."""
    return copy.deepcopy(_schema())


@functools.cache
def _schema() -> dict:
    text = resources.files("hepmva").joinpath("config.schema.yaml").read_text()
    # libyaml's safe loader where PyYAML has it: every job reads the schema's defaults at import, and the pure
    # Python loader takes ~60 ms of it (libyaml ~6 ms; tests/test_config.py: the same dict)
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def schema_default(path: str) -> Any:
    """The schema's default of the config key ``path`` (dotted, e.g. ``"unsupervised.anomaly.max_eval"``).

    Stage functions take their keyword defaults from here, so code and schema cannot disagree.
    """
    node = _schema()
    for key in path.split("."):
        try:
            node = node["properties"][key]
        except KeyError:
            raise KeyError(f"the config schema has no key '{path}'") from None
    if "default" not in node:
        raise KeyError(f"the config schema gives no default for '{path}'")
    return copy.deepcopy(node["default"])


def _path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in error.absolute_path]
    out = ""
    for p in parts:
        out += p if p.startswith("[") or not out else "." + p
    return out or "<top level>"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_TYPE_NAMES = {"integer": "an integer", "number": "a number", "string": "a string", "object": "a mapping",
               "array": "a list", "boolean": "true or false", "null": "null"}


def _schema_message(err: jsonschema.ValidationError) -> str:
    """One short line for a schema violation (jsonschema's own message repeats the whole offending value)."""
    v, value, inst = err.validator, err.validator_value, err.instance
    if v == "type":
        types = value if isinstance(value, list) else [value]
        return f"{_short(inst)} is not {' or '.join(_TYPE_NAMES.get(t, t) for t in types)}"
    if v in ("minItems", "maxItems"):
        bound = "at least" if v == "minItems" else "at most"
        what = "; need one signal and one background sample" if _path(err) == "samples" else ""
        return f"has {len(inst)} item(s), needs {bound} {value}{what}"
    if v == "enum":
        return f"{_short(inst)} is not one of {', '.join(map(str, value))}"
    if v == "required":
        missing = [k for k in value if isinstance(inst, dict) and k not in inst]
        return f"missing required key(s) {', '.join(missing)}"
    if v == "additionalProperties":
        extra = sorted(set(inst) - set(err.schema.get("properties", {}))) if isinstance(inst, dict) else []
        known = sorted(err.schema.get("properties", {}))
        return f"unknown key(s) {', '.join(extra)}; known: {', '.join(known)}"
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[v]
        return f"{_short(inst)} must be {op} {value}"
    if v in ("oneOf", "anyOf"):
        return f"{_short(inst)} is not {' or '.join(_describe(sub) for sub in value)}"
    return f"{_short(inst)}: {err.message.splitlines()[0][:120]}"


def _describe(sub: dict) -> str:
    """A few words for one alternative of a oneOf (a number > 0, {tree: ..., branch: ...}, 'auto')."""
    if "const" in sub:
        return repr(sub["const"])
    if "$ref" in sub:
        return "{tree: ..., branch: ...}" if sub["$ref"].endswith("metadata_ref") else sub["$ref"].split("/")[-1]
    words = _TYPE_NAMES.get(sub.get("type"), str(sub.get("type", "a value")))
    if "exclusiveMinimum" in sub:
        words += f" > {sub['exclusiveMinimum']}"
    return words


def _fill_defaults(instance: Any, schema: dict, root: dict) -> None:
    """Fill schema defaults into ``instance`` in place (objects and arrays of objects)."""
    if "$ref" in schema:
        ref = schema["$ref"].split("/")[1:]
        target = root
        for key in ref:
            target = target[key]
        schema = target
    if isinstance(instance, dict):
        for key, sub in schema.get("properties", {}).items():
            if key not in instance and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
            if key in instance:
                _fill_defaults(instance[key], sub, root)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for item in instance:
            _fill_defaults(item, schema["items"], root)


def with_defaults(key: str, block: dict | None = None) -> dict:
    """The config section ``key`` (e.g. ``"training"``) with the schema's defaults filled in.

    The schema is the one source of defaults: stage functions called from Python with a partial
    block (or none) get the same values as a validated config.
    """
    schema = load_schema()
    try:
        sub = schema["properties"][key]
    except KeyError:
        raise KeyError(f"the config schema has no section '{key}'") from None
    block = copy.deepcopy(dict(block or {}))
    _fill_defaults(block, sub, schema)
    return block


def validate_config(config: dict) -> dict:
    """Validate ``config`` (schema + semantics), fill defaults, and return a new dict.

    Raises
    ------
    ConfigError
        One line naming the key that is wrong.
    """
    if not isinstance(config, dict):
        raise ConfigError("config: the top level must be a mapping of keys to values")
    import jsonschema  # here, not at the top: jobs that only read the schema's defaults skip its ~0.1 s import

    schema = load_schema()
    config = copy.deepcopy(config)
    validator = jsonschema.Draft202012Validator(schema)
    _read_command_line_strings(config, validator)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        raise ConfigError(f"config key '{_path(err)}': {_schema_message(err)}")
    _fill_defaults(config, schema, schema)
    _check_semantics(config)
    return config


def _scalar(text: str) -> Any:
    """What YAML makes of ``text`` when it is a number, a boolean or null (``1e-3`` too, which YAML 1.1 keeps as a
    string); ``text`` itself otherwise."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "+inf", "infinity") else text
        except ValueError:
            return text
    return value if value is None or isinstance(value, (bool, int, float)) else text


def _read_command_line_strings(config: dict, validator) -> None:
    """Snakemake reads a nested ``--config`` value (``--config 'training={memory_budget_mb: 10000}'``) with YAML's
    BaseLoader, which makes every scalar a string. Where the schema refuses such a string and accepts the number,
    boolean or null it reads as, take that value (in place); every other string is left to the validation's error.
    """
    for _ in range(10_000):  # one value per pass: a fixed point of at most every scalar of the config
        for err in validator.iter_errors(config):
            if not isinstance(err.instance, str) or not err.absolute_path:
                continue
            value = _scalar(err.instance)
            if isinstance(value, str):
                continue
            *parents, key = list(err.absolute_path)
            target = config
            for k in parents:
                target = target[k]
            target[key] = value
            if any(list(e.absolute_path)[:len(err.absolute_path)] == list(err.absolute_path)
                   for e in validator.iter_errors(config)):
                target[key] = err.instance  # not what the schema wants either: the string's error stands
                continue
            break
        else:
            return


def _unique(items: list[dict], what: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item["name"] in seen:
            raise ConfigError(f"config key '{what}[{i}].name': duplicate name '{item['name']}'")
        seen.add(item["name"])


def _check_semantics(config: dict) -> None:
    definitions = config_definitions(config)

    def compile_expression(text: str):
        from hepmva.features import compile_expression  # awkward: imported by the jobs that evaluate expressions

        return compile_expression(text, definitions)

    _unique(config["samples"], "samples")
    _unique(config["features"], "features")
    _unique(config["classifiers"], "classifiers")
    labels = {s["label"] for s in config["samples"]}
    if labels != {"signal", "background"}:
        raise ConfigError(
            f"config key 'samples': need at least one signal and one background sample, got only {sorted(labels)}"
        )
    if config.get("truth_llr") == "auto":  # the generator's exact llr, only when every sample is generated
        config["truth_llr"] = "llr" if all("generate" in s for s in config["samples"]) else None
    for i, s in enumerate(config["samples"]):
        key = f"samples[{i}]"
        if "files" not in s and "generate" not in s:
            raise ConfigError(f"config key '{key}': sample '{s['name']}' needs 'files' or 'generate'")
        if "files" in s and "generate" in s:
            raise ConfigError(f"config key '{key}': sample '{s['name']}' has both 'files' and 'generate'")
        if "generate" in s:
            proc = s["generate"]["process"]
            from hepmva.generate import PROCESSES  # scipy, uproot: only where samples are generated

            if proc not in PROCESSES:
                raise ConfigError(
                    f"config key '{key}.generate.process': unknown process '{proc}'; "
                    f"known: {', '.join(sorted(PROCESSES))}"
                )
        for sub in ("xsec_pb", "sum_weights"):
            if sub not in s:
                if "generate" in s:
                    s[sub] = {"tree": "Runs", "branch": {"xsec_pb": "xsec_pb", "sum_weights": "genEventSumw"}[sub]}
                    if s.get("weight") is None:
                        s["weight"] = "genWeight"
                else:
                    raise ConfigError(f"config key '{key}.{sub}': missing for sample '{s['name']}'")
            value = s[sub]
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not (
                    math.isfinite(value) and value > 0):
                raise ConfigError(
                    f"config key '{key}.{sub}': sample '{s['name']}' has {value!r}; it must be a finite number > 0"
                )
        for sub in ("selection", "weight"):
            if s.get(sub):
                _check_expr(s[sub], f"{key}.{sub}", compile_expression)
    if config.get("selection"):
        _check_expr(config["selection"], "selection", compile_expression)
    for i, f in enumerate(config["features"]):
        _check_expr(f["expr"], f"features[{i}].expr", compile_expression)
    for i, name in enumerate(f["name"] for f in config["features"]):
        if name in BOOKKEEPING_COLUMNS:
            raise ConfigError(f"config key 'features[{i}].name': '{name}' is reserved for bookkeeping columns")
    _check_spectators_and_apply(config, compile_expression, BOOKKEEPING_COLUMNS)


def _check_spectators_and_apply(config: dict, compile_expression, reserved) -> None:
    """Spectators: unique, not a feature or bookkeeping name. Apply samples: names, kinds, references."""
    names = {f["name"] for f in config["features"]}
    for i, sp in enumerate(config.get("spectators", [])):
        key = f"spectators[{i}]"
        if sp["name"] in names or sp["name"] in reserved:
            raise ConfigError(f"config key '{key}.name': '{sp['name']}' is already a feature or a bookkeeping column")
        names.add(sp["name"])
        _check_expr(sp["expr"], f"{key}.expr", compile_expression)
    block = config.get("apply", {})
    classifiers = {c["name"] for c in config["classifiers"]}
    for name in block.get("classifiers") or []:
        if name not in classifiers:
            raise ConfigError(f"config key 'apply.classifiers': no classifier named '{name}'; known: {', '.join(sorted(classifiers))}")
    training = {s["name"] for s in config["samples"]}
    _unique(block.get("samples", []), "apply.samples")
    for i, s in enumerate(block.get("samples", [])):
        key = f"apply.samples[{i}]"
        if s["kind"] == "data":
            for sub in ("weight", "xsec_pb", "trained_as"):
                if s.get(sub) is not None:
                    raise ConfigError(f"config key '{key}.{sub}': sample '{s['name']}' is data (kind: data has unit weights)")
            if s.get("variations") or s.get("weight_variations"):
                raise ConfigError(f"config key '{key}': data sample '{s['name']}' cannot have variations")
        elif "xsec_pb" not in s:
            raise ConfigError(f"config key '{key}.xsec_pb': missing for mc sample '{s['name']}'")
        if s.get("trained_as") is not None:
            if s["trained_as"] not in training:
                raise ConfigError(f"config key '{key}.trained_as': no training sample '{s['trained_as']}'; "
                                  f"known: {', '.join(sorted(training))}")
            if s.get("fold_mode") == "mean":
                raise ConfigError(f"config key '{key}.fold_mode': sample '{s['name']}' is a trained process "
                                  "(trained_as): only fold mode 'fold' leaves every event to a model that did not train on it")
        both = set(s.get("variations", {})) & set(s.get("weight_variations", {}))
        if both or "nominal" in set(s.get("variations", {})) | set(s.get("weight_variations", {})):
            raise ConfigError(f"config key '{key}': variation names must be unique and not 'nominal' "
                              f"({', '.join(sorted(both)) or 'nominal'})")
        for sub in ("selection", "weight"):
            if s.get(sub):
                _check_expr(s[sub], f"{key}.{sub}", compile_expression)
        for var, text in s.get("weight_variations", {}).items():
            _check_expr(text, f"{key}.weight_variations.{var}", compile_expression)


def config_definitions(config: dict):
    """The config's ``define:`` and ``aliases:`` blocks, checked and compiled (:class:`hepmva.features.Definitions`)."""
    define, aliases = config.get("define") or {}, config.get("aliases") or {}
    try:
        from hepmva.features import make_definitions

        return make_definitions(define, aliases)
    except ValueError as exc:
        msg = str(exc)
        key = next((f"{block}.{name}" for block, names in (("define", define), ("aliases", aliases))
                    for name in names if f"{name!r}" in msg.split(":")[0]), "define")
        raise ConfigError(f"config key '{key}': {exc}") from None


def _check_expr(text: str, key: str, compile_expression) -> None:
    try:
        compile_expression(text)
    except ValueError as exc:
        raise ConfigError(f"config key '{key}': {exc}") from None


def check_input_files(config: dict) -> None:
    """Check that every sample's ``files`` exist (plain paths) or match something (globs), before anything runs;
    with ``apply.activate``, the apply samples' and their tree variations' too.

    Remote files (``root://``, ``https://`` ...) are checked when they are read.

    Raises
    ------
    InputError
        One line naming the sample, its config key and the file or pattern.
    """
    keyed = [(f"sample '{s['name']}'", f"samples[{i}].files", s.get("files", [])) for i, s in enumerate(config["samples"])]
    apply = config.get("apply") or {}
    if apply.get("activate"):
        for i, s in enumerate(apply.get("samples", [])):
            keyed.append((f"apply sample '{s['name']}'", f"apply.samples[{i}].files", s["files"]))
            keyed += [(f"apply sample '{s['name']}' [{v}]", f"apply.samples[{i}].variations.{v}.files", spec["files"])
                      for v, spec in (s.get("variations") or {}).items()]
    for what, key, patterns in keyed:
        for pattern in patterns:
            if is_remote(pattern):
                continue
            try:
                expand_files([pattern])
            except InputError as exc:
                raise InputError(f"{what} (config key '{key}'): {exc}") from None


def load_config(path: str | Path) -> dict:
    """Read a YAML config file, validate it and fill defaults.

    Raises
    ------
    ConfigError
        If the file is missing, is not YAML, or fails validation (message names file and key).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    try:
        return validate_config(config)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def sample_by_name(config: dict, name: str) -> dict:
    """Return the sample block named ``name``."""
    for s in config["samples"]:
        if s["name"] == name:
            return s
    raise ConfigError(f"config key 'samples': no sample named '{name}'")
