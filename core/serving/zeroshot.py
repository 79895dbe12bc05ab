"""A genre model out of the box: pretrained musicnn taggers, their tags mapped to FMA's top-level genres.

Nothing here is trained on your data. The two pretrained musicnn networks (``core.models.musicnn``:
``MSD_musicnn``, 50 last.fm tags of the Million Song Dataset; ``MTT_musicnn``, 50 MagnaTagATune tags)
tag every 3 s segment of a file, and a hand-written table (:data:`MAPPING`, ``zeroshot_genres.toml``)
turns tag probabilities into FMA genre_top probabilities: for a segment, genre g scores
``sum over taggers and tags of weight(tag, g) * p(tag)``, and the scores are normalised to sum to 1.
A *prior* fitted on a development set of real music (:data:`PRIOR`, ``bench/bench_zeroshot.py``) then
adds a bias per genre to each segment's log-probabilities and divides them by a temperature, when it was
fitted for the same taggers and table (:func:`genre_probabilities`, :func:`read_prior`); the card carries
its out-of-fold calibration and names the set. The clip's probabilities are the mean of its segments'
(as every audio model here). Genres no tag points at (``unknown`` in the table: Old-Time / Historic,
Spoken) are never answered; the card says so.

The model is an MLflow pyfunc audio model (:class:`ZeroShotGenreModel`, a
:class:`core.serving.pyfunc.AudioGenreModel`): encoded audio in, one row per clip out with ``top``,
``probabilities`` and ``segments`` like the CNN, plus the raw tags:

- ``segments[i]["tags"]``: ``{tagger: {tag: p}}``, the segment's :data:`TOP_TAGS` likeliest tags per tagger;
- ``tags``: ``{tagger: {tag: p}}``, the clip's :data:`CLIP_TAGS` likeliest tags per tagger (mean over segments);
- ``taggram``: ``{tagger: {"tags": [50 names], "values": [[50 p] per segment]}}``, for a tag timeline.

It carries the musicnn checkpoint files it needs (copied from the installed ``musicnn`` wheel, ISC
licence, with the licence text) and the mapping as MLflow artifacts, and this package as its code, so it
loads anywhere with no download and without the wheel.

``python -m core.serving.zeroshot register`` logs and registers it as ``genre-zeroshot`` (see
:func:`add_parser` for wiring it under ``python -m core models``).
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from core.data import fma
from core.errors import GenreLabError
from core.files import read_toml
from core.models.musicnn import (
    MODELS,
    MSD_TAGS,
    MTT_TAGS,
    PATCH_SECONDS,
    SR,
    WHEEL,
    MusicnnTagger,
    patches,
    weights_folder,
)
from core.registry.card import ModelCard
from core.registry.versions import champion, list_versions, promote, register_version
from core.serving.pyfunc import AudioGenreModel, _log, audio_signature

#: The registered model's name.
NAME = "genre-zeroshot"
FAMILY = "musicnn_zeroshot"
#: The card's input kind: an audio model built on pretrained embeddings.
INPUT_KIND = "embeddings"
#: The tag -> genre table shipped with the code (and inside every registered model).
MAPPING = Path(__file__).with_name("zeroshot_genres.toml")
#: Taggers the model runs by default: MSD for most genres, MTT for Classical and International.
DEFAULT_TAGGERS = ("MSD_musicnn", "MTT_musicnn")
#: The genre prior and temperature fitted on the development set for the default taggers and mapping
#: (``bench/bench_zeroshot.py --write-prior`` writes it, with its cross-validated calibration).
PRIOR = Path(__file__).with_name("zeroshot_prior.json")
#: Raw tags reported per segment and per clip, per tagger.
TOP_TAGS = 5
CLIP_TAGS = 10
#: Says, on the card and in every listing, what this model is.
PRETRAINED_NOTE = "pretrained, not trained on your data"
#: The musicnn checkpoint files a tagger needs (and its training configuration, for the record).
_CHECKPOINT_FILES = (".index", ".data-00000-of-00001", "config.json")
_MODULES = ["keras", "tensorflow", "librosa", "soundfile", "soxr"]


# --- The mapping table ----------------------------------------------------------------------------

def fma_top_genres() -> list[str]:
    """FMA's 16 top-level genre titles (``core/data/fma_genres.csv``, parent 0), sorted."""

    table = pd.read_csv(fma.GENRE_TABLE)
    return sorted(table.loc[table["parent"] == 0, "title"].astype(str).tolist())


def read_mapping(path: str | Path = MAPPING, taggers: tuple[str, ...] | list[str] = DEFAULT_TAGGERS,
                 top_genres: list[str] | None = None) -> dict:
    """The mapping table, checked, for ``taggers``: ``{"taggers": {tagger: {tag: {genre: weight}}},
    "genres": [...], "unknown": [...]}``.

    ``genres`` are the genres some tag of ``taggers`` points at, in sorted order; ``unknown`` the other
    FMA top-level genres (``top_genres``, default :func:`fma_top_genres`): the ones the model cannot
    answer. Raises a one-line GenreLabError naming the file for a section that is not a musicnn
    tagger, a tag the tagger does not have, a genre that is not an FMA top-level genre, a weight
    outside (0, 1], a tagger without a section, or a table whose ``unknown`` list is not exactly the
    top-level genres no tag of the whole table points at.
    """

    path = Path(path)
    data = read_toml(path, "zero-shot mapping")
    known_tags = {"MSD_musicnn": MSD_TAGS, "MTT_musicnn": MTT_TAGS}
    top = sorted(top_genres) if top_genres is not None else fma_top_genres()
    table: dict[str, dict[str, dict[str, float]]] = {}
    for section, tags in data.items():
        if section == "unknown":
            continue
        if section not in MODELS or not isinstance(tags, dict):
            raise GenreLabError(f"{path}: [{section}] is not a musicnn tagger ({', '.join(MODELS)})")
        table[section] = {}
        for tag, genres in tags.items():
            if tag not in known_tags[section]:
                raise GenreLabError(f"{path}: [{section}] has no tag {tag!r}")
            if not isinstance(genres, dict) or not genres:
                raise GenreLabError(f"{path}: [{section}] {tag!r} must map to {{genre = weight, ...}}")
            for genre, weight in genres.items():
                if genre not in top:
                    raise GenreLabError(f"{path}: [{section}] {tag!r}: {genre!r} is not an FMA top-level genre "
                                        f"({', '.join(top)})")
                if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= 1:
                    raise GenreLabError(f"{path}: [{section}] {tag!r}: weight {weight!r} for {genre} is not in (0, 1]")
            table[section][tag] = {str(g): float(w) for g, w in genres.items()}

    def named(sections) -> set[str]:
        return {g for s in sections for weights in table[s].values() for g in weights}

    unknown, expected = data.get("unknown"), [g for g in top if g not in named(table)]
    if not isinstance(unknown, list) or sorted(map(str, unknown)) != expected:
        raise GenreLabError(f"{path}: 'unknown' must list exactly the top-level genres no tag points at: "
                            f"{expected}, got {unknown!r}")
    for tagger in taggers:
        if tagger not in MODELS:
            raise GenreLabError(f"zero-shot: unknown tagger {tagger!r}; choose from {', '.join(MODELS)}")
        if not table.get(tagger):
            raise GenreLabError(f"{path}: no [{tagger}] section")
    if not taggers:
        raise GenreLabError("zero-shot: no tagger chosen")
    chosen = named(taggers)
    return {"taggers": {t: table[t] for t in taggers}, "genres": [g for g in top if g in chosen],
            "unknown": [g for g in top if g not in chosen]}


def mapping_matrix(mapping: dict, tagger: str, genres: list[str]) -> np.ndarray:
    """(50, len(genres)) float32 weights of ``tagger``'s tags (rows in its taggram's column order)."""

    tags = {"MSD_musicnn": MSD_TAGS, "MTT_musicnn": MTT_TAGS}[tagger]
    matrix = np.zeros((len(tags), len(genres)), dtype=np.float32)
    for tag, weights in mapping["taggers"][tagger].items():
        for genre, weight in weights.items():
            matrix[tags.index(tag), genres.index(genre)] = weight
    return matrix


def genre_scores(taggrams: list[np.ndarray], matrices: list[np.ndarray]) -> np.ndarray:
    """(n, n_genres) scores: the sum over taggers of taggram (n, 50) @ weights (50, n_genres)."""
    return sum(np.asarray(t, dtype=np.float64) @ m.astype(np.float64) for t, m in zip(taggrams, matrices, strict=True))


def genre_probabilities(scores: np.ndarray, bias: np.ndarray | None = None, temperature: float = 1.0) -> np.ndarray:
    """(n, n_genres) probabilities of (n, n_genres) segment scores: each row normalised to sum to 1, then,
    with a prior, ``softmax((log p + bias) / temperature)`` (the taggers' lean toward some genres taken
    out, the confidence scaled)."""
    scores = np.clip(np.asarray(scores, dtype=np.float64), 0.0, None)
    p = scores / np.maximum(scores.sum(axis=-1, keepdims=True), 1e-12)
    if bias is None and temperature == 1.0:
        return p
    logits = (np.log(np.clip(p, 1e-12, 1.0)) + (0.0 if bias is None else bias)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def read_prior(path: str | Path, taggers, mapping_path: str | Path, genres: list[str]) -> dict | None:
    """The fitted prior of ``path`` for these taggers and mapping: ``{"bias": (n_genres,) in ``genres``
    order, "temperature", "calibration", "fitted_on"}``; None when the file is missing or was fitted for
    other taggers or another mapping table (its numbers would not mean anything there)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        prior = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise GenreLabError(f"{path}: not JSON") from None
    if list(prior.get("taggers", [])) != list(taggers) or prior.get("mapping") != mapping_digest(mapping_path):
        return None
    unknown = sorted(set(prior["bias"]) - set(genres))
    if unknown:
        raise GenreLabError(f"{path}: bias for genre(s) the mapping does not answer: {', '.join(unknown)}")
    bias = np.array([float(prior["bias"].get(g, 0.0)) for g in genres])
    return {"bias": bias, "temperature": float(prior["temperature"]), "calibration": prior.get("calibration"),
            "fitted_on": str(prior.get("fitted_on", ""))}


def _top(values: np.ndarray, tags: tuple[str, ...] | list[str], k: int) -> dict[str, float]:
    order = np.argsort(-values, kind="stable")[:k]
    return {str(tags[i]): round(float(values[i]), 4) for i in order}


# --- The pyfunc model -------------------------------------------------------------------------------

class ZeroShotGenreModel(AudioGenreModel):
    """musicnn taggers + the tag -> genre table; audio in, genres and raw tags out (module docstring)."""

    def load_context(self, context) -> None:
        art = context.artifacts
        meta = json.loads(Path(art["meta"]).read_text(encoding="utf-8"))
        # Weights from the model's own artifacts: the musicnn wheel is never looked for.
        self.setup(meta["taggers"], art["mapping"], art["weights"], meta["top_genres"], meta["top_tags"],
                   meta["clip_tags"], art.get("prior"))  # versions logged before priors have none
        # Pay the first call's cost (numba compilation, graph tracing: seconds) while loading, not on
        # the first file or HTTP request.
        for tagger in self.taggers:
            tagger.warm_up()
        t = np.arange(self.sample_rate * 3, dtype=np.float32) / self.sample_rate
        self.taggrams(0.1 * np.sin(2 * np.pi * 440 * t))

    @classmethod
    def from_files(cls, taggers=DEFAULT_TAGGERS, mapping_path: str | Path = MAPPING,
                   weights_dir: str | Path | None = None, prior_path: str | Path | None = PRIOR) -> "ZeroShotGenreModel":
        """The model without MLflow (what a registered version loads), weights from ``weights_dir``
        (default: the installed musicnn wheel), the prior of ``prior_path`` if it was fitted for these
        taggers and mapping (None: no prior): for benchmarks and in-process use."""
        return cls().setup(tuple(taggers), mapping_path, weights_dir, prior_path=prior_path)

    def setup(self, taggers, mapping_path, weights_dir, top_genres=None, top_tags: int = TOP_TAGS,
              clip_tags: int = CLIP_TAGS, prior_path: str | Path | None = None) -> "ZeroShotGenreModel":
        """Build the taggers, the genre weights and the prior (if any); returns self."""

        mapping = read_mapping(mapping_path, taggers, top_genres)
        self.genres = list(mapping["genres"])
        self.prior = read_prior(prior_path, taggers, mapping_path, self.genres) if prior_path else None
        self.unknown_genres = list(mapping["unknown"])
        self.sample_rate, self.segment_seconds = SR, PATCH_SECONDS
        self.top_tags, self.clip_tags = int(top_tags), int(clip_tags)
        self.taggers = [MusicnnTagger(m, weights_dir=weights_dir) for m in taggers]
        self.matrices = [mapping_matrix(mapping, t.model, self.genres) for t in self.taggers]
        self.lock = threading.Lock()  # Keras models are not safe to call from several threads at once
        self.local = threading.local()  # per-call record of classify_file's taggrams
        return self

    def taggrams(self, y: np.ndarray) -> list[np.ndarray]:
        """Each tagger's (n_patches, 50) tag probabilities for a mono waveform at 16 kHz."""

        x = patches(y, self.sample_rate)
        with self.lock:
            return [t.predict(x)["taggram"] for t in self.taggers]

    def segment_probabilities(self, y: np.ndarray) -> np.ndarray:
        taggrams = self.taggrams(y)
        rows = getattr(self.local, "taggrams", None)
        if rows is not None:
            rows.append(taggrams)
        scores = genre_scores(taggrams, self.matrices)
        if self.prior is None:
            return genre_probabilities(scores)
        return genre_probabilities(scores, self.prior["bias"], self.prior["temperature"])

    def classify_file(self, path) -> dict:
        """``{"top", "probabilities", "segments", "tags", "taggram"}`` of a file (module docstring)."""
        self.local.taggrams = []
        try:
            answer = super().classify_file(path)
            parts = self.local.taggrams
        finally:
            self.local.taggrams = None
        # The base class asks for segments in file order and keeps every row it is given, so the rows
        # recorded here are the answer's segments, one for one.
        per_tagger = [np.concatenate([p[i] for p in parts]) for i in range(len(self.taggers))]
        if len(per_tagger[0]) != len(answer["segments"]):  # pragma: no cover - a change in the base class
            raise GenreLabError(f"{path}: zero-shot model lost track of its segments")
        for k, segment in enumerate(answer["segments"]):
            segment["tags"] = {t.model: _top(rows[k], t.tags, self.top_tags) for t, rows in zip(self.taggers, per_tagger)}
        answer["tags"] = {t.model: _top(rows.mean(axis=0), t.tags, self.clip_tags)
                          for t, rows in zip(self.taggers, per_tagger)}
        answer["taggram"] = {t.model: {"tags": list(t.tags), "values": np.round(rows, 4).tolist()}
                             for t, rows in zip(self.taggers, per_tagger)}
        return answer


# --- Logging and registering --------------------------------------------------------------------------

def copy_weights(taggers, dest: Path, source: str | Path | None = None) -> Path:
    """Copy the checkpoint files of ``taggers`` (from ``source``, default the installed musicnn wheel)
    and the wheel's ISC licence into ``dest``; returns ``dest``. One-line GenreLabError for a missing file."""

    source = weights_folder() if source is None else Path(source)
    dest.mkdir(parents=True, exist_ok=True)
    for tagger in taggers:
        (dest / tagger).mkdir(exist_ok=True)
        for name in _CHECKPOINT_FILES:
            path = source / tagger / name
            if not path.is_file():
                raise GenreLabError(f"{path}: musicnn checkpoint file missing (reinstall: pip install "
                                    f"--force-reinstall --no-deps {WHEEL})")
            shutil.copyfile(path, dest / tagger / name)
    licences = sorted(source.parent.glob("musicnn-*.dist-info/LICENSE*"))
    text = licences[0].read_text(encoding="utf-8") if licences else ""
    (dest / "LICENSE-musicnn.txt").write_text(
        "musicnn weights (https://github.com/jordipons/musicnn), ISC licence:\n\n" + (text or _ISC), encoding="utf-8")
    return dest


_ISC = """Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019. Code developed by Jordi Pons (www.jordipons.me).

Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee is hereby granted, provided that the above copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
"""


def mapping_digest(path: str | Path = MAPPING) -> str:
    """The first 12 hex digits of the mapping file's SHA-256 (a card tag: which table a version uses)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def log_zeroshot_model(taggers=DEFAULT_TAGGERS, mapping_path: str | Path = MAPPING, workdir: str | Path | None = None,
                       weights_source: str | Path | None = None, prior_path: str | Path = PRIOR):
    """Log a :class:`ZeroShotGenreModel` on the active run as artifact ``model``; no registration.

    Checks the mapping first (one-line GenreLabError). ``workdir`` holds the artifacts while logging
    (default: a temporary folder). The prior of ``prior_path`` goes with it when it was fitted for these
    taggers and mapping. Returns mlflow's ModelInfo.
    """
    taggers = tuple(taggers)
    top = fma_top_genres()
    mapping = read_mapping(mapping_path, taggers, top)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(workdir or tmp)
        weights = copy_weights(taggers, folder / "musicnn", weights_source)
        shutil.copyfile(mapping_path, folder / "zeroshot_genres.toml")
        meta = {"taggers": list(taggers), "genres": mapping["genres"], "unknown_genres": mapping["unknown"],
                "top_genres": top, "top_tags": TOP_TAGS, "clip_tags": CLIP_TAGS, "note": PRETRAINED_NOTE}
        (folder / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        artifacts = {"weights": str(weights), "mapping": str(folder / "zeroshot_genres.toml"),
                     "meta": str(folder / "meta.json")}
        if read_prior(prior_path, taggers, mapping_path, mapping["genres"]) is not None:
            shutil.copyfile(prior_path, folder / "zeroshot_prior.json")
            artifacts["prior"] = str(folder / "zeroshot_prior.json")
        # The class as core.serving.zeroshot's, even when this file runs as __main__ (python -m), so the
        # pickled model refers to the module it carries in its code.
        from core.serving import zeroshot

        return _log(zeroshot.ZeroShotGenreModel(), artifacts, audio_signature(), _MODULES)


def zeroshot_card(run_id: str, taggers=DEFAULT_TAGGERS, mapping_path: str | Path = MAPPING,
                  prior_path: str | Path = PRIOR):
    """The card of a zero-shot version: pretrained, no training data, no test score (n_test 0, NaN accuracy);
    with a prior, its calibration on the development set (out-of-fold) and what it was tuned on."""

    mapping = read_mapping(mapping_path, tuple(taggers))
    prior = read_prior(prior_path, tuple(taggers), mapping_path, mapping["genres"])
    tuned = {"tuned_on": prior["fitted_on"]} if prior else {}
    vocabularies = {"MSD_musicnn": "MSD last.fm", "MTT_musicnn": "MagnaTagATune"}
    return ModelCard(
        family=FAMILY, input_kind=INPUT_KIND, takes_audio=True, window="full",
        dataset=f"pretrained musicnn ({' + '.join(vocabularies[t] for t in taggers)} tags), not trained on your data",
        fingerprint="", synthetic=False, genres=mapping["genres"], test_accuracy=math.nan, n_test=0,
        test_accuracy_ci_low=math.nan, test_accuracy_ci_high=math.nan, run_id=run_id,
        calibration=prior["calibration"] if prior else None,
        extra={"pretrained": "true", "training": PRETRAINED_NOTE, "taggers": ",".join(taggers),
               "unknown_genres": json.dumps(mapping["unknown"]), "mapping": mapping_digest(mapping_path),
               "segment_seconds": "2.992", **tuned})


def register_zeroshot(name: str = NAME, taggers=DEFAULT_TAGGERS, mapping_path: str | Path = MAPPING) -> tuple[str, str]:
    """Log the zero-shot model in a run of experiment ``pretrained`` and register it as a new version of
    ``name`` with its card. Uses the configured MLflow store. Returns (version, run id)."""
    from core import tracking

    tracking.configure()
    taggers = tuple(taggers)
    read_mapping(mapping_path, taggers)  # a bad table stops here, before any run is started
    with tracking.start_run(f"zero-shot {'+'.join(taggers)}", experiment="pretrained", kind="pretrained",
                            params={"taggers": ",".join(taggers), "mapping": mapping_digest(mapping_path),
                                    "top_tags": TOP_TAGS},
                            description=f"musicnn taggers mapped to FMA genres: {PRETRAINED_NOTE}.") as run:
        info = log_zeroshot_model(taggers, mapping_path)
    run_id = run.info.run_id
    version = register_version(info.model_uri, name, zeroshot_card(run_id, taggers, mapping_path))
    return version, run_id


# --- Command line -------------------------------------------------------------------------------------

def run_register(args) -> int:
    """The command's handler: ``args.name``, ``args.taggers``, ``args.mapping`` (None: :data:`MAPPING`) and
    ``args.if_missing`` (register only when ``name`` has no version yet). The first version becomes the
    champion, so a fresh clone predicts with it by default."""
    from core import tracking

    tracking.configure()
    mapping = args.mapping or MAPPING
    if args.if_missing and any(v.name == args.name for v in list_versions()):
        print(f"{args.name} is already registered: nothing to do")
        return 0
    version, run_id = register_zeroshot(args.name, args.taggers, mapping)
    card = zeroshot_card(run_id, args.taggers, mapping)
    print(f"registered {args.name}/{version} ({PRETRAINED_NOTE}): genres {', '.join(card.genres)}; "
          f"cannot know {', '.join(json.loads(card.extra['unknown_genres'])) or 'none'}")
    if champion(args.name) is None:
        promote(args.name, version)
        print(f"{args.name}/{version} is the champion (what predict and the Predict page use)")
    else:
        print(f"make it the default: python -m core models promote {args.name} {version}")
    return 0
