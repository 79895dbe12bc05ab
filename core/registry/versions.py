"""Registered versions: registering one with its card, listing them, and the ``champion`` alias.

What is served is chosen, not guessed: the version a registered name's ``champion`` alias points at is
what ``python -m core predict``, the Predict page and ``make serve`` use by default. Only
:func:`promote` (``python -m core models promote``, the Predict page's button) and
:func:`promote_if_better` (a spec that asks for it) move the alias; registering never does.

These functions use the MLflow store already configured (``core.tracking.configure``).
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from core.errors import GenreLabError, first_line
from core.registry.card import ModelCard, is_comparable

CHAMPION = "champion"


@dataclass(frozen=True)
class Version:
    """One registered model version: its card (None, with ``problem`` saying why, if its tags are unreadable)."""

    name: str
    version: str
    card: ModelCard | None
    aliases: tuple[str, ...] = ()
    problem: str = ""

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def ref(self) -> str:
        """How a user names it: ``NAME/VERSION``."""
        return f"{self.name}/{self.version}"

    @property
    def number(self) -> int:
        return int(self.version) if self.version.isdigit() else 0

    @property
    def label(self) -> str:
        """One line for menus: name/version, aliases, test accuracy, training data."""
        aliases = f" @{', @'.join(self.aliases)}" if self.aliases else ""
        if self.card is None:
            return f"{self.ref}{aliases}  ·  {self.problem}"
        card = self.card
        data = f"{card.dataset or 'unknown data'}{' (synthetic)' if card.synthetic else ''}"
        return (f"{self.ref}{aliases}  ·  {card.input_kind}, {card.window}  ·  "
                f"test accuracy {card.accuracy_text}  ·  trained on {data}")


def _store_error(err: Exception, action: str = "read") -> GenreLabError:
    import mlflow

    return GenreLabError(f"{mlflow.get_tracking_uri()}: cannot {action} the model registry ({first_line(err)})")


def _store_errors() -> tuple[type[Exception], ...]:
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    return MlflowException, SQLAlchemyError, OSError, sqlite3.Error


def _version(mv, aliases: tuple[str, ...]) -> Version:
    try:
        card, problem = ModelCard.from_tags(mv.tags or {}), ""
    except GenreLabError as err:
        card, problem = None, f"not a genre model ({err})"
    return Version(mv.name, str(mv.version), card, tuple(sorted(aliases)), problem)


def list_versions() -> list[Version]:
    """Every registered version of every model, by name then version number.

    Raises GenreLabError (one line naming the store) when the store cannot be read.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    found = []
    try:
        for registered in client.search_registered_models(max_results=1000):
            aliases: dict[str, list[str]] = {}
            for alias, version in (registered.aliases or {}).items():
                aliases.setdefault(str(version), []).append(alias)
            for mv in client.search_model_versions(f"name = '{registered.name}'", max_results=1000):
                found.append(_version(mv, tuple(aliases.get(str(mv.version), []))))
    except _store_errors() as err:
        raise _store_error(err) from None
    return sorted(found, key=lambda v: (v.name, v.number))


def _find(versions: list[Version], name: str, version: str) -> Version:
    """``name``/``version`` among ``versions``; GenreLabError naming the known versions when absent."""
    for v in versions:
        if v.name == name and v.version == str(version):
            return v
    known = ", ".join(v.version for v in versions if v.name == name) or "none"
    raise GenreLabError(f"model {name}/{version}: not in the registry (versions of {name}: {known})")


def champion(name: str, versions: list[Version] | None = None) -> Version | None:
    """The version ``name``'s champion alias points at, or None."""
    versions = list_versions() if versions is None else versions
    return next((v for v in versions if v.name == name and CHAMPION in v.aliases), None)


def register_version(model_uri: str, name: str, card: ModelCard, aliases: list[str] | tuple[str, ...] = ()) -> str:
    """Register the model at ``model_uri`` as a new version of ``name`` with ``card`` as its tags.

    ``aliases`` are extra aliases to point at it (e.g. ``clip-3s``); ``champion`` is not one of them (see
    :func:`promote_if_better`). Returns the version number as a string.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    if CHAMPION in aliases:
        raise GenreLabError(f"{name}: registering never makes a champion; use promote or promote_if_better")
    try:
        version = str(mlflow.register_model(model_uri, name, tags=card.to_tags()).version)
        client = MlflowClient()
        for alias in aliases:
            client.set_registered_model_alias(name, alias, version)
    except _store_errors() as err:
        raise _store_error(err, "update") from None
    return version


def promote(name: str, version: str) -> Version | None:
    """Point ``name``'s champion alias at ``version``; returns the previous champion (None if none)."""
    from mlflow.tracking import MlflowClient

    versions = list_versions()
    chosen = _find(versions, name, version)
    if chosen.card is None:
        raise GenreLabError(f"model {chosen.ref}: {chosen.problem}")
    previous = champion(name, versions)
    try:
        MlflowClient().set_registered_model_alias(name, CHAMPION, chosen.version)
    except _store_errors() as err:
        raise _store_error(err, "update") from None
    return previous


def promote_if_better(name: str, version: str) -> bool:
    """Make ``version`` the champion if it beats the current one on the same test split.

    Beats means: both cards carry the same data fingerprint and a test count, and ``version``'s test
    accuracy is strictly higher. With no champion yet, ``version`` becomes the first. Returns True
    when the alias moved to ``version``.
    """
    versions = list_versions()
    candidate, current = _find(versions, name, version), champion(name, versions)
    if candidate.card is None:
        return False
    if current is not None:
        if current.card is None or current.version == candidate.version:
            return False  # nothing to compare with, or already the champion
        if not is_comparable(candidate.card, current.card):
            return False  # scored on another test split: the numbers say nothing about each other
        if candidate.card.test_accuracy <= current.card.test_accuracy:
            return False
    promote(name, version)
    return True


# --- Naming a version ---------------------------------------------------------------------------

NO_MODEL_MESSAGE = "no model registered yet: run `make demo` or `python -m core run experiments/demo_mlp.toml`"


def default_version(name: str, versions: list[Version]) -> Version | None:
    """``name``'s champion; without one its newest version with a card (see :func:`fallback_note`)."""
    usable = [v for v in versions if v.name == name and v.card is not None]
    return champion(name, usable) or max(usable, key=lambda v: v.number, default=None)


def fallback_note(version: Version, ref: str | None = None) -> str | None:
    """One line saying that ``version``, the default for ``ref`` (a bare NAME, or None: every name's
    default), is not a champion; None when it is one or ``ref`` named an alias or a version."""
    if CHAMPION in version.aliases or (ref is not None and ("@" in ref or "/" in ref)):
        return None
    return (f"{version.name} has no champion: using its newest version {version.ref} "
            f"(choose one: python -m core models promote {version.name} VERSION)")


def default_versions(versions: list[Version]) -> list[Version]:
    """The default version of every registered name (GenreLabError when there is none)."""
    chosen = [default_version(name, versions) for name in sorted({v.name for v in versions})]
    chosen = [v for v in chosen if v is not None]
    if not chosen:
        raise GenreLabError(NO_MODEL_MESSAGE)
    return chosen


def lead_version(versions: list[Version]) -> Version | None:
    """The version whose answer leads (the Predict page's first answer): the best one that has heard
    real music. Ranked by: heard real music (pretrained, or trained on real data), then trained and
    scored here, then test accuracy; ties go to the first. None when no version has a card."""
    usable = [v for v in versions if v.card is not None]

    def rank(v: Version) -> tuple[bool, bool, float]:
        scored = not v.card.pretrained and v.card.n_test > 0
        return v.card.heard_real_music, scored, v.card.test_accuracy if scored else 0.0

    return max(usable, key=rank, default=None)


def resolve(ref: str, versions: list[Version]) -> Version:
    """The version ``ref`` names: ``NAME`` (its :func:`default_version`), ``NAME@alias`` or ``NAME/VERSION``."""
    if not versions:
        raise GenreLabError(NO_MODEL_MESSAGE)
    if "@" in ref:
        name, alias = ref.split("@", 1)
        found = next((v for v in versions if v.name == name and alias in v.aliases), None)
    elif "/" in ref:
        name, number = ref.rsplit("/", 1)
        found = next((v for v in versions if v.name == name and v.version == number), None)
    else:
        name, found = ref, default_version(ref, versions)
    if found is None:
        named = [v.ref + "".join(f"@{a}" for a in v.aliases) for v in versions if v.name == name]
        hint = (f"versions of {name}: {', '.join(named)}" if named
                else f"registered models: {', '.join(sorted({v.name for v in versions}))}")
        raise GenreLabError(f"model {ref!r}: not in the registry ({hint})")
    return found
