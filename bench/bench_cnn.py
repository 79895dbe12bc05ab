"""Benchmark the CNN: ``python bench/bench_cnn.py [--tracks N] [--demo DIR] [--set KEY=VALUE]`` (``make bench``).

Writes bench/results/cnn.json and cnn.md:

- training and inference throughput (clips per second) of both architectures ("study": Flatten,
  "compact": global pooling) on 30 s and 3 s clips of 128 mel bands, streamed from a memory-mapped
  MelCache of random log-mels exactly as a study streams them (one warm-up epoch first, so graph
  tracing is not counted);
- peak resident memory of the process (``ru_maxrss``) after each measurement, against the size of
  the cache it trained on, to show the data is streamed, not loaded;
- the wall time of one fold of ``experiments/demo_cnn.toml`` per clip length (the engine's fold task:
  fit with early stopping + scoring), on the demo dataset if it exists (it is skipped, and says so,
  otherwise); ``--set`` overrides the spec (e.g. ``--set cnn.epochs=3`` on a busy machine).
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
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.features.mels import MelCache  # noqa: E402
from core.models.clip_batches import band_statistics  # noqa: E402
from core.models.cnn import CNNClassifier, CNNParams  # noqa: E402
from core.study.families.cnn import Tracks, batches  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MEL_PARAMS = dict(sr=22050, n_fft=2048, hop_length=512, n_mels=128)
TRACK_FRAMES = 1292  # 30 s at 22050 Hz, hop 512


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def random_cache(directory: Path, n_tracks: int) -> MelCache:
    cache = MelCache(directory, **MEL_PARAMS)
    rng = np.random.default_rng(0)
    for track_id in range(1, n_tracks + 1):
        cache.save(track_id, (rng.normal(size=(128, TRACK_FRAMES)) * 10 - 40).astype(np.float32))
    return cache


def throughput(cache: MelCache, n_tracks: int, architecture: str, clip_seconds: float, batch_size: int) -> dict:
    """Clips per second training (one timed epoch after a warm-up epoch) and predicting, on the batches
    the CNN family streams (``core.study.families.cnn.batches``)."""
    ids = np.arange(1, n_tracks + 1)
    tracks = Tracks(ids, ids % 3, ids)
    params = asdict(CNNParams(architecture=architecture, epochs=1, batch_size=batch_size))
    mean, std = band_statistics(cache, ids, clip_seconds)
    train = batches(cache, tracks, clip_seconds, mean, std, 3, params, training=True)
    model = CNNClassifier(**params).fit(train)  # builds and traces
    started = time.perf_counter()
    model.model_.fit(train, epochs=1, verbose=0)
    train_seconds = time.perf_counter() - started
    model.predict_proba(train)  # traces predict
    started = time.perf_counter()
    model.predict_proba(train)
    predict_seconds = time.perf_counter() - started
    n = len(train.row_tracks)
    return {"architecture": architecture, "clip_seconds": clip_seconds, "clips": int(n),
            "input_shape": list(model.model_.input_shape[1:]), "parameters": int(model.model_.count_params()),
            "train_clips_per_second": round(n / train_seconds, 1),
            "predict_clips_per_second": round(n / predict_seconds, 1),
            "peak_rss_mib_after": round(peak_rss_mib(), 1)}


def demo_fold(root: Path, overrides: list[str]) -> list[dict] | str:
    """Wall time of fold 1 of the demo study per clip length (the engine's fold task, run here), or why
    it was skipped."""
    from core.study.engine import Study
    from core.study.families import family
    from core.study.search import draw_candidates
    from core.study.spec import load_spec

    if not (root / "fma_metadata" / "tracks.csv").is_file():
        return f"skipped: no demo dataset at {root} (make data)"
    spec = load_spec(ROOT / "experiments" / "demo_cnn.toml", overrides)
    fam = family(spec.family)
    started = time.perf_counter()
    arms = fam.load(spec, root, out=lambda line: None)  # fills the log-mel cache, draws the folds
    load_seconds = time.perf_counter() - started
    study = Study(spec, fam, arms, executor=None, progress=None, out=lambda line: None)
    candidate = draw_candidates(spec.search.space, spec.search.n_candidates, spec.search.seed)[0]
    rows = []
    for arm in arms:
        params = study.fit_params(arm, fam.base_params(spec.sections), candidate, 1.0)
        fn, args = fam.fold_task(arm, params, 0)
        started = time.perf_counter()
        result = fn(*args)
        rows.append({"clip_seconds": arm.data.clip_seconds, "fold_seconds": round(time.perf_counter() - started, 1),
                     "epochs_trained": result["epochs_run"], "train_tracks": int(len(arm.folds[0][0])),
                     "clip_accuracy": round(result["metrics"]["clip_accuracy"], 3),
                     "track_accuracy": round(result["metrics"]["track_accuracy"], 3),
                     "mel_cache_fill_seconds": round(load_seconds, 1)})
        print(rows[-1], flush=True)
    return rows


def markdown(result: dict) -> str:
    lines = ["# CNN benchmark", "", f"Machine: {result['machine']}", "",
             "| architecture | clip | clips | parameters | train clips/s | predict clips/s | peak RSS MiB |",
             "|---|---|---|---|---|---|---|"]
    for r in result["throughput"]:
        lines.append(f"| {r['architecture']} | {r['clip_seconds']:g} s | {r['clips']} | {r['parameters']:,} | "
                     f"{r['train_clips_per_second']} | {r['predict_clips_per_second']} | {r['peak_rss_mib_after']} |")
    lines += ["", f"Mel cache trained on: {result['cache_mib']} MiB on disk (memory-mapped); "
                  f"process peak RSS {result['peak_rss_mib']} MiB.", "", "## One fold of the demo study", ""]
    if isinstance(result["demo_fold"], str):
        lines.append(result["demo_fold"])
    else:
        lines += ["| clip | fold seconds | epochs | training tracks | clip acc | track acc |", "|---|---|---|---|---|---|"]
        for r in result["demo_fold"]:
            lines.append(f"| {r['clip_seconds']:g} s | {r['fold_seconds']} | {r['epochs_trained']} | "
                         f"{r['train_tracks']} | {r['clip_accuracy']} | {r['track_accuracy']} |")
        lines.append(f"\n(loading the study's data before it, log-mel cache fill included: "
                     f"{result['demo_fold'][0]['mel_cache_fill_seconds']} s; about 0 when already cached)"
                     + (f" Spec overrides: {' '.join(result['demo_overrides'])}." if result["demo_overrides"] else ""))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=64, help="30 s tracks of random mels to stream (default 64)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--demo", default=str(ROOT / "data" / "demo"), help="demo dataset root")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override of experiments/demo_cnn.toml for the demo fold, e.g. cnn.epochs=3")
    args = parser.parse_args()

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    machine = f"{os.cpu_count()} CPUs, {'GPU: ' + ', '.join(g.name for g in gpus) if gpus else 'no GPU'}, " \
              f"Python {platform.python_version()}, TensorFlow {tf.__version__}"
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-cnn-") as tmp:
        cache = random_cache(Path(tmp), args.tracks)
        cache_mib = sum(p.stat().st_size for p in cache.dir.rglob("*.npy")) / 2**20
        for architecture in ("study", "compact"):
            for clip_seconds in (30.0, 3.0):
                rows.append(throughput(cache, args.tracks, architecture, clip_seconds, args.batch_size))
                print(rows[-1], flush=True)
    machine += f", load average {os.getloadavg()[0]:.1f} (1 min, at the end of the throughput runs)"
    result = {"machine": machine, "tracks": args.tracks, "batch_size": args.batch_size, "throughput": rows,
              "cache_mib": round(cache_mib, 1), "peak_rss_mib": round(peak_rss_mib(), 1),
              "demo_fold": demo_fold(Path(args.demo), args.set),
              "demo_overrides": args.set}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cnn.json").write_text(json.dumps(result, indent=2))
    (RESULTS / "cnn.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
