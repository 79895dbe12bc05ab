"""Benchmark the audio features: ``python bench/bench_features.py [--clips N]`` (``make bench``).

Writes bench/results/features.json and features.md. Everything runs on generated, real-format
clips: 30 s MP3s, 44.1 kHz stereo (FMA's clips), written with soundfile.

- per clip on one core: FMA's recipe as its features.py writes it (``bench/fma_recipe.py``: one
  ``librosa.load``, one STFT and one CQT shared) against ``core.features.fma_features`` (decoding
  included in both), with the largest difference between their values;
- log-mel per clip (decode + resample to 22050 Hz + log-mel), and the cost of merely decoding;
- the study's image routes for the CNN: a matplotlib PNG per 30 s clip, and the 3 s route (cut
  the track into 3 s MP3 pieces, load each, mel, one PNG per piece) against our cached route
  (one log-mel per track, sliced into 3 s clips);
- throughput with every core (worker processes, pool start included), and the projection for
  fma_small (8,000 clips) on this machine's cores.
"""
from __future__ import annotations

import os

# One core per measurement: set before numpy and friends start their thread pools.
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import steady_throughput  # noqa: E402
from bench.fma_recipe import fma_reference_file  # noqa: E402
from core.audio import load_audio  # noqa: E402
from core.features.batch import TrackFile, default_workers  # noqa: E402
from core.features.fma_features import FEATURE_NAMES, file_features, warm_up_librosa  # noqa: E402
from core.features.mels import MelCache, log_mel  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SR = 44100
CLIP_SECONDS = 30.0
FMA_SMALL_CLIPS = 8000


def synth_clip(seed: int) -> np.ndarray:
    """30 s of music-like stereo audio (chords, vibrato, percussive noise), shape (n, 2) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(CLIP_SECONDS * SR)) / SR
    y = np.zeros_like(t)
    root = 55.0 * 2 ** (rng.integers(0, 24) / 12)
    for k, ratio in enumerate([1, 2, 2.52, 3, 4, 5.04, 6]):
        wobble = 1 + 0.003 * np.sin(2 * np.pi * rng.uniform(3, 6) * t)
        gate = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t + rng.uniform(0, 6))
        y += 0.1 / (1 + 0.4 * k) * np.sin(2 * np.pi * root * ratio * t * wobble) * gate
    beat = (np.sin(2 * np.pi * rng.uniform(1.5, 2.5) * t) > 0.8).astype(float)
    y += 0.08 * rng.standard_normal(t.size) * beat
    left, right = y, 0.9 * y + 0.01 * rng.standard_normal(t.size)
    return (0.7 * np.stack([left, right], axis=1) / np.abs(y).max()).astype(np.float32)


CPU_TIMES: dict[str, list[float]] = {}


def timed(fn, *args, label: str | None = None):
    """(wall seconds, result); with ``label``, also records the process CPU seconds under it.

    CPU time of single-threaded work is what its wall time would be on an idle core: on a shared
    machine it is the fairer basis for projections.
    """
    cpu, start = time.process_time(), time.perf_counter()
    out = fn(*args)
    wall = time.perf_counter() - start
    if label:
        CPU_TIMES.setdefault(label, []).append(time.process_time() - cpu)
    return wall, out


def median(values) -> float:
    return float(statistics.median(values))


def png_of(mel_db: np.ndarray, sr: int, path: Path) -> None:
    """The study's image route: a spectrogram drawn by librosa.display into a PNG."""
    import librosa.display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    librosa.display.specshow(mel_db, sr=sr, ax=ax)
    ax.set_axis_off()
    fig.savefig(path, dpi=100, bbox_inches="tight", pad_inches=0)
    plt.close(fig)


def study_png_route(path: Path, out_dir: Path) -> None:
    import librosa

    y, sr = librosa.load(path, sr=22050)
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr))
    png_of(mel, sr, out_dir / f"{path.stem}.png")


def cut_pieces(path: Path, out_dir: Path, seconds: float = 3.0) -> list[Path]:
    """The study's first step of the 3 s route: cut a track into 3 s MP3 pieces."""
    audio, sr = sf.read(path, dtype="float32")
    step = int(seconds * sr)
    pieces = []
    for i in range(len(audio) // step):
        piece = out_dir / f"{path.stem}_{i:02d}.mp3"
        sf.write(piece, audio[i * step : (i + 1) * step], sr, format="MP3")
        pieces.append(piece)
    return pieces


def study_3s_route(pieces: list[Path], out_dir: Path) -> None:
    for piece in pieces:
        study_png_route(piece, out_dir)


def our_3s_route(path: Path, cache: MelCache, key: str) -> int:
    """Our route: decode once, one log-mel per track into the cache, slice 3 s clips from the memory map."""
    cache.compute(key, path)
    return len(cache.clips(key, 3.0))


def _mel_job(job: TrackFile) -> None:
    y, sr = load_audio(job.path, sr=22050)
    log_mel(y, sr)


def _features_job(job: TrackFile) -> None:
    file_features(job.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4, help="30 s clips to time (default 4)")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    try:
        import matplotlib

        matplotlib.use("Agg")
        have_matplotlib = True
    except ImportError:
        have_matplotlib = False

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        tmp = Path(tmp)
        clips = []
        for i in range(args.clips):
            path = tmp / f"{i:06d}.mp3"
            sf.write(path, synth_clip(i), SR, format="MP3")
            clips.append(path)

        warm_up_librosa()
        fma_reference_file(clips[0])  # warm the recipe's code paths too
        rows = {k: [] for k in ("decode", "decode_resample", "ours", "fma", "log_mel", "png30", "cut3", "png3", "ours3")}
        worst_abs, worst_rel, worst_name = 0.0, 0.0, ""
        cache = MelCache(tmp / "mels")
        for path in clips:
            rows["decode"].append(timed(sf.read, path)[0])
            rows["decode_resample"].append(timed(load_audio, path, 22050)[0])
            t_ours, ours = timed(file_features, path, label="ours")
            t_fma, ref = timed(fma_reference_file, path, label="fma")
            rows["ours"].append(t_ours)
            rows["fma"].append(t_fma)
            comparable = ~np.isnan(ref)  # current scipy: nan on constant rows; FMA's and ours: 0 / -3
            diff = np.abs(ours - ref)[comparable]
            rel = diff / np.maximum(np.abs(ref[comparable]), 1e-3)
            if rel.max() > worst_rel:
                worst_rel, worst_abs = float(rel.max()), float(diff.max())
                worst_name = np.asarray(FEATURE_NAMES)[comparable][rel.argmax()]
            rows["log_mel"].append(timed(lambda p: log_mel(load_audio(p, sr=22050)[0]), path, label="log_mel")[0])
            timed(sf.read, path, label="decode")
            rows["ours3"].append(timed(our_3s_route, path, cache, path.stem, label="ours3")[0])
            if have_matplotlib:
                png_dir = tmp / "png"
                png_dir.mkdir(exist_ok=True)
                rows["png30"].append(timed(study_png_route, path, png_dir, label="png30")[0])
                t_cut, pieces = timed(cut_pieces, path, png_dir, label="cut3")
                rows["cut3"].append(t_cut)
                rows["png3"].append(timed(study_3s_route, pieces, png_dir, label="png3")[0])

        cores = default_workers()
        many = [TrackFile(i, clips[i % len(clips)]) for i in range(4 * cores)]
        features_rate = steady_throughput(_features_job, many, cores, warm_up_librosa)
        mels_rate = steady_throughput(_mel_job, many, cores, None)

    m = {k: median(v) if v else None for k, v in rows.items()}
    cpu = {k: median(v) for k, v in CPU_TIMES.items()}
    results = {
        "machine": {
            "cpus": cores,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        },
        "clips": args.clips,
        "clip": "30 s MP3, 44.1 kHz stereo (generated)",
        "per_clip_one_core_s": {
            "decode_mp3": m["decode"],
            "decode_and_resample_22050": m["decode_resample"],
            "features_fma_recipe": m["fma"],
            "features_ours": m["ours"],
            "log_mel": m["log_mel"],
        },
        "per_clip_cpu_s": cpu,
        "features_speedup": m["fma"] / m["ours"],
        "features_speedup_cpu": cpu["fma"] / cpu["ours"],
        "features_same_values": {"max_abs_diff": worst_abs, "max_rel_diff": worst_rel, "worst_feature": str(worst_name)},
        "log_mel_over_decode": m["log_mel"] / m["decode"],
        "mel_routes_per_track_s": {
            "matplotlib": "installed" if have_matplotlib else "not installed: PNG routes not measured",
            "study_png_30s": m["png30"],
            "study_3s_cut_mp3_pieces": m["cut3"],
            "study_3s_load_mel_png": m["png3"],
            "study_3s_total": (m["cut3"] + m["png3"]) if have_matplotlib else None,
            "ours_3s_cached_clips": m["ours3"],
            "speedup_3s": ((m["cut3"] + m["png3"]) / m["ours3"]) if have_matplotlib else None,
            "speedup_3s_cpu": ((cpu["cut3"] + cpu["png3"]) / cpu["ours3"]) if have_matplotlib else None,
        },
        "throughput_all_cores": {
            "workers": cores,
            "clips": len(many),
            "features_clips_per_s": features_rate,
            "log_mel_clips_per_s": mels_rate,
            "note": "steady state: worker processes started and warmed up before timing",
        },
        "fma_small_projection_minutes": {
            "clips": FMA_SMALL_CLIPS,
            "cores": cores,
            "features_measured_throughput": FMA_SMALL_CLIPS / features_rate / 60,
            "log_mel_measured_throughput": FMA_SMALL_CLIPS / mels_rate / 60,
            "features_idle_cores": FMA_SMALL_CLIPS * cpu["ours"] / cores / 60,
            "log_mel_idle_cores": FMA_SMALL_CLIPS * cpu["log_mel"] / cores / 60,
            "note": "idle_cores: per-clip CPU time x clips / cores, what idle cores would take",
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "features.json").write_text(json.dumps(results, indent=2))
    (RESULTS / "features.md").write_text(markdown(results))
    print(markdown(results))


def markdown(r: dict) -> str:
    one = r["per_clip_one_core_s"]
    cpu = r["per_clip_cpu_s"]
    routes = r["mel_routes_per_track_s"]
    through = r["throughput_all_cores"]
    proj = r["fma_small_projection_minutes"]
    same = r["features_same_values"]

    def s(value):
        return "n/a" if value is None else f"{value:.3f} s"

    lines = [
        "# Audio features benchmark",
        "",
        f"{r['clips']} clips: {r['clip']}; {r['machine']['cpus']} CPUs, Python {r['machine']['python']}; "
        f"load average before/after: {r['machine']['load_average_1min_before_after']} (a shared machine "
        "inflates every time below alike).",
        "",
        "| per clip, one core | median wall | median CPU |",
        "|---|---|---|",
        f"| decode the MP3 (soundfile) | {s(one['decode_mp3'])} | {s(cpu['decode'])} |",
        f"| decode + resample to 22050 Hz | {s(one['decode_and_resample_22050'])} | |",
        f"| 518 features, FMA's recipe (librosa.load + features.py) | {s(one['features_fma_recipe'])} | {s(cpu['fma'])} |",
        f"| 518 features, ours (decode included) | {s(one['features_ours'])} | {s(cpu['ours'])} |",
        f"| log-mel (decode + resample + mel) | {s(one['log_mel'])} | {s(cpu['log_mel'])} |",
        "",
        f"Features: **{r['features_speedup']:.2f}x** faster than FMA's recipe "
        f"({r['features_speedup_cpu']:.2f}x in CPU time); largest difference "
        f"{same['max_abs_diff']:.2e} absolute ({same['max_rel_diff']:.2e} relative, {same['worst_feature']}).",
        f"Log-mel costs **{r['log_mel_over_decode']:.2f}x** merely decoding the MP3.",
        "",
        f"| mel route, per track (matplotlib {routes['matplotlib']}) | median wall | median CPU |",
        "|---|---|---|",
        f"| study: PNG per 30 s clip | {s(routes['study_png_30s'])} | {s(cpu.get('png30'))} |",
        f"| study 3 s: cut into MP3 pieces | {s(routes['study_3s_cut_mp3_pieces'])} | {s(cpu.get('cut3'))} |",
        f"| study 3 s: load, mel, PNG per piece | {s(routes['study_3s_load_mel_png'])} | {s(cpu.get('png3'))} |",
        f"| study 3 s: total | {s(routes['study_3s_total'])} | |",
        f"| ours: cached log-mel, sliced into 3 s clips | {s(routes['ours_3s_cached_clips'])} | {s(cpu['ours3'])} |",
        "",
    ]
    if routes["speedup_3s"] is not None:
        lines += [f"3 s clips: **{routes['speedup_3s']:.1f}x** faster per track than the study's 3 s route "
                  f"({routes['speedup_3s_cpu']:.1f}x in CPU time).", ""]
    lines += [
        f"All {through['workers']} cores ({through['clips']} clips, warm workers): "
        f"features {through['features_clips_per_s']:.2f} clips/s, log-mel {through['log_mel_clips_per_s']:.2f} clips/s.",
        f"fma_small ({proj['clips']} clips) on {proj['cores']} cores: features **{proj['features_idle_cores']:.1f} min**, "
        f"log-mel **{proj['log_mel_idle_cores']:.1f} min** on idle cores (CPU time per clip); at the throughput "
        f"measured on this shared machine: {proj['features_measured_throughput']:.1f} and "
        f"{proj['log_mel_measured_throughput']:.1f} min.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
