"""genre-zeroshot on real music: the development set (bench/devset), per genre, before and after its prior.

The zero-shot model (``core.serving.zeroshot``) maps two pretrained taggers' tags to FMA's genres by a
hand-written table. The taggers lean toward some genres (MSD's last.fm tags are mostly rock, pop and
electronic), so this script fits a *prior* on the development set: a bias per genre added to each
segment's log-probabilities and one temperature, ``softmax((log p + bias) / T)``. The biases maximise
the likelihood with every genre weighing the same (an L2 penalty keeps them small), so they correct how
the taggers lean, not how many clips of each genre the set holds; only genres with at least
``--min-clips`` clips get one, and those biases sum to zero: the prior moves probability between the
genres the set holds, never toward or away from the genres it lacks. The temperature then maximises the
plain likelihood (temperature scaling).

It is measured honestly: cross-validated by source package (every clip of a package, and so of its
composers, is held out together; ``--folds``), the reported accuracies and calibration are those of the
out-of-fold clips, scored by a prior that never saw them. ``--write-prior`` then fits the prior on the
whole set and writes it, with that out-of-fold calibration, to ``core/serving/zeroshot_prior.json``,
which every newly registered ``genre-zeroshot`` carries.

    python bench/bench_zeroshot.py --devset data/devset [--write-prior]

(the set is built first if the folder does not exist: ``bench/devset/build.py``, 3.8 GB of downloads).

Writes ``bench/results/zeroshot.json`` (per-genre tables, top-1, ECE, before and after the prior) and
prints the tables. Taggrams are computed once per clip (about 0.5 s a clip) and cached beside the set.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine
from core.calibration import calibration_summary, expected_calibration_error
from core.errors import GenreLabError
from core.serving.zeroshot import (
    DEFAULT_TAGGERS,
    MAPPING,
    PRIOR,
    ZeroShotGenreModel,
    genre_probabilities,
    genre_scores,
    mapping_digest,
    mapping_matrix,
    read_mapping,
)
from core.stats import accuracy_interval

MANIFEST = Path(__file__).with_name("devset") / "manifest.csv"
RESULTS = Path(__file__).with_name("results") / "zeroshot.json"
#: L2 penalty on the biases (per clip): keeps a genre with a few clips from swinging its bias far.
L2 = 0.05


def dev_clips(devset: Path, manifest: Path = MANIFEST) -> list[dict]:
    """The set's clips: ``{"path", "genre", "group", "authors"}`` (group: the source package), in manifest order.
    Builds the set first when ``devset`` does not exist (about 3.8 GB of Debian packages, 3 min)."""
    if not devset.exists():
        print(f"{devset}: building the development set (bench/devset/build.py)", flush=True)
        subprocess.run([sys.executable, str(manifest.with_name("build.py")), "--dest", str(devset)], check=True)
    rows = []
    with open(manifest, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            path = devset / row["clip"]
            if not path.is_file():
                raise SystemExit(f"{path}: missing; build the set first (python bench/devset/build.py --dest {devset})")
            rows.append({"path": path, "genre": row["genre"], "group": row["package"], "authors": row["authors"]})
    return rows


def clip_taggrams(clips: list[dict], cache: Path) -> list[list[np.ndarray]]:
    """Per clip, per tagger (DEFAULT_TAGGERS order), the (n_segments, 50) taggram the served model sees."""
    cache.mkdir(parents=True, exist_ok=True)
    model, out = None, []
    for clip in clips:
        stat = clip["path"].stat()
        cached = cache / f"{clip['path'].parent.name}__{clip['path'].stem}-{stat.st_size}-{int(stat.st_mtime)}.npz"
        if not cached.is_file():
            if model is None:
                model = ZeroShotGenreModel.from_files(prior_path=None)
            answer = model.classify_file(clip["path"])
            np.savez(cached, **{t: np.asarray(answer["taggram"][t]["values"], dtype=np.float32)
                                for t in DEFAULT_TAGGERS})
        with np.load(cached) as data:
            out.append([data[t] for t in DEFAULT_TAGGERS])
    return out


def clip_probabilities(scores: list[np.ndarray], bias: np.ndarray | None, temperature: float) -> np.ndarray:
    """(n_clips, n_genres): each clip's mean over its segments of the prior-adjusted probabilities."""
    return np.stack([genre_probabilities(s, bias, temperature).mean(axis=0) for s in scores])


def fit_prior(scores: list[np.ndarray], labels: np.ndarray, fitted: np.ndarray) -> tuple[np.ndarray, float]:
    """(bias (n_genres,), temperature): the biases of the genres ``fitted`` (n_genres,) marks (zero-sum
    among them, 0 elsewhere) maximise the clips' likelihood with every genre weighing the same, whatever
    its number of clips (the bias corrects how the taggers lean, not how many clips of each genre this set
    happens to hold); then the temperature maximises the plain likelihood (temperature scaling)."""
    from scipy.optimize import minimize, minimize_scalar

    n_genres, free = scores[0].shape[1], np.flatnonzero(fitted)
    counts = np.bincount(labels[labels >= 0], minlength=n_genres)
    balanced = np.where(labels >= 0, 1.0 / np.maximum(counts[np.maximum(labels, 0)], 1), 0.0)

    def nll(bias, temperature, weights):
        proba = clip_probabilities(scores, bias, temperature)
        p = np.where(labels >= 0, proba[np.arange(len(labels)), np.maximum(labels, 0)], 1e-12)
        return -np.sum(weights * np.log(np.clip(p, 1e-12, 1.0))) / np.sum(weights)

    def unpack(theta):
        bias = np.zeros(n_genres)
        bias[free] = theta[:-1] - theta[:-1].mean()
        return bias, float(np.exp(theta[-1]))

    bias = np.zeros(n_genres)
    if len(free):
        result = minimize(lambda theta: nll(*unpack(theta), balanced) + L2 * float(np.sum(unpack(theta)[0] ** 2)),
                          np.zeros(len(free) + 1), method="L-BFGS-B",
                          bounds=[(-6, 6)] * len(free) + [(np.log(0.05), np.log(20))])
        bias = unpack(result.x)[0]
    plain = np.ones(len(labels))
    log_t = minimize_scalar(lambda v: nll(bias, float(np.exp(v)), plain), bounds=(np.log(0.05), np.log(20)),
                            method="bounded").x
    return bias, float(np.exp(log_t))


def fitted_genres(labels: np.ndarray, n_genres: int, min_clips: int) -> np.ndarray:
    counts = np.bincount(labels[labels >= 0], minlength=n_genres)
    return counts >= min_clips


def out_of_fold(scores, labels, groups, n_genres: int, folds: int, min_clips: int, seed: int = 0) -> np.ndarray:
    """Each clip's probabilities from a prior fitted on the other folds (folds of whole packages)."""
    names = np.array(sorted(set(groups)))
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(names, rng.permutation(len(names)) % folds))
    which = np.array([fold_of[g] for g in groups])
    proba = np.zeros((len(labels), n_genres))
    for k in range(folds):
        train, held = which != k, which == k
        if not held.any():
            continue
        part = [scores[i] for i in np.flatnonzero(train)]
        bias, temperature = fit_prior(part, labels[train], fitted_genres(labels[train], n_genres, min_clips))
        proba[held] = clip_probabilities([scores[i] for i in np.flatnonzero(held)], bias, temperature)
    return proba


def per_genre(proba: np.ndarray, labels: np.ndarray, truth: list[str], genres: list[str]) -> list[dict]:
    """Per true genre: clips, right, top-1, and the most frequent answer."""
    answers = np.array(genres)[proba.argmax(axis=1)]
    rows = []
    for genre in sorted(set(truth)):
        mask = np.array([t == genre for t in truth])
        said, counts = np.unique(answers[mask], return_counts=True)
        right = int(np.sum(answers[mask] == genre))
        answered = " ".join(f"{s} {c}" for s, c in sorted(zip(said, counts), key=lambda x: -x[1]))
        rows.append({"genre": genre, "clips": int(mask.sum()), "right": right,
                     "top1": round(right / int(mask.sum()), 3), "answers": answered,
                     "answerable": genre in genres})
    return rows


def summary_of(proba, labels, truth, genres, authors, scored_on: str, temperature: float = 1.0) -> dict:
    """Top-1 and ECE over the clips of genres the model answers (top-1 with its 95 % interval by author:
    an author's clips are not independent, :func:`core.stats.accuracy_interval`), the per-genre table,
    the calibration summary."""
    answerable = labels >= 0
    right = proba.argmax(axis=1) == labels
    top1 = accuracy_interval(labels[answerable], proba[answerable].argmax(axis=1),
                             artists=np.asarray(authors)[answerable])
    return {"top1_answerable": round(float(right[answerable].mean()), 4), "n_answerable": int(answerable.sum()),
            "top1_ci": [round(top1["ci_low"], 4), round(top1["ci_high"], 4)], "n_authors": top1["n_artists"],
            "top1_all": round(float(right.mean()), 4), "n": int(len(labels)),
            "ece_answerable": round(expected_calibration_error(proba[answerable], labels[answerable]), 4),
            "per_genre": per_genre(proba, labels, truth, genres),
            "calibration": calibration_summary(proba[answerable], labels[answerable], scored_on, temperature)}


def show(title: str, result: dict) -> None:
    low, high = result["top1_ci"]
    print(f"\n{title}: top-1 {result['top1_answerable']:.3f} (95% CI {low:.3f}-{high:.3f} by "
          f"{result['n_authors']} authors) over the {result['n_answerable']} clips of genres it answers "
          f"({result['top1_all']:.3f} over all {result['n']}), ECE {result['ece_answerable']:.3f}")
    print(f"  {'genre':<22} {'clips':>5} {'top-1':>6}  answers")
    for row in result["per_genre"]:
        mark = "" if row["answerable"] else "  (never answered)"
        print(f"  {row['genre']:<22} {row['clips']:>5} {row['top1']:>6.2f}  {row['answers']}{mark}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devset", type=Path, default=Path("data/devset"))
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds of whole packages")
    parser.add_argument("--min-clips", type=int, default=8, help="clips a genre needs to get a bias")
    parser.add_argument("--mapping", type=Path, default=MAPPING, help="tag -> genre table to measure (default: the model's)")
    parser.add_argument("--write-prior", action="store_true", help=f"fit on the whole set, write {PRIOR.name} "
                                                                 "(the model's own mapping only)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    clips = dev_clips(args.devset, args.manifest)
    try:
        taggrams = clip_taggrams(clips, args.devset / ".taggrams")
    except GenreLabError as err:  # a clip the model cannot hear (AudioError names the file)
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.write_prior and args.mapping.resolve() != MAPPING.resolve():
        parser.error("--write-prior fits the prior of the model's own mapping; leave --mapping out")
    mapping = read_mapping(args.mapping, DEFAULT_TAGGERS)
    genres = mapping["genres"]
    matrices = [mapping_matrix(mapping, t, genres) for t in DEFAULT_TAGGERS]
    scores = [genre_scores(t, matrices) for t in taggrams]
    truth = [c["genre"] for c in clips]
    labels = np.array([genres.index(g) if g in genres else -1 for g in truth])
    groups, authors = [c["group"] for c in clips], [c["authors"] for c in clips]

    before = summary_of(clip_probabilities(scores, None, 1.0), labels, truth, genres, authors, "development set")
    oof = out_of_fold(scores, labels, groups, len(genres), args.folds, args.min_clips)
    after = summary_of(oof, labels, truth, genres, authors, "development set, out-of-fold")
    show("mapping only", before)
    show(f"mapping + prior ({args.folds}-fold CV by package, out-of-fold)", after)

    bias, temperature = fit_prior(scores, labels, fitted_genres(labels, len(genres), args.min_clips))
    counts = {g: truth.count(g) for g in sorted(set(truth))}
    fitted_on = (f"bench/devset: {len(clips)} clips of real music from {len(set(groups))} Debian packages "
                 f"({', '.join(f'{g} {n}' for g, n in counts.items())}); calibration out-of-fold, "
                 f"{args.folds} folds by package")
    after["calibration"]["temperature"] = round(temperature, 4)
    record = {"date": dt.date.today().isoformat(), "mapping": mapping_digest(args.mapping),
              "taggers": list(DEFAULT_TAGGERS), "mapping_only": before, "with_prior": after,
              "prior": {"bias": {g: round(float(b), 4) for g, b in zip(genres, bias) if b},
                        "temperature": round(temperature, 4)},
              "seconds": round(time.perf_counter() - started, 1), "machine": machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"\nprior on the whole set: temperature {temperature:.2f}, bias "
          + ", ".join(f"{g} {b:+.2f}" for g, b in zip(genres, bias) if b) + f"\nwrote {args.out}")
    if args.write_prior:
        prior = {"taggers": list(DEFAULT_TAGGERS), "mapping": mapping_digest(MAPPING),
                 "bias": record["prior"]["bias"], "temperature": record["prior"]["temperature"],
                 "fitted_on": fitted_on, "calibration": after["calibration"]}
        PRIOR.write_text(json.dumps(prior, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {PRIOR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
