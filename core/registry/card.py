"""What a registered model version says it is: its :class:`ModelCard`, written as model-version tags.

The predictor, ``python -m core models`` and the dashboard read these tags instead of guessing a model's
kind from its signature. One tag per field, named as the field; values are strings (``genres`` is a
JSON list, ``synthetic`` is ``true``/``false``), so the MLflow UI shows them as they are.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields

from core.calibration import format_ece, read_summary
from core.errors import GenreLabError
from core.features.window import GRAMMAR, parse_window

#: The input kinds whose models took audio when cards did not yet say (``takes_audio``); the others
#: took a row of FMA's 518 features. New versions record it from their kind (:mod:`core.inputs`).
_AUDIO_BEFORE_TAKES_AUDIO = ("mels", "embeddings")
_FLOATS = ("test_accuracy", "test_accuracy_ci_low", "test_accuracy_ci_high")


@dataclass
class ModelCard:
    """The facts a registered version carries about itself.

    Parameters
    ----------
    family : str
        The network: ``keras_mlp``, ``sklearn_mlp``, ``cnn``, ...
    input_kind : str
        What the network was trained on: a kind of :mod:`core.inputs` (``features``, ``mels``...).
    window : str
        The part of each track the input was computed on, in :mod:`core.features.window`'s grammar:
        ``full`` (FMA's published features; the CNN's log-mels, cut into clips), ``center:30``...
        The predictor computes a feature-row model's features on this window.
    dataset, fingerprint, synthetic : str, str, bool
        The training data: its name, the fingerprint of its (track, label, split) rows, and whether
        it is generated (the demo) rather than music.
    genres : list of str
        The classes the model tells apart (its output has one probability column per genre).
    test_accuracy, n_test, test_accuracy_ci_low, test_accuracy_ci_high : float, int, float, float
        Accuracy on the official test split, how many test tracks it counts, and its 95 % interval.
    run_id : str
        The run that trained and logged the model.
    extra : dict of str to str
        Anything else worth a tag (``size``, ``clip_seconds``...).
    takes_audio : bool, optional
        Whether the model reads an audio file itself (else it takes a row of FMA's 518 features); left
        out, what models of ``input_kind`` took before cards said.
    calibration : dict, optional
        How far its probabilities can be trusted (:func:`core.calibration.calibration_summary`: ECE,
        reliability bins, what they were scored on, the temperature); None for versions registered
        before calibration was measured.
    n_test_artists : int, optional
        How many artists the test tracks are by, where the data named them (the interval then counts
        artists, :func:`core.stats.accuracy_interval`); 0 when unknown or counted by track.
    """

    family: str
    input_kind: str
    window: str
    dataset: str
    fingerprint: str
    synthetic: bool
    genres: list[str]
    test_accuracy: float
    n_test: int
    test_accuracy_ci_low: float
    test_accuracy_ci_high: float
    run_id: str
    extra: dict[str, str] = field(default_factory=dict)
    takes_audio: bool | None = None
    calibration: dict | None = None
    n_test_artists: int = 0

    def __post_init__(self) -> None:
        if not self.input_kind or not self.input_kind.replace("_", "").isalnum():
            raise GenreLabError(f"model card: input_kind {self.input_kind!r} is not an input kind's name")
        if self.takes_audio is None:
            self.takes_audio = self.input_kind in _AUDIO_BEFORE_TAKES_AUDIO
        try:
            self.window = str(parse_window(self.window))
        except GenreLabError:
            raise GenreLabError(f"model card: window {self.window!r} is not {GRAMMAR}") from None
        clashes = sorted(set(self.extra) & {f.name for f in fields(self)})
        if clashes:
            raise GenreLabError(f"model card: extra tag(s) {', '.join(clashes)} would overwrite card fields")
        self.genres = [str(g) for g in self.genres]
        self.extra = {str(k): str(v) for k, v in self.extra.items()}
        if self.n_test == 0:
            return  # a version registered before cards: no interval, no genre list to check
        if not self.genres:
            raise GenreLabError("model card: genres is empty")
        low, accuracy, high = self.test_accuracy_ci_low, self.test_accuracy, self.test_accuracy_ci_high
        if not 0.0 <= low <= accuracy <= high <= 1.0:
            raise GenreLabError(f"model card: test accuracy {accuracy} must lie within its interval [{low}, {high}] "
                                "inside [0, 1]")

    @property
    def pretrained(self) -> bool:
        """True for a model taken as trained elsewhere (the zero-shot taggers), never trained here."""
        return self.extra.get("pretrained") == "true"

    @property
    def heard_real_music(self) -> bool:
        """True when the model learnt its genres from music: pretrained, or trained on real data."""
        return self.pretrained or not self.synthetic

    @property
    def ece_text(self) -> str:
        """``"ECE 0.043 on the test split (n=769)"``, or ``"ECE not measured"``."""
        return format_ece(self.calibration)

    @property
    def accuracy_text(self) -> str:
        """``"55.0% [45.2, 64.5] on 100 tracks"`` (``"... by 12 artists"`` where they were counted), or just the
        accuracy when the interval is unknown."""
        if self.pretrained:
            return "pretrained (no test score)"
        if self.n_test <= 0:
            return f"{self.test_accuracy:.1%}"
        return (f"{self.test_accuracy:.1%} [{100 * self.test_accuracy_ci_low:.1f}, "
                f"{100 * self.test_accuracy_ci_high:.1f}] on {self.n_test} tracks"
                + (f" by {self.n_test_artists} artist{'s' * (self.n_test_artists != 1)}" if self.n_test_artists else ""))

    def to_tags(self) -> dict[str, str]:
        """The card as model-version tags (every value a string; numbers exactly, so they read back equal)."""
        tags = {f.name: str(getattr(self, f.name)) for f in fields(self) if f.name not in ("extra", "calibration")}
        tags.update(genres=json.dumps(self.genres), synthetic=str(self.synthetic).lower(),
                    takes_audio=str(self.takes_audio).lower(),
                    **{name: str(float(getattr(self, name))) for name in _FLOATS})
        if self.calibration is not None:
            tags["calibration"] = json.dumps(self.calibration, separators=(",", ":"))
        return {**self.extra, **tags}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> ModelCard:
        """The card of a version's tags. Raises GenreLabError naming a missing or malformed tag.

        Versions registered before cards existed (tags ``family``, ``input``, ``clip_seconds``,
        ``test_accuracy``, ``dataset``) are read too: their input kind follows from ``family`` and
        ``input``, unknown facts stay empty and ``n_test`` is 0.
        """
        tags = dict(tags)
        if "input_kind" not in tags and "family" in tags:
            tags = _legacy(tags)
        optional = ("takes_audio", "calibration", "n_test_artists")  # tags older versions lack
        names = {f.name for f in fields(cls)} - {"extra", *optional}
        missing = sorted(names - set(tags))
        if missing:
            raise GenreLabError(f"model card: tag(s) {', '.join(missing)} missing")
        try:
            return cls(
                family=tags["family"], input_kind=tags["input_kind"], window=tags["window"],
                dataset=tags["dataset"], fingerprint=tags["fingerprint"], synthetic=tags["synthetic"] == "true",
                genres=json.loads(tags["genres"]), test_accuracy=float(tags["test_accuracy"]),
                n_test=int(tags["n_test"]), test_accuracy_ci_low=float(tags["test_accuracy_ci_low"]),
                test_accuracy_ci_high=float(tags["test_accuracy_ci_high"]), run_id=tags["run_id"],
                takes_audio=tags["takes_audio"] == "true" if "takes_audio" in tags else None,
                calibration=read_summary(tags.get("calibration")), n_test_artists=int(tags.get("n_test_artists", 0)),
                extra={k: v for k, v in tags.items()
                       if k not in names and k not in optional and not k.startswith("mlflow.")})
        except (ValueError, TypeError) as err:  # json.JSONDecodeError is a ValueError
            raise GenreLabError(f"model card: malformed tag value ({err})") from None


def _legacy(tags: dict[str, str]) -> dict[str, str]:
    """Card tags for a version registered before cards (what its old tags say; the rest unknown)."""
    family = tags["family"]
    kind = "mels" if family == "cnn" else ("autoencoder" if tags.get("input") == "autoencoder" else "features")
    # Both computed their input on whole files (the old features command; log-mels cut into clips).
    return {"window": "full", "fingerprint": "",
            "synthetic": tags.get("synthetic", "false"), "genres": "[]", "test_accuracy": "0",
            "n_test": "0", "test_accuracy_ci_low": "nan", "test_accuracy_ci_high": "nan", "run_id": "",
            "dataset": "", **tags, "family": family, "input_kind": kind}


def is_comparable(a: ModelCard, b: ModelCard) -> bool:
    """Scored on the same test split (same data fingerprint, both with a test count)."""
    return bool(a.fingerprint) and a.fingerprint == b.fingerprint and a.n_test > 0 and b.n_test > 0
