"""Benchmark the demo dataset: ``python bench/bench_demo.py [--tracks-per-genre N] [--workers W] [--keep DIR]``.

Writes bench/results/demo.json and demo.md:

- the wall and CPU time of a build (``build_demo``) with W worker processes, and per clip;
- the time to compute FMA's 518 features of every clip into the root's features.csv
  (``core.features.table.fill_features``, what ``python -m core features`` runs: worker start and
  numba warm-up included);
- how learnable the demo is, which is what it is for: accuracy of logistic regression and of a
  scikit-learn MLP on standardized features (1) trained on each tier's official training split and
  scored on that tier's test split, as the studies do, and (2) as a learning curve: 5-fold CV
  grouped by artist over all tracks, training on 40 %, 70 % and 100 % of each fold's training
  artists (the tiers' shares), which averages over every track instead of a test split of a few
  dozen. The demo must land well below 100 % and improve with more data.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.data import demo, fma  # noqa: E402
from core.features.table import fill_features  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TIER_FRACTIONS = dict(demo.TIER_SHARES)


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def models():
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "logistic_regression": lambda: make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000)),
        "mlp": lambda: make_pipeline(StandardScaler(), MLPClassifier((256,), alpha=1e-2, max_iter=400,
                                                                     random_state=0)),
    }


def tier_accuracy(X: np.ndarray, labels: np.ndarray, splits: np.ndarray, tiers: np.ndarray) -> dict:
    """Accuracy per tier on its official split: train on training, score on test (as the studies do)."""
    order = list(fma.SUBSETS)
    rank = np.array([order.index(t) for t in tiers])
    out = {}
    for i, tier in enumerate(order):
        inside = rank <= i
        train, test = inside & (splits == "training"), inside & (splits == "test")
        out[tier] = {"n_train": int(train.sum()), "n_test": int(test.sum())}
        for name, make in models().items():
            model = make().fit(X[train], labels[train])
            out[tier][name] = float((model.predict(X[test]) == labels[test]).mean())
    return out


def learning_curve(X: np.ndarray, labels: np.ndarray, artists: np.ndarray) -> dict:
    """5-fold CV grouped by artist, training on the tiers' shares of each fold's training artists."""
    from sklearn.model_selection import StratifiedGroupKFold

    scores: dict[str, dict[str, list[float]]] = {tier: {} for tier in TIER_FRACTIONS}
    n_train: dict[str, list[int]] = {tier: [] for tier in TIER_FRACTIONS}
    folds = StratifiedGroupKFold(5, shuffle=True, random_state=0).split(X, labels, artists)
    for fold, (train, test) in enumerate(folds):
        order = np.random.default_rng(fold).permutation(np.unique(artists[train]))
        for tier, share in TIER_FRACTIONS.items():
            keep = train[np.isin(artists[train], order[: round(share * len(order))])]
            n_train[tier].append(len(keep))
            for name, make in models().items():
                model = make().fit(X[keep], labels[keep])
                scores[tier].setdefault(name, []).append(float((model.predict(X[test]) == labels[test]).mean()))
    return {tier: {"n_train_mean": float(np.mean(n_train[tier])),
                   **{f"{name}_mean": float(np.mean(v)) for name, v in by_model.items()},
                   **{f"{name}_std": float(np.std(v)) for name, v in by_model.items()}}
            for tier, by_model in scores.items()}


def markdown(result: dict) -> str:
    build, feats = result["build"], result["features"]
    lines = [
        "# Demo dataset benchmark", "",
        f"{result['machine']} (1-min load average {result['load_average_1min']:.1f} at the end); "
        f"{result['tracks']} tracks ({result['tracks_per_genre']} per genre), seed {result['seed']}.", "",
        f"- build: {build['wall_s']:.1f} s wall with {build['workers']} workers, {build['cpu_s']:.1f} s CPU "
        f"({build['cpu_s_per_clip']:.2f} s CPU per 30 s clip); {build['disk_mib']:.1f} MiB of MP3 (hard-linked tiers)",
        f"- FMA features: {feats['wall_s']:.1f} s wall with {feats['workers']} workers "
        f"({feats['wall_s'] * feats['workers'] / result['tracks']:.2f} s per clip per worker, worker start included)", "",
        "## Accuracy on each tier's official test split (8 genres, chance 12.5 %)", "",
        "| tier | train | test | logistic regression | MLP |", "|---|---|---|---|---|",
    ]
    for tier, row in result["tier_accuracy"].items():
        lines.append(f"| {tier} | {row['n_train']} | {row['n_test']} | {row['logistic_regression']:.3f} | {row['mlp']:.3f} |")
    lines += ["", "## Learning curve: 5-fold CV grouped by artist (mean ± std over folds)", "",
              "| training share | mean train size | logistic regression | MLP |", "|---|---|---|---|"]
    for tier, row in result["learning_curve"].items():
        lines.append(f"| {TIER_FRACTIONS[tier]:.0%} ({tier}) | {row['n_train_mean']:.0f} | "
                     f"{row['logistic_regression_mean']:.3f} ± {row['logistic_regression_std']:.3f} | "
                     f"{row['mlp_mean']:.3f} ± {row['mlp_std']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks-per-genre", type=int, default=demo.DEFAULT_TRACKS_PER_GENRE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", metavar="DIR", help="build in this empty folder and keep the root there "
                        "(e.g. for bench_cnn.py --demo DIR); default: a temporary folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(args.keep) if args.keep else Path(tmp) / "demo"
        if dest.exists() and any(dest.iterdir()):
            raise SystemExit(f"bench: {dest} is not empty (the build is timed from scratch)")
        cpu, start = cpu_seconds(), time.perf_counter()
        demo.build_demo(dest, args.tracks_per_genre, args.seed, workers=args.workers)
        wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        tracks = fma.load_tracks(dest)
        disk = sum(p.stat().st_size for p in (dest / "fma_large").rglob("*.mp3"))
        report = fill_features(dest, workers=args.workers)  # what `python -m core features` runs
        X = fma.load_features(dest).loc[tracks.index].to_numpy()

    labels = tracks["track", "genre_top"].astype(str).to_numpy()
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average_1min": os.getloadavg()[0],
        "tracks_per_genre": args.tracks_per_genre, "seed": args.seed, "tracks": len(tracks),
        "build": {"wall_s": wall, "cpu_s": cpu, "cpu_s_per_clip": cpu / len(tracks), "workers": args.workers,
                  "disk_mib": disk / 2**20},
        "features": {"wall_s": report.seconds, "workers": args.workers, "failed": len(report.failures)},
        "tier_accuracy": tier_accuracy(X, labels, tracks["set", "split"].astype(str).to_numpy(),
                                       tracks["set", "subset"].astype(str).to_numpy()),
        "learning_curve": learning_curve(X, labels, tracks["artist", "id"].to_numpy()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "demo.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "demo.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
