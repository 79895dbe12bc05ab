"""Benchmark the CNN: ``python bench/bench_cnn.py [--tracks N] [--demo DIR]`` (``make bench``).

Writes bench/results/cnn.json and cnn.md:

- training and inference throughput (clips per second) of both architectures ("study": Flatten,
  "compact": global pooling) on 30 s and 3 s clips of 128 mel bands, streamed from a memory-mapped
  MelCache of random log-mels exactly as a study streams them (one warm-up epoch first, so graph
  tracing is not counted);
- peak resident memory of the process (``ru_maxrss``) after each measurement, against the size of
  the cache it trained on, to show the data is streamed, not loaded;
- the wall time of one fold of ``experiments/demo_cnn.toml`` per clip length (fit with early stopping
  + scoring), on the demo dataset if it exists (it is skipped, and says so, otherwise).
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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.features.mels import MelCache  # noqa: E402
from core.models.cnn import CNNClassifier  # noqa: E402
from core.study.clips import MelBatches, band_statistics, expand_clips  # noqa: E402

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
    """Clips per second training (one timed epoch after a warm-up epoch) and predicting."""
    track_ids = np.arange(1, n_tracks + 1)
    labels = track_ids % 3
    counts = np.array([len(cache.clips(int(t), clip_seconds)) for t in track_ids])
    row_tracks, row_clips = expand_clips(track_ids, counts)
    mean, std = band_statistics(cache, track_ids, clip_seconds)
    batches = MelBatches(cache, row_tracks, row_clips, np.repeat(labels, counts), clip_seconds=clip_seconds,
                         mean=mean, std=std, n_classes=3, batch_size=batch_size, shuffle=True)
    model = CNNClassifier(architecture=architecture, epochs=1).fit(batches)  # builds and traces
    started = time.perf_counter()
    model.model_.fit(batches, epochs=1, verbose=0)
    train_seconds = time.perf_counter() - started
    model.predict_proba(batches)  # traces predict
    started = time.perf_counter()
    model.predict_proba(batches)
    predict_seconds = time.perf_counter() - started
    n = len(row_tracks)
    return {"architecture": architecture, "clip_seconds": clip_seconds, "clips": int(n),
            "input_shape": list(model.model_.input_shape[1:]), "parameters": int(model.model_.count_params()),
            "train_clips_per_second": round(n / train_seconds, 1),
            "predict_clips_per_second": round(n / predict_seconds, 1),
            "peak_rss_mib_after": round(peak_rss_mib(), 1)}


def demo_fold(root: Path) -> list[dict] | str:
    """Wall time of fold 1 of the demo study per clip length, or why it was skipped."""
    from core import tracking
    from core.data.selection import select
    from core.features.batch import fill_mels
    from core.study.clips import grouped_folds
    from core.study.cnn_study import ClipStudy, cached_selection, config_from_spec, selection_artists
    from core.study.spec import load_spec

    if not (root / "fma_metadata" / "tracks.csv").is_file():
        return f"skipped: no demo dataset at {root} (make data)"
    spec = load_spec(ROOT / "experiments" / "demo_cnn.toml")
    config = config_from_spec(spec)
    mel_params = spec.section("mels", {"sr": 22050, "n_fft": 2048, "hop_length": 512, "n_mels": 128})
    started = time.perf_counter()
    _, cache = fill_mels(root, **mel_params)
    fill_seconds = time.perf_counter() - started
    selection = cached_selection(select(root, subset=spec.get("dataset.subset"), genres=spec.get("dataset.genres"),
                                        require_audio=True), cache)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tempfile.mkdtemp(prefix='bench-cnn-')}/mlflow.db"
    tracking.configure()
    artists = selection_artists(selection) if config.group_by == "artist" else None
    study = ClipStudy(selection, cache, config, experiment="bench_cnn", mel_params=cache.params, register=False,
                      artist_ids=artists, out=lambda line: None)
    train_pos, valid_pos = grouped_folds(study.dev.labels, study.dev.groups, config.folds, config.seed)[0]
    rows = []
    import mlflow

    for seconds in config.clip_seconds:
        with mlflow.start_run():
            started = time.perf_counter()
            model, scores, _, _ = study.fit_and_score(study.dev.take(train_pos), study.dev.take(valid_pos), seconds,
                                                      config.epochs, early_stopping=True)
            rows.append({"clip_seconds": seconds, "fold_seconds": round(time.perf_counter() - started, 1),
                         "epochs_trained": model.epochs_trained_, "train_tracks": int(len(train_pos)),
                         "clip_accuracy": round(scores["clip_accuracy"], 3),
                         "track_accuracy": round(scores["track_accuracy"], 3),
                         "mel_cache_fill_seconds": round(fill_seconds, 1)})
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
        lines.append(f"\n(log-mel cache fill before it: {result['demo_fold'][0]['mel_cache_fill_seconds']} s; "
                     "0 when already cached)")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=64, help="30 s tracks of random mels to stream (default 64)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--demo", default=str(ROOT / "data" / "demo"), help="demo dataset root")
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
    result = {"machine": machine, "tracks": args.tracks, "batch_size": args.batch_size, "throughput": rows,
              "cache_mib": round(cache_mib, 1), "peak_rss_mib": round(peak_rss_mib(), 1),
              "demo_fold": demo_fold(Path(args.demo))}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cnn.json").write_text(json.dumps(result, indent=2))
    (RESULTS / "cnn.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
