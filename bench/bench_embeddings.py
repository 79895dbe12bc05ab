"""Benchmark musicnn embeddings: ``python bench/bench_embeddings.py [--repeats N]`` (``make bench``).

Writes bench/results/embeddings.json and embeddings.md: the warm time of
``core.models.musicnn.MusicnnTagger.predict_file`` plus ``track_embedding`` on a 30 s stereo
44.1 kHz MP3 (synthetic music written with soundfile), on one CPU core (affinity and every thread
pool pinned to 1): decode and resample to 16 kHz, log-mel patches (10 x 3 s), the network, and
the track's mean/std embedding. Also its parts (decode, patches, network) and the cold cost of
building the network and reading its checkpoint once per process. One warm-up call is excluded
(librosa compiles with numba, TensorFlow traces its graph). Both models share one architecture,
so they cost the same; the default (``core.features.embeddings.DEFAULT_MODEL``) is measured.

Also the zero-shot genre model (``core.serving.zeroshot``, what ``genre-zeroshot`` runs once loaded):
warm ``classify_file`` on the same MP3 (decode, 3 s segments, taggers, tag -> genre table, raw tags),
with both taggers (its default) and with MSD_musicnn alone, on one core and, in a child process
(``--all-cores``), with TensorFlow's default threads on every core, as ``predict`` and ``mlflow models
serve`` run it.

And the batch: warm worker processes, one per core, one thread each (the embeddings command's setup),
embed copies of 4 clips; clips per second and the projection for fma_small (8,000 clips).

The reference point: musicnn's own TF1 graph (0.1.0, its float16 cast removed), run on this machine's
core in an isolated environment (see tests/models/make_musicnn_reference.py), took 0.52-0.54 s for the
network on 10 patches (2026-11-30, idle); this Keras 3 version 0.36-0.39 s.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

#: Child mode: the zero-shot model with every core (TensorFlow's default threads); prints JSON.
ALL_CORES = "--all-cores" in sys.argv
# One thread per pool, set before numpy, numba or TensorFlow start (main() pins the process to one core;
# the batch's worker processes inherit one thread each, as the embeddings command gives them).
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
               "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
if not ALL_CORES:
    os.environ.update(dict.fromkeys(THREAD_VARS, "1"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine, music_mp3, steady_throughput  # noqa: E402
from core.features.embeddings import DEFAULT_MODEL as MODEL  # noqa: E402  (threads are pinned above)

RESULTS = ROOT / "bench" / "results"
FMA_SMALL_CLIPS = 8000


def timed(fn, repeats: int) -> tuple[list[float], list[float], object]:
    """Wall-clock and process CPU seconds of ``repeats`` calls, and the last result."""
    wall, cpu, result = [], [], None
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return wall, cpu, result


def summary(wall: list[float], cpu: list[float]) -> dict:
    return {"median_seconds": round(statistics.median(wall), 4), "min_seconds": round(min(wall), 4),
            "max_seconds": round(max(wall), 4), "median_cpu_seconds": round(statistics.median(cpu), 4)}


def zero_shot_times(clip: Path, repeats: int) -> dict:
    """Warm ``ZeroShotGenreModel.classify_file`` on ``clip``, for both taggers and for MSD alone (this
    process's cores and threads)."""
    from core.serving.zeroshot import ZeroShotGenreModel

    rows = {}
    for label, taggers in (("MSD_musicnn + MTT_musicnn", ("MSD_musicnn", "MTT_musicnn")),
                           ("MSD_musicnn only", ("MSD_musicnn",))):
        started = time.perf_counter()
        model = ZeroShotGenreModel.from_files(taggers)
        build_seconds = time.perf_counter() - started
        model.classify_file(clip)  # warm-up
        wall, cpu, answer = timed(partial(model.classify_file, clip), repeats)
        rows[label] = {**summary(wall, cpu), "build_seconds": round(build_seconds, 3),
                       "segments": len(answer["segments"]), "top": answer["top"]}
    return rows


def _embed_job(job) -> None:
    """One clip of the batch measurement (module level: worker processes unpickle it)."""
    from core.features.embeddings import _tagger, file_embedding

    file_embedding(job.path, _tagger(MODEL), "penultimate")


def batch_throughput(clip: Path, workers: int) -> dict:
    """Clips per second of warm embedding workers (one per core, one thread each) on copies of 4 clips."""
    from functools import partial

    from core.features.batch import TrackFile
    from core.features.embeddings import warm_up

    clips = [clip] + [music_mp3(clip.with_name(f"clip{i}.mp3"), seed=i) for i in range(1, 4)]
    jobs = [TrackFile(i, clips[i % len(clips)]) for i in range(12 * workers)]
    rate = steady_throughput(_embed_job, jobs, workers, partial(warm_up, MODEL))
    return {"workers": workers, "clips": len(jobs), "clips_per_second": round(rate, 3),
            "fma_small_minutes": round(FMA_SMALL_CLIPS / rate / 60, 1)}


def zero_shot_all_cores(clip: Path, repeats: int) -> dict:
    """``zero_shot_times`` in a child process with TensorFlow's default threads on every core."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    proc = subprocess.run([sys.executable, __file__, "--all-cores", "--clip", str(clip), "--repeats", str(repeats)],
                          capture_output=True, text=True, check=True, env=env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--all-cores", action="store_true", help="(child mode) zero-shot on every core, JSON out")
    parser.add_argument("--clip", type=Path, help="(child mode) the MP3 to classify")
    args = parser.parse_args()
    if args.all_cores:
        print(json.dumps(zero_shot_times(args.clip, args.repeats)))
        return
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[0]})

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from core.audio import load_audio
    from core.models import musicnn

    started = time.perf_counter()
    tagger = musicnn.MusicnnTagger(MODEL)
    build_seconds = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        clip = music_mp3(Path(tmp) / "clip30.mp3")

        def embed():
            return musicnn.track_embedding(tagger.predict_file(clip), "penultimate")

        started = time.perf_counter()
        embed()  # warm-up: numba compilation, graph tracing
        first_call_seconds = time.perf_counter() - started
        total = timed(embed, args.repeats)
        decode = timed(lambda: load_audio(clip, sr=musicnn.SR), args.repeats)
        y, sr = decode[2]
        cut = timed(lambda: musicnn.patches(y, sr, source=clip), args.repeats)
        x = cut[2]
        network = timed(lambda: tagger.predict(x), args.repeats)
        zero_shot = zero_shot_times(clip, args.repeats)
        os.sched_setaffinity(0, set(cores))  # children may use every core again
        zero_shot_every_core = zero_shot_all_cores(clip, args.repeats)
        batch = batch_throughput(clip, len(cores))

    vector, b = total[2], batch
    row = {"model": MODEL, "patches": int(len(x)), "embedding_size": int(vector.size), **summary(*total[:2]),
           "parts": {name: summary(*part[:2]) for name, part in
                     (("decode_resample", decode), ("patches", cut), ("network", network))},
           "build_seconds": round(build_seconds, 3), "first_call_seconds": round(first_call_seconds, 3),
           "repeats": args.repeats, "zero_shot": zero_shot, "zero_shot_all_cores": zero_shot_every_core,
           "batch": batch}
    report = {
        "benchmark": "embeddings",
        "input": "30 s stereo 44.1 kHz MP3 (synthetic music)",
        "cores": 1,
        **machine(),
        "tensorflow": tf.__version__,
        "results": row,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "embeddings.json").write_text(json.dumps(report, indent=2) + "\n")
    r = row
    lines = ["# musicnn embeddings, warm, one core", "",
             f"Input: {report['input']}. Median of {args.repeats} calls of `MusicnnTagger.predict_file` + "
             f"`track_embedding` ({MODEL}, {r['patches']} patches, a {r['embedding_size']}-value penultimate "
             f"mean/std vector) after one warm-up. Machine load average {report['load_average_1min']} on "
             f"{os.cpu_count()} cores while measuring.", "",
             "CPU s is the process's CPU time: close to the wall time on an idle core, and the fairer "
             "figure when other work shares the machine.", "",
             "| what | median s | min s | max s | median CPU s |", "|---|---|---|---|---|",
             f"| per 30 s clip, decode included | {r['median_seconds']:.3f} | {r['min_seconds']:.3f} | "
             f"{r['max_seconds']:.3f} | {r['median_cpu_seconds']:.3f} |", "",
             "| part | median s | median CPU s |", "|---|---|---|",
             *(f"| {label} | {r['parts'][name]['median_seconds']:.3f} | {r['parts'][name]['median_cpu_seconds']:.3f} |"
               for name, label in (("decode_resample", "decode + resample to 16 kHz"),
                                   ("patches", "log-mel patches"),
                                   ("network", f"network ({r['patches']} patches)"))), "",
             f"Once per process: building the network and reading its checkpoint {r['build_seconds']:.2f} s; "
             f"the first call (numba compilation, graph tracing) {r['first_call_seconds']:.2f} s.", "",
             "Zero-shot genre model (`genre-zeroshot`), warm `classify_file` on the same MP3 (decode, "
             "3 s segments, taggers, tag -> genre table, raw tags):", "",
             "| taggers | cores | median s | min s | max s | median CPU s | segments |", "|---|---|---|---|---|---|---|",
             *(f"| {label} | {n} | {z['median_seconds']:.3f} | {z['min_seconds']:.3f} | {z['max_seconds']:.3f} | "
               f"{z['median_cpu_seconds']:.3f} | {z['segments']} |"
               for n, rows in ((1, r["zero_shot"]), (len(cores), r["zero_shot_all_cores"]))
               for label, z in rows.items()), "",
             f"Batch: {b['workers']} warm worker processes (one thread each) embedded {b['clips']} clips at "
             f"{b['clips_per_second']:.2f} clips/s: fma_small ({FMA_SMALL_CLIPS} clips) in about "
             f"{b['fma_small_minutes']:.0f} min on this machine."]
    (RESULTS / "embeddings.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
