"""How long loading FMA-sized metadata takes, from the CSV and from the parquet cache, and its memory.

Writes a synthetic tracks.csv with FMA's row count (106,574; all 52 columns, list cells, multi-line
bios) and a features.csv with ``--feature-rows`` rows of 518 float32 columns, then times each load in
a fresh process (peak RSS from /proc/self/status). Results: bench/results/data.json and data.md.

    python bench/bench_data.py [--tracks 106574] [--feature-rows 20000]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from core.data import fma

RESULTS = Path(__file__).resolve().parent / "results"
GENRE_TOPS = {21: "Hip-Hop", 10: "Pop", 12: "Rock", 15: "Electronic", 17: "Folk", 2: "International",
              1235: "Instrumental", 38: "Experimental"}
SUBSETS = ["small", "medium", "large"]


def synthetic_tracks(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """A tracks frame with FMA's shape: sizes, value kinds and text lengths roughly like the real one."""
    ids = np.sort(rng.choice(np.arange(2, 155321), size=n, replace=False))
    genre_ids = rng.choice(list(GENRE_TOPS), size=n)
    has_top = rng.random(n) < 0.47  # FMA: 49,598 of 106,574 tracks have a genre_top
    data = {c: np.full(n, np.nan) for c in fma.TRACKS_COLUMNS}
    data["set", "subset"] = rng.choice(SUBSETS, size=n, p=[0.075, 0.16, 0.765])
    data["set", "split"] = rng.choice(list(fma.SPLITS), size=n, p=[0.8, 0.1, 0.1])
    data["track", "genre_top"] = np.where(has_top, [GENRE_TOPS[g] for g in genre_ids], None)
    data["track", "genres"] = [[int(g)] for g in genre_ids]
    data["track", "genres_all"] = [[int(g), 38] if g != 38 else [38] for g in genre_ids]
    tags = [[], ["awol"], ["dub", "rock 'n' roll, live"]]
    for column in fma.LIST_COLUMNS[:3]:
        data[column] = [tags[k] for k in rng.integers(0, 3, n)]
    data["track", "title"] = [f"Track title {i}, part {i % 7}" for i in range(n)]
    for column in (("track", "bit_rate"), ("track", "listens"), ("track", "duration"), ("album", "id"),
                   ("artist", "id"), ("track", "interest"), ("track", "favorites")):
        data[column] = rng.integers(0, 320000, n)
    bio = "<p>" + "An artist biography, with commas, \"quotes\" and\nnew lines. " * 12 + "</p>"
    data["artist", "bio"] = np.where(rng.random(n) < 0.6, bio, None)
    data["artist", "name"] = [f"Artist {i // 12}" for i in range(n)]
    data["album", "title"] = [f"Album {i // 8}" for i in range(n)]
    data["album", "type"] = rng.choice(["Album", "Single Tracks", "Live Performance", "Radio Program"], n)
    data["track", "license"] = rng.choice(["Attribution", "Attribution-NonCommercial-ShareAlike 3.0 "
                                           "International"], n)
    stamps = pd.Timestamp("2008-11-26") + pd.to_timedelta(rng.integers(0, 3e8, n), unit="s")
    for column in fma.DATE_COLUMNS:
        data[column] = stamps
    frame = pd.DataFrame(data, index=pd.Index(ids, name="track_id"))
    frame.columns = pd.MultiIndex.from_tuples(fma.TRACKS_COLUMNS)
    return frame


def synthetic_features(ids: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """FMA's 518 columns (a features.csv must have exactly those), random values."""
    values = rng.normal(size=(len(ids), len(fma.FEATURE_COLUMNS))).astype(np.float32)
    return pd.DataFrame(values, index=pd.Index(ids, name="track_id"), columns=fma.FEATURE_COLUMNS)


def timed_load(root: Path, what: str) -> dict:
    """Load ``what`` in a fresh interpreter; wall seconds of the load call and the process's peak RSS.

    Peak RSS is VmHWM (reset by exec, unlike getrusage's maxrss, which a child inherits from us).
    """
    code = (
        "import json, re, time\n"
        "from core.data import fma, selection\n"
        f"root = {str(root)!r}\n"
        "t = time.perf_counter()\n"
        f"x = {what}\n"
        "s = time.perf_counter() - t\n"
        "print(json.dumps({'seconds': round(s, 2), "
        "'peak_rss_mib': round(int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]) / 1024)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=106_574)
    parser.add_argument("--feature-rows", type=int, default=20_000)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    work = Path(tempfile.mkdtemp(prefix="bench_data_"))
    try:
        meta = work / fma.METADATA_DIR
        meta.mkdir()
        shutil.copy(fma.GENRE_TABLE, meta / "genres.csv")
        tracks = synthetic_tracks(args.tracks, rng)
        fma.write_tracks(tracks, meta / "tracks.csv")
        fma.write_features(synthetic_features(tracks.index.to_numpy()[: args.feature_rows], rng),
                           meta / "features.csv")
        del tracks
        results = {
            "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
            "tracks_rows": args.tracks,
            "tracks_csv_mib": round((meta / "tracks.csv").stat().st_size / 2**20, 1),
            "features_rows": args.feature_rows,
            "features_csv_mib": round((meta / "features.csv").stat().st_size / 2**20, 1),
            "load_tracks_from_csv": timed_load(work, "fma.load_tracks(root)"),
            "load_tracks_from_parquet": timed_load(work, "fma.load_tracks(root)"),
            "select_8k_from_parquet": timed_load(work, "selection.select(root, size='8k', feature_version='b')"),
            "load_features_from_csv": timed_load(work, "fma.load_features(root)"),
            "load_features_from_parquet": timed_load(work, "fma.load_features(root)"),
            "load_average_1min_at_end": round(os.getloadavg()[0], 1),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    finally:
        shutil.rmtree(work)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "data.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# Data layer: loading FMA-sized metadata (synthetic files, FMA's layout)", "",
             f"tracks.csv: {results['tracks_rows']} rows, {results['tracks_csv_mib']} MiB; "
             f"features.csv: {results['features_rows']} rows x 518, {results['features_csv_mib']} MiB; "
             f"{results['machine']}; 1-min load average {results['load_average_1min_at_end']} at the end "
             "(other work on the machine inflates seconds)", "", "| step | seconds | peak RSS (MiB) |", "|---|---|---|"]
    lines += [f"| {k} | {v['seconds']} | {v['peak_rss_mib']} |" for k, v in results.items() if isinstance(v, dict)]
    (RESULTS / "data.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
