"""Experiment specs: TOML files under ``experiments/`` that declare a study as data.

Every table of a spec is one dataclass below (or one a model family or input kind declares): its
fields are the keys, their defaults the defaults, their type hints the accepted types, and its
``__post_init__`` the range checks. :func:`load_spec` checks everything once, before anything runs,
and every problem is one line naming the file and the key::

    experiment = "demo_mlp"        # MLflow experiment name (default: the file's stem)
    description = "..."
    [dataset]     DatasetSection      which tracks
    [input]       InputSection        kinds = ["features", "autoencoder"] | ["mels"] | ...
    [model]       ModelSection        family = "keras_mlp" | "sklearn_mlp" | "keras_cnn"   (required)
    [search]      SearchSection       folds, candidates, early stopping, successive halving
    [search.space]                    one list of values per hyper-parameter of the family
    [evaluation]  EvaluationSection   baselines, refit on training+validation and test, register
    [compute]     ComputeSection      local processes or a Dask scheduler
    [<family or input section>]       e.g. [cnn], [mels], [autoencoder]: declared by its module

Overrides (``--set search.folds=3``) are dotted keys whose values are parsed as TOML.
"""
from __future__ import annotations

import copy
import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.devices import DEVICES, PRECISIONS
from core.errors import GenreLabError, require
from core.files import read_toml
from core.study.families import FAMILIES, family, family_sections


@dataclass
class DatasetSection:
    root: str | None = None                 # dataset root (``--data`` and GENRELAB_DATA override it)
    sizes: list[str] | None = None          # "8k"/"25k"/"45k" or "small"/"medium"/"large": one search each
    subset: str | None = None               # one FMA subset instead of sizes
    genres: list[str] | None = None         # keep only these top genres
    test_fraction: float = 0.2              # test split drawn for a --features table without one
    seed: int = 0

    def __post_init__(self):
        require(0 < self.test_fraction < 0.5, "test_fraction: must be in (0, 0.5)")
        for name in ("sizes", "genres"):
            require(getattr(self, name) is None or len(getattr(self, name)) > 0, f"{name}: must not be empty")


@dataclass
class InputSection:
    kinds: list[str] = field(default_factory=lambda: ["features"])

    def __post_init__(self):
        require(len(self.kinds) > 0 and len(set(self.kinds)) == len(self.kinds), "kinds: a list of distinct kinds")


@dataclass
class ModelSection:
    family: str = ""

    def __post_init__(self):
        require(bool(self.family), "family: required")
        require(self.family in FAMILIES, f"family: unknown {self.family!r} (known: {', '.join(FAMILIES)})")


@dataclass
class SearchSection:
    n_candidates: int = 10                  # drawn without replacement from the space (all if fewer)
    folds: int = 5
    seed: int = 0
    group_by: str = "track"                 # "artist": an artist's tracks never straddle a fold
    early_stopping: bool = False            # on an inner slice of each fit's training rows
    patience: int = 10
    validation_fraction: float = 0.1        # size of that inner slice
    early_stopping_min_tracks: int = 0      # a search whose slice would hold fewer tracks trains to its epochs
    halving: bool = False                   # successive halving over candidates (needs epochs in the space
    halving_eta: int = 3                    #   or the family's section)
    halving_min_fraction: float = 1 / 9
    carry: int = 0                          # >0: a larger dataset size's search takes the smaller size's
                                            #   best ``carry`` candidates instead of drawing its own
    space: dict[str, list] = field(default_factory=dict)

    def __post_init__(self):
        require(self.n_candidates >= 1, "n_candidates: must be >= 1")
        require(self.folds >= 2, "folds: must be >= 2")
        require(self.seed >= 0, "seed: must be >= 0")
        require(self.group_by in ("track", "artist"), "group_by: must be track or artist")
        require(self.patience >= 1, "patience: must be >= 1")
        require(0 < self.validation_fraction < 0.5, "validation_fraction: must be in (0, 0.5)")
        require(self.early_stopping_min_tracks >= 0, "early_stopping_min_tracks: must be >= 0")
        require(self.halving_eta >= 2, "halving_eta: must be >= 2")
        require(0 < self.halving_min_fraction <= 1, "halving_min_fraction: must be in (0, 1]")
        require(self.carry >= 0, "carry: must be >= 0 (0: every search draws its own candidates)")
        for name, values in self.space.items():
            require(isinstance(values, list) and len(values) > 0, f"space.{name}: a non-empty list of values")


@dataclass
class EvaluationSection:
    baselines: bool = True                  # FMA paper classifiers on each table (table families)
    knn_k: int | None = None                # kNN baseline's k (default: follows the training-set size)
    refit_and_test: bool = True             # refit the best candidate, score the test split once
    register: bool = True                   # register the final models in the MLflow registry
    promote: str = "never"                  # "if_better": move the champion alias if it beats it

    def __post_init__(self):
        require(self.knn_k is None or self.knn_k >= 1, "knn_k: must be >= 1")
        require(self.promote in ("never", "if_better"), "promote: must be never or if_better")


@dataclass
class ComputeSection:
    n_jobs: int = 0                         # local worker processes (0: one per core)
    parallel: str = "processes"             # "processes" | "threads" | "none" (inline, for debugging)
    scheduler: str | None = None            # a Dask scheduler address: fits run on its workers
    device: str = "auto"                    # "auto": a visible GPU per fit worker, else the CPU; "cpu"; "gpu"
    precision: str = "float32"              # or "mixed_float16" (GPUs) / "mixed_bfloat16" (recent CPUs)

    def __post_init__(self):
        require(self.n_jobs >= 0, "n_jobs: must be >= 0")
        require(self.parallel in ("processes", "threads", "none"), "parallel: processes, threads or none")
        require(self.device in DEVICES, f"device: one of {', '.join(DEVICES)}")
        require(self.precision in PRECISIONS, f"precision: one of {', '.join(PRECISIONS)}")


COMMON_SECTIONS: dict[str, type] = {"dataset": DatasetSection, "input": InputSection, "model": ModelSection,
                                    "search": SearchSection, "evaluation": EvaluationSection,
                                    "compute": ComputeSection}
TOP_LEVEL = ("experiment", "description")


@dataclass
class Spec:
    """A validated spec: ``path``, the raw ``data`` (overrides applied), and one dataclass per table."""

    path: Path
    data: dict
    sections: dict[str, Any]
    overrides: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.data.get("experiment") or self.path.stem

    @property
    def description(self) -> str:
        return self.data.get("description", "")

    def __getattr__(self, name: str) -> Any:
        """``spec.search``, ``spec.cnn``...: the section's dataclass."""
        sections = self.__dict__.get("sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(name)

    @property
    def family(self) -> str:
        return self.sections["model"].family

    def get(self, dotted: str) -> Any:
        """A resolved value by its dotted key, e.g. ``spec.get("search.folds")`` (defaults filled in)."""
        section, _, key = dotted.partition(".")
        if not key:
            return self.data.get(section, "")
        return copy.deepcopy(getattr(self.sections[section], key))

    def error(self, key: str, problem: str) -> GenreLabError:
        return GenreLabError(f"{self.path}: {key}: {problem}")

    def resolved(self) -> dict:
        """Every section with its defaults filled in (logged with the study run)."""
        out = {k: self.data[k] for k in TOP_LEVEL if k in self.data}
        out.update({name: dataclasses.asdict(value) for name, value in self.sections.items()})
        return out


def load_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Spec:
    """Read, override and validate a spec file. Raises GenreLabError naming the file and the key."""
    path = Path(path)
    data = read_spec_data(path)
    for item in overrides:
        apply_override(data, item, path)
    return Spec(path=path, data=data, sections=validate(data, path), overrides=list(overrides))


def read_spec_data(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """A spec file's tables; with ``extends = "other.toml"`` (beside it), the other file's tables with this
    file's keys laid over them, table by table (a spec that differs from another in a few keys)."""
    data = read_toml(path, "spec file")
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise GenreLabError(f"{path}: extends: expected a spec file name, got {base!r}")
    base_path = (path.parent / base).resolve()
    if base_path in seen or base_path == path.resolve():
        raise GenreLabError(f"{path}: extends: {base} extends this file again")
    merged = read_spec_data(base_path, (*seen, path.resolve()))
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def split_override(item: str, where: str) -> tuple[str, str]:
    """``"a.b=value"`` → ``("a.b", "value")``, the one reading of a ``key=value`` setting (``--set``,
    ``jobs submit --set``, the Launch page's free text); GenreLabError starting with ``where`` if not one."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise GenreLabError(f"{where} {item.strip()}: expected key=value")
    return key.strip(), raw.strip()


def apply_override(data: dict, item: str, path: Path) -> None:
    """Set ``a.b.c=value`` in ``data``; the value is parsed as TOML, else taken as a plain string."""
    key, raw = split_override(item, f"{path}: --set")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise GenreLabError(f"{path}: --set {key}: {part} is not a table")
    node[parts[-1]] = value


def validate(data: dict, path: Path) -> dict[str, Any]:
    """Every table of ``data`` as its dataclass; unknown tables or keys, wrong types, bad values raise."""

    for key, value in data.items():
        if not isinstance(value, dict) and key not in TOP_LEVEL:
            raise GenreLabError(f"{path}: {key}: unknown top-level key (known: {', '.join(TOP_LEVEL)})")
        if key in TOP_LEVEL and not isinstance(value, str):
            raise GenreLabError(f"{path}: {key}: expected a string, got {value!r}")
    sections = {"model": build_section(ModelSection, data.get("model", {}), "model", path)}
    owned = family_sections(sections["model"].family)
    known = {**COMMON_SECTIONS, **owned}
    for name, value in data.items():
        if isinstance(value, dict) and name not in known:
            raise GenreLabError(f"{path}: [{name}]: unknown table for family {sections['model'].family!r} "
                                f"(known: {', '.join(known)})")
    for name, cls in known.items():
        if name != "model":
            sections[name] = build_section(cls, data.get(name, {}), name, path)

    family(sections["model"].family).check(sections, lambda key, problem: GenreLabError(f"{path}: {key}: {problem}"))
    return sections


def build_section(cls: type, given: Any, name: str, path: Path | str) -> Any:
    """``cls(**given)`` with unknown keys and wrong types reported as ``path: name.key: problem``."""
    if not isinstance(given, dict):
        raise GenreLabError(f"{path}: {name}: must be a table")
    hints = typing.get_type_hints(cls)
    for key, value in given.items():
        if key not in hints:
            raise GenreLabError(f"{path}: {name}.{key}: unknown key (known: {', '.join(hints)})")
        if not type_ok(value, hints[key]):
            raise GenreLabError(f"{path}: {name}.{key}: expected {_type_name(hints[key])}, got {value!r}")
    try:
        return cls(**copy.deepcopy(given))
    except (ValueError, TypeError, GenreLabError) as err:
        raise GenreLabError(f"{path}: {name}.{str(err).strip()}") from None


def type_ok(value: Any, hint: Any) -> bool:
    """Whether a TOML value fits a type hint (int is a float; bool is not an int)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(type_ok(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    if origin in (list, tuple):
        return isinstance(value, (list, tuple)) and all(type_ok(v, args[0]) for v in value) if args else \
            isinstance(value, (list, tuple))
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
