"""Experiment specs: TOML files under ``experiments/`` that declare a study as data.

A spec has these sections (every key optional unless noted; defaults below)::

    experiment = "demo_mlp"                  # MLflow experiment name (default: the file's stem)
    description = "..."
    [dataset]   root, sizes (list; "8k"/"25k"/"45k" or "small"/"medium"/"large"), subset, genres (list),
                test_fraction (feature tables only), seed
    [input]     kinds = ["features", "autoencoder"] (the MLP study) or ["mels"] (the CNN study)
    [model]     family = "keras_mlp" | "sklearn_mlp" | the CNN family   (required)
    [search]    n_candidates, folds, seed, early_stopping, patience, validation_fraction,
                halving, halving_eta, halving_min_fraction
    [search.space]  one list of values per model hyper-parameter (sampled without replacement)
    [evaluation] baselines, refit_and_test, register
    [compute]   n_jobs (0 = all cores), parallel = "processes" | "threads" | "none"

A study may own more sections (the MLP study: ``[autoencoder]``); it reads and validates them with
:meth:`Spec.section`. ``model.family`` picks the study function (:data:`STUDIES`).
Overrides (``--set search.folds=3``) are dotted keys whose values are parsed as TOML.
Every problem raises ``GenreLabError`` naming the spec file and the key.
"""
from __future__ import annotations

import copy
import importlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import GenreLabError

#: model.family → "module:function" running the study; imported only when a spec runs.
STUDIES = {
    "keras_mlp": "core.study.runner:run_mlp_study",
    "sklearn_mlp": "core.study.runner:run_mlp_study",
    "keras_cnn": "core.study.cnn_study:run_cnn_study",
}

_MISSING = object()

#: Common keys: (section, key) → (accepted types, default). Sections not listed belong to a study.
COMMON_KEYS: dict[tuple[str, str], tuple[tuple[type, ...], Any]] = {
    ("", "experiment"): ((str,), None),
    ("", "description"): ((str,), ""),
    ("dataset", "root"): ((str,), None),
    ("dataset", "sizes"): ((list,), None),
    ("dataset", "subset"): ((str,), None),
    ("dataset", "genres"): ((list,), None),
    ("dataset", "test_fraction"): ((float,), 0.2),
    ("dataset", "seed"): ((int,), 0),
    ("input", "kinds"): ((list,), ["features"]),
    ("model", "family"): ((str,), _MISSING),
    ("search", "n_candidates"): ((int,), 10),
    ("search", "folds"): ((int,), 5),
    ("search", "seed"): ((int,), 0),
    ("search", "early_stopping"): ((bool,), False),
    ("search", "patience"): ((int,), 10),
    ("search", "validation_fraction"): ((float,), 0.1),
    ("search", "halving"): ((bool,), False),
    ("search", "halving_eta"): ((int,), 3),
    ("search", "halving_min_fraction"): ((float,), 1 / 9),
    ("search", "space"): ((dict,), {}),
    ("evaluation", "baselines"): ((bool,), True),
    ("evaluation", "refit_and_test"): ((bool,), True),
    ("evaluation", "register"): ((bool,), True),
    ("compute", "n_jobs"): ((int,), 0),
    ("compute", "parallel"): ((str,), "processes"),
}
COMMON_SECTIONS = {s for s, _ in COMMON_KEYS if s}
CHOICES = {("compute", "parallel"): ("processes", "threads", "none")}


@dataclass
class Spec:
    """A validated spec: ``path``, ``data`` (the TOML as a dict, overrides applied) and typed getters."""

    path: Path
    data: dict
    overrides: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.data.get("experiment") or self.path.stem

    @property
    def family(self) -> str:
        return self.get("model.family")

    def get(self, dotted: str) -> Any:
        """A common key's value or its default, e.g. ``spec.get("search.folds")``."""
        section, _, key = dotted.rpartition(".")
        types, default = COMMON_KEYS[(section, key)]
        value = (self.data.get(section, {}) if section else self.data).get(key, default)
        return copy.deepcopy(value)

    def section(self, name: str, defaults: dict[str, Any]) -> dict[str, Any]:
        """A study-owned section merged over ``defaults``; unknown keys or wrong types raise."""
        given = self.data.get(name, {})
        if not isinstance(given, dict):
            raise self.error(name, "must be a table")
        for key, value in given.items():
            if key not in defaults:
                raise self.error(f"{name}.{key}", f"unknown key (known: {', '.join(defaults)})")
            default = defaults[key]
            if default is not None and not _type_ok(value, (type(default),)):
                raise self.error(f"{name}.{key}", f"expected {type(default).__name__}, got {value!r}")
        return {**defaults, **given}

    def error(self, key: str, problem: str) -> GenreLabError:
        return GenreLabError(f"{self.path}: {key}: {problem}")

    def to_toml_dict(self) -> dict:
        """The spec as data (logged as an artifact of the study run)."""
        return copy.deepcopy(self.data)


def load_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Spec:
    """Read, override and validate a spec file. Raises GenreLabError naming the file and the key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GenreLabError(f"{path}: spec file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise GenreLabError(f"{path}: not valid TOML ({err})") from None
    for item in overrides:
        apply_override(data, item, path)
    spec = Spec(path=path, data=data, overrides=list(overrides))
    validate(spec)
    return spec


def apply_override(data: dict, item: str, path: Path) -> None:
    """Set ``a.b.c=value`` in ``data``; the value is parsed as TOML, else taken as a plain string."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise GenreLabError(f"{path}: --set {item!r}: expected key=value")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise GenreLabError(f"{path}: --set {key}: {part} is not a table")
    node[parts[-1]] = value


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return True  # TOML writes 1 for 1.0
    if bool not in types and isinstance(value, bool):
        return False
    return isinstance(value, types)


def validate(spec: Spec) -> None:
    """Check the common sections: known keys, types, choices, ranges, a known family and search space."""
    data = spec.data
    for key, value in data.items():
        if not isinstance(value, dict) and ("", key) not in COMMON_KEYS:
            raise spec.error(key, "unknown top-level key")
    for section in COMMON_SECTIONS:
        if section not in data:
            continue
        if not isinstance(data[section], dict):
            raise spec.error(section, "must be a table")
        for key in data[section]:
            if (section, key) not in COMMON_KEYS:
                known = ", ".join(k for s, k in COMMON_KEYS if s == section)
                raise spec.error(f"{section}.{key}", f"unknown key (known: {known})")
    for (section, key), (types, default) in COMMON_KEYS.items():
        holder = data.get(section, {}) if section else data
        if key not in holder:
            if default is _MISSING:
                raise spec.error(f"{section}.{key}", "required")
            continue
        if not _type_ok(holder[key], types):
            raise spec.error(f"{section}.{key}" if section else key,
                             f"expected {types[0].__name__}, got {holder[key]!r}")
        if (section, key) in CHOICES and holder[key] not in CHOICES[(section, key)]:
            raise spec.error(f"{section}.{key}", f"must be one of {', '.join(CHOICES[(section, key)])}")
    if spec.family not in STUDIES:
        raise spec.error("model.family", f"unknown family {spec.family!r} (known: {', '.join(STUDIES)})")
    for key in ("n_candidates", "folds", "halving_eta", "patience"):
        minimum = 2 if key in ("folds", "halving_eta") else 1
        if spec.get(f"search.{key}") < minimum:
            raise spec.error(f"search.{key}", f"must be >= {minimum}")
    if not 0 < spec.get("search.halving_min_fraction") <= 1:
        raise spec.error("search.halving_min_fraction", "must be in (0, 1]")
    for dotted in ("search.validation_fraction", "dataset.test_fraction"):
        if not 0 < spec.get(dotted) < 0.5:
            raise spec.error(dotted, "must be in (0, 0.5)")
    for dotted in ("dataset.sizes", "dataset.genres", "input.kinds"):
        value = spec.get(dotted)
        if value is not None and (not value or not all(isinstance(v, str) for v in value)):
            raise spec.error(dotted, "must be a non-empty list of strings")
    for name, values in spec.get("search.space").items():
        if not isinstance(values, list) or not values:
            raise spec.error(f"search.space.{name}", "must be a non-empty list of values")


def study_function(spec: Spec):
    """The function that runs ``spec``'s study (imported now, so heavy imports stay lazy)."""
    module, _, function = STUDIES[spec.family].partition(":")
    try:
        return getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError):
        raise spec.error("model.family", f"{spec.family!r} needs {STUDIES[spec.family]}, "
                                         "which is not available in this checkout") from None
