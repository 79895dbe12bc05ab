"""Benchmark live prediction: ``python bench/bench_predict.py [--repeats N]`` (``make bench``).

Writes bench/results/predict.json and predict.md: the warm time of ``core.serving.predictor.predict_file``
on a 30 s stereo 44.1 kHz MP3, on one CPU core (affinity and every thread pool pinned to 1), for

- the feature path: decode the file at its own rate (the card's window, ``full``), FMA's 518
  features, the study's Keras MLP ([3000, 500] units) behind the registered pyfunc; every repeat
  reads a fresh copy of the file, so the features are always computed (target: at most 1 s);
- the CNN path: stream the file, log-mel, the study's CNN on every 3 s segment and on one 30 s
  segment (target: at most 0.5 s).

The networks are study-sized but briefly fitted (the weights do not change the arithmetic), logged
and registered with the project's own code (``core.registry``: pyfunc model and model card) in a
temporary MLflow store, then loaded through the registry exactly as the CLI loads them. One warm-up
call per model is excluded (librosa compiles with numba, TensorFlow traces its graph); model loading
is reported separately.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# One core: pin the process and every thread pool before numpy, numba or TensorFlow start.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
            "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ[var] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine, music_mp3  # noqa: E402

RESULTS = ROOT / "bench" / "results"
GENRES = ["Electronic", "Experimental", "Folk", "Hip-Hop", "Instrumental", "International", "Pop", "Rock"]
TARGETS = {"mlp": 1.0, "cnn-3s": 0.5, "cnn-30s": 0.5}


def card(family: str, input_kind: str, run_id: str, **extra):
    """What the bench's versions say they are (no test split: n_test 0)."""
    from core.registry import ModelCard

    return ModelCard(family=family, input_kind=input_kind, window="full", dataset="bench", fingerprint="",
                     synthetic=True, genres=GENRES, test_accuracy=0.0, n_test=0, test_accuracy_ci_low=0.0,
                     test_accuracy_ci_high=0.0, run_id=run_id, extra=extra)


def register_mlp(clip: Path) -> None:
    """The study's Keras MLP on features of the bench clip (jittered rows, one epoch), as ``genre-mlp``."""
    import mlflow
    import pandas as pd
    from sklearn.preprocessing import StandardScaler

    from core.features.fma_features import FEATURE_NAMES, file_features
    from core.models.mlp import make_estimator
    from core.serving.pyfunc import log_feature_model, register_version

    rng = np.random.default_rng(0)
    base = np.nan_to_num(file_features(clip))  # what the predictor computes: the file at its own rate
    X = (base * rng.normal(1.0, 0.05, size=(8 * len(GENRES), len(base)))).astype(np.float32)
    y = np.repeat(GENRES, 8)
    scaler = StandardScaler().fit(X)
    estimator = make_estimator("keras_mlp", {"hidden_units": [3000, 500], "epochs": 1, "batch_size": 64})
    estimator.fit(scaler.transform(X), y)
    with mlflow.start_run(run_name="bench genre-mlp") as run:
        info = log_feature_model(estimator, scaler, None, FEATURE_NAMES, "keras_mlp",
                                 pd.DataFrame(X[:1].astype(np.float64), columns=FEATURE_NAMES))
    register_version(info.model_uri, "genre-mlp", card("keras_mlp", "features", run.info.run_id))


def register_cnn(clip_seconds: float) -> None:
    """The study's CNN (Flatten head) for ``clip_seconds`` clips, untrained, as ``genre-cnn@clip-<S>s``."""
    import mlflow

    from core.features.mels import DEFAULT_HOP_LENGTH, DEFAULT_N_FFT, DEFAULT_N_MELS, DEFAULT_SR, frames_per_clip
    from core.models.cnn import build_cnn
    from core.serving.pyfunc import log_audio_model, register_version

    frames = frames_per_clip(clip_seconds, DEFAULT_SR, DEFAULT_HOP_LENGTH)
    network = build_cnn((DEFAULT_N_MELS, frames, 1), len(GENRES), "study")
    params = {"sr": DEFAULT_SR, "n_fft": DEFAULT_N_FFT, "hop_length": DEFAULT_HOP_LENGTH, "n_mels": DEFAULT_N_MELS,
              "frames_per_clip": frames, "clip_seconds": clip_seconds, "genres": GENRES,
              "band_mean": [-40.0] * DEFAULT_N_MELS, "band_std": [20.0] * DEFAULT_N_MELS}
    with mlflow.start_run(run_name=f"bench genre-cnn {clip_seconds:g}s") as run, \
            tempfile.TemporaryDirectory() as tmp:
        info = log_audio_model(network, params, Path(tmp))
    register_version(info.model_uri, "genre-cnn", card("keras_cnn", "mels", run.info.run_id,
                                                       clip_seconds=f"{clip_seconds:g}"),
                     aliases=[f"clip-{clip_seconds:g}s"])


def time_model(ref: str, clip: Path, repeats: int) -> dict:
    from core.serving import predictor

    info = predictor.resolve(ref)
    started = time.perf_counter()
    predictor.load(info)
    load_seconds = time.perf_counter() - started
    predictor.predict_file(clip, info)  # warm-up: numba compilation, graph tracing
    times = []
    for i in range(repeats):
        copy = clip.with_name(f"{clip.stem}-{ref.replace('/', '_')}-{i}{clip.suffix}")
        copy.write_bytes(clip.read_bytes())  # a new file each time: the predictor's feature cache misses
        started = time.perf_counter()
        result = predictor.predict_file(copy, info)
        times.append(time.perf_counter() - started)
        if "error" in result:
            raise SystemExit(f"bench: {ref}: {result['error']}")
    row = {"model": info.ref}
    if not result["segments"]:  # a feature model: how much of the time is decoding + features
        feature_times = []
        for i in range(repeats):
            copy = clip.with_name(f"{clip.stem}-features-{i}{clip.suffix}")
            copy.write_bytes(clip.read_bytes())
            started = time.perf_counter()
            predictor.file_features(copy)
            feature_times.append(time.perf_counter() - started)
        row["decode_and_features_median_seconds"] = round(statistics.median(feature_times), 4)
    return {**row, "load_seconds": round(load_seconds, 3), "median_seconds": round(statistics.median(times), 4),
            "min_seconds": round(min(times), 4), "max_seconds": round(max(times), 4), "repeats": repeats,
            "segments": len(result["segments"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
        from core import tracking

        tracking.configure()
        clip = music_mp3(tmp / "clip30.mp3")
        register_mlp(clip)
        register_cnn(3.0)
        register_cnn(30.0)
        rows = {"mlp": time_model("genre-mlp", clip, args.repeats),
                "cnn-3s": time_model("genre-cnn@clip-3s", clip, args.repeats),
                "cnn-30s": time_model("genre-cnn@clip-30s", clip, args.repeats)}
    for name, row in rows.items():
        row["target_seconds"] = TARGETS[name]
        row["meets_target"] = row["median_seconds"] <= TARGETS[name]
    report = {
        "benchmark": "predict",
        "input": "30 s stereo 44.1 kHz MP3 (synthetic music)",
        "cores": 1,
        **machine(),
        "results": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "predict.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# Live prediction, warm, one core", "",
             f"Input: {report['input']}. Median of {args.repeats} calls of `predict_file` after one warm-up; "
             f"features are recomputed every call. Model loading is separate. Machine load average "
             f"{report['load_average_1min']} on {os.cpu_count()} cores while measuring.", "",
             "| path | model | median s | min s | max s | target s | meets | segments | load s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['model']} | {r['median_seconds']:.3f} | {r['min_seconds']:.3f} | "
                     f"{r['max_seconds']:.3f} | {r['target_seconds']:g} | {'yes' if r['meets_target'] else 'NO'} | "
                     f"{r['segments']} | {r['load_seconds']:.2f} |")
    if "decode_and_features_median_seconds" in rows["mlp"]:
        lines += ["", f"Of the MLP path, decoding the 30 s and computing the 518 features take "
                      f"{rows['mlp']['decode_and_features_median_seconds']:.3f} s (median)."]
    (RESULTS / "predict.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
