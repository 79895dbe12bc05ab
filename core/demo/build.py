"""The demo dataset: a synthetic music collection in FMA's exact layout, built in under 2 minutes on 2 cores.

``build_demo(dest)`` writes ``fma_metadata/{tracks,genres}.csv`` (all 52 tracks.csv columns, genre rows
from the real FMA genre table), 30-second MP3 clips under ``fma_small|fma_medium|fma_large/NNN/NNNNNN.mp3``
and ``dataset.json`` marking the root synthetic. ``features.csv`` is not written here: it is computed
from the audio by ``python -m core features``; ``echonest.csv`` is omitted (FMA has it for a minority of
tracks only, and no study here uses it).

The parts, one module each: ``demo_styles`` (each genre's sound as parameters, drawn per artist and
track), ``demo_synth`` (rendering parameters to audio), ``demo_tracks`` (artists, albums, tiers,
splits and tracks.csv's columns); this module writes them to disk.

A clip is written once, in the smallest tier folder holding it, and hard-linked (copied where links
fail) into the larger tier folders, so every folder holds its whole tier as in FMA at the disk cost
of one copy. Clips are MPEG-2 Layer III (mono, 22,050 Hz): libmpg123 prints a harmless
"part2_3_length ... too large" line for each partial read of such a file (the decoded samples are
exact); reading a clip in one call prints none.
"""
from __future__ import annotations

import filecmp
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from core.data import fma
from core.demo.styles import STYLES
from core.demo.synth import CLIP_SECONDS, SAMPLE_RATE, render_clip
from core.demo.tracks import TIER_SHARES, genres_frame, plan_dataset
from core.errors import GenreLabError
from core.files import atomic_write, write_atomic
from core.workers import Workers

DEFAULT_TRACKS_PER_GENRE = 50
#: Bump when the generator's output changes: a rebuild then replaces the clips of an older build.
GENERATOR_VERSION = 1

#: One clip to write: (track id, artist style, seed, seconds, path).
ClipJob = tuple[int, dict, int, float, Path]


def build_demo(dest: str | os.PathLike, tracks_per_genre: int = DEFAULT_TRACKS_PER_GENRE, seed: int = 0, *,
               clip_seconds: float = CLIP_SECONDS, genres: Sequence[str] | None = None, workers: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> Path:
    """Build the demo dataset root at ``dest`` and return it (see the module docstring for what it holds).

    tracks_per_genre: clips per genre (8 genres); seed: everything (metadata, audio) follows from it.
    clip_seconds: clip length (FMA's is 30; tests use shorter). genres: some of the 8 genres (default: all;
    fma_small's Pop/Rock/Electronic at its size is ``1000, genres=["Pop", "Rock", "Electronic"]``; every
    tier then holds its share of them, the large one all). workers: processes rendering clips
    (default: all cores; 1 renders in this process). progress(done, total) is called as clips finish.
    Rerunning with the same arguments resumes (finished clips are kept); other arguments rebuild, and
    then everything in ``dest`` goes (it all derives from the old clips, features.csv and caches too).
    A non-empty ``dest`` that is not a demo build is refused with ``GenreLabError``.
    """
    genres = tuple(STYLES) if genres is None else tuple(genres)
    _check_arguments(tracks_per_genre, seed, clip_seconds, genres)
    dest = Path(dest)
    _prepare(dest, _dataset_info(int(tracks_per_genre), int(seed), float(clip_seconds), genres))
    tracks, styles = plan_dataset(int(tracks_per_genre), int(seed), genres, float(clip_seconds))
    tiers = tracks["set", "subset"]
    jobs = [(int(tid), styles[tid], int(seed), float(clip_seconds), _clip_path(dest, tiers[tid], tid))
            for tid in tracks.index]
    sizes = []
    for size in _write_clips(jobs, workers):
        sizes.append(size)
        if progress:
            progress(len(sizes), len(jobs))
    _link_tiers(dest, tiers, jobs)
    tracks["track", "bit_rate"] = [round(size * 8 / clip_seconds) for size in sizes]
    meta = dest / fma.METADATA_DIR
    _write_if_changed(meta / "tracks.csv", lambda tmp: fma.write_tracks(tracks, tmp))
    _write_if_changed(meta / "genres.csv", lambda tmp: fma.write_genres(genres_frame(tracks), tmp))
    return dest


def _check_arguments(tracks_per_genre, seed, clip_seconds, genres) -> None:
    if isinstance(tracks_per_genre, bool) or not isinstance(tracks_per_genre, (int, np.integer)) or tracks_per_genre < 1:
        raise GenreLabError(f"--tracks-per-genre: expected a whole number >= 1, got {tracks_per_genre!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GenreLabError(f"--seed: expected a whole number >= 0, got {seed!r}")
    if isinstance(clip_seconds, bool) or not isinstance(clip_seconds, (int, float)) or not 1 <= clip_seconds <= 600:
        raise GenreLabError(f"clip_seconds: expected 1 to 600 seconds, got {clip_seconds!r}")
    unknown = [g for g in genres if g not in STYLES]
    if unknown or not genres or len(set(genres)) < len(genres):
        raise GenreLabError(f"--genres: expected some of {', '.join(STYLES)} (each once), got {list(genres)}")


def _dataset_info(tracks_per_genre: int, seed: int, clip_seconds: float, genres: tuple[str, ...]) -> dict:
    """``dataset.json`` of a build: what marks it synthetic, and every argument it follows from."""
    n_tracks = tracks_per_genre * len(genres)
    return {
        "name": "demo", "synthetic": True, "seed": seed, "tracks_per_genre": tracks_per_genre,
        "description": f"Synthetic demo: {n_tracks} {clip_seconds:g}-second clips in {len(genres)} genres, "
                       f"synthesized by core/data/demo.py (seed {seed}). Not real music: results on it show "
                       f"how the studies work, not how well genres can be recognized.",
        "clip_seconds": clip_seconds, "sample_rate": SAMPLE_RATE, "genres": list(genres),
        "generator_version": GENERATOR_VERSION,
    }


def _prepare(dest: Path, info: dict) -> None:
    """Make ``dest`` ready: new or empty, a demo build with the same parameters (resumed), or an
    older demo build (emptied). Anything else is refused rather than overwritten."""
    if dest.exists() and not dest.is_dir():
        raise GenreLabError(f"{dest}: exists and is not a folder")
    if dest.exists() and any(dest.iterdir()):
        previous = fma.dataset_info(dest) if (dest / "dataset.json").exists() else {}
        if not (previous.get("synthetic") and previous.get("name") == "demo"):
            raise GenreLabError(f"{dest}: folder is not empty and is not a demo dataset "
                                f"(no synthetic dataset.json); choose a new or empty --dest")
        if previous != info:
            for child in dest.iterdir():  # a different build: every file in it derives from the old clips
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    dest.mkdir(parents=True, exist_ok=True)
    _write_if_changed(dest / "dataset.json", lambda tmp: tmp.write_text(json.dumps(info, indent=2) + "\n"))


def _clip_path(root: Path, tier: str, track_id: int) -> Path:
    name = f"{track_id:06d}"
    return root / f"fma_{tier}" / name[:3] / f"{name}.mp3"


def _write_clips(jobs: list[ClipJob], workers: int | None) -> Iterator[int]:
    """Each clip's size in bytes, in ``jobs`` order, rendering in ``workers`` processes (1: this one)."""
    with Workers("processes", min(workers or os.cpu_count() or 1, len(jobs))) as pool:
        for future in [pool.submit(_write_clip, job) for job in jobs]:
            yield future.result()


def _write_clip(job: ClipJob) -> int:
    """Render and encode one clip unless it exists (a rerun resumes); returns its size in bytes."""
    track_id, style, seed, seconds, path = job
    if not path.exists():
        with atomic_write(path) as tmp:  # a clip on disk is always whole
            sf.write(tmp, render_clip(track_id, style, seed, seconds), SAMPLE_RATE, format="MP3")
    return path.stat().st_size


def _link_tiers(dest: Path, tiers: pd.Series, jobs: list[ClipJob]) -> None:
    """FMA's tier folders nest: fma_medium holds the small clips too, fma_large all of them."""
    names = [tier for tier, _ in TIER_SHARES]
    for track_id, *_, path in jobs:
        for larger in names[names.index(tiers[track_id]) + 1:]:
            _link(path, _clip_path(dest, larger, track_id))


def _link(source: Path, target: Path) -> None:
    """Hard-link ``source`` at ``target`` (a copy where the filesystem refuses links)."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _write_if_changed(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` the new content, then replace ``path`` only if the bytes differ (keeps mtimes, hence caches)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".new-") as scratch:
        new = Path(scratch) / path.name
        write(new)
        if not (path.exists() and filecmp.cmp(new, path, shallow=False)):
            write_atomic(path, new.read_bytes())
