"""Turn a folder-per-genre music collection into a dataset root in FMA's layout.

``SRC/<genre>/**/*.{mp3,wav,flac,ogg,opus,aiff,aif}`` becomes ``DEST/fma_metadata/{tracks,genres}.csv``
plus ``DEST/fma_full/NNN/NNNNNN.<ext>`` (symlinks by default, copies with ``copy=True``), so a user's
own music goes through every pipeline unchanged. Each folder is one top-level genre: it keeps FMA's
genre id and title when its name matches a real FMA genre (case-insensitively), else it gets a new id
above FMA's largest. The first sub-folder under a genre folder names the artist
(``SRC/<genre>/<artist>/<album>/track.mp3``); a file directly in a genre folder is an artist of its own.
Every track is in subset ``small``; the split is 80/10/10 within each genre, and, as in FMA, an artist's
tracks all sit in one split (so a test score never rests on an artist the model trained on).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from core.data import fma
from core.errors import GenreLabError
from core.files import write_atomic

SPLIT_SHARES = {"validation": 0.1, "test": 0.1}  # the rest is training


def import_folder(src: str | os.PathLike, dest: str | os.PathLike, copy: bool = False, seed: int = 0) -> Path:
    """Build a dataset root at ``dest`` from the genre folders in ``src``; returns ``dest``.

    Track ids are 1..n in (genre folder, file path) order; the split depends on ``seed`` only.
    """
    src, dest = Path(src).resolve(), Path(dest)
    if not src.is_dir():
        raise GenreLabError(f"{src}: not a folder")
    tracks_csv = fma.metadata_path(dest, "tracks")
    if tracks_csv.exists():
        raise GenreLabError(f"{tracks_csv}: already exists; import into a new --dest folder")
    files = _collect(src)
    if not files:
        raise GenreLabError(f"{src}: no genre folders with audio files "
                            f"({', '.join(fma.AUDIO_EXTENSIONS)}) found")

    genre_ids = _genre_ids(list(files))
    rows, links = [], []
    rng = np.random.default_rng(seed)
    artists: dict[str, int] = {}       # artist folder name → artist id
    artist_split: dict[int, str] = {}  # artist id → the split that holds all their tracks
    track_id = 0
    for folder, paths in files.items():
        genre_id, title = genre_ids[folder]
        names = [_artist(src / folder, path) for path in paths]
        ids = [artists.setdefault(n, len(artists) + 1) if n else None for n in names]
        ids = [i if i is not None else -(track_id + k + 1) for k, i in enumerate(ids)]  # loose: own artist
        for path, name, artist, split in zip(paths, names, ids, _splits(ids, rng, artist_split)):
            track_id += 1
            file = f"{track_id:06d}"
            links.append((path, dest / "fma_full" / file[:3] / f"{file}{path.suffix.lower()}"))
            rows.append({"track_id": track_id, "title": path.stem, "genre_top": title, "genre_id": genre_id,
                         "split": split, "artist": name, "artist_id": artist})
    loose = len(artists)  # artists of their own are numbered after the named ones
    for row in rows:
        if row["artist_id"] < 0:
            loose += 1
            row["artist_id"] = loose

    for source, target in links:
        target.parent.mkdir(parents=True, exist_ok=True)
        if copy:
            shutil.copy2(source, target)
        else:
            target.symlink_to(source)
    fma.write_genres(_genres_frame(genre_ids, rows), fma.metadata_path(dest, "genres"))
    fma.write_tracks(_tracks_frame(rows), tracks_csv)
    info = {
        "name": dest.resolve().name,
        "synthetic": False,
        "source": "folder",
        "source_path": str(src),
        "audio": "copied" if copy else "symlinked",
        "seed": seed,
        "description": f"{len(rows)} tracks in {len(files)} genres imported from {src}",
    }
    write_atomic(dest / "dataset.json", json.dumps(info, indent=2) + "\n")
    return dest


def _collect(src: Path) -> dict[str, list[Path]]:
    """Genre folder name → its audio files (searched recursively), both sorted; empty folders skipped."""
    found = {}
    for folder in sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith(".")):
        paths = sorted(p for p in folder.rglob("*")
                       if p.suffix.lower() in fma.AUDIO_EXTENSIONS and p.is_file())
        if paths:
            found[folder.name] = paths
    return found


def _genre_ids(folders: list[str]) -> dict[str, tuple[int, str]]:
    """Folder name → (genre_id, title): FMA's own where the name matches a real genre title."""
    real = pd.read_csv(fma.GENRE_TABLE, index_col=0)
    by_title = {title.casefold(): (int(gid), title) for gid, title in real["title"].items()}
    next_id = int(real.index.max()) + 1
    ids = {}
    for folder in folders:
        if folder.casefold() in by_title:
            ids[folder] = by_title[folder.casefold()]
        else:
            ids[folder] = (next_id, folder)
            next_id += 1
    titles = [title for _, title in ids.values()]
    clash = next((t for t in titles if titles.count(t) > 1), None)
    if clash:
        raise GenreLabError(f"two genre folders both name genre {clash!r} (names differ only in case)")
    return ids


def _artist(genre_folder: Path, path: Path) -> str | None:
    """The first sub-folder of ``path`` under its genre folder (the artist), None for a file directly in it."""
    parts = path.relative_to(genre_folder).parts
    return parts[0] if len(parts) > 1 else None


def _splits(artists: list[int], rng: np.random.Generator, taken: dict[int, str]) -> list[str]:
    """80/10/10 split of one genre's tracks (``artists``: each track's artist id), whole artists at a time.

    Artists are visited in a random order; each goes to the test split, else validation, while that split
    is short of its share and the artist fits in twice the share, else to training. A held-out split no
    artist fitted takes the smallest artist from training (never the last one). An artist already placed by
    another genre (``taken``, updated) keeps that split. Genres under 3 tracks stay in training. With an
    artist per track this is a plain 80/10/10 shuffle of the tracks.
    """
    n = len(artists)
    rank = rng.permutation(n)
    wanted = {s: (max(1, round(share * n)) if n >= 3 else 0) for s, share in SPLIT_SHARES.items()}
    top: dict[int, int] = {}   # artist → the highest rank among their tracks
    size: dict[int, int] = {}
    for r, a in zip(rank, artists):
        top[a], size[a] = max(top.get(a, -1), int(r)), size.get(a, 0) + 1
    order = sorted(top, key=lambda a: -top[a])
    filled = {"training": 0, **dict.fromkeys(wanted, 0)}
    placed_here = []
    for artist in order:
        if artist not in taken:
            taken[artist] = next((s for s in ("test", "validation")
                                  if filled[s] < wanted[s] and filled[s] + size[artist] <= 2 * wanted[s]), "training")
            placed_here.append(artist)
        filled[taken[artist]] += size[artist]
    for split in ("test", "validation"):
        movable = sorted((a for a in placed_here if taken[a] == "training"), key=lambda a: size[a])
        if wanted[split] and not filled[split] and len(movable) > 1:
            taken[movable[0]] = split
            filled[split] += size[movable[0]]
    return [taken[a] for a in artists]


def _genres_frame(genre_ids: dict[str, tuple[int, str]], rows: list[dict]) -> pd.DataFrame:
    counts = pd.Series([r["genre_id"] for r in rows]).value_counts()
    ids = [gid for gid, _ in genre_ids.values()]
    return pd.DataFrame({
        "#tracks": [int(counts[g]) for g in ids],
        "parent": 0,  # every folder is a top-level genre
        "title": [title for _, title in genre_ids.values()],
        "top_level": ids,
    }, index=pd.Index(ids, name="genre_id")).sort_index()


def _tracks_frame(rows: list[dict]) -> pd.DataFrame:
    """All 52 FMA columns; what a folder can't tell (albums, dates...) is left empty."""
    n = len(rows)
    data = {column: [np.nan] * n for column in fma.TRACKS_COLUMNS}
    for column in fma.LIST_COLUMNS:
        data[column] = [[] for _ in range(n)]
    data["set", "subset"] = ["small"] * n
    data["set", "split"] = [r["split"] for r in rows]
    data["track", "title"] = [r["title"] for r in rows]
    data["track", "genre_top"] = [r["genre_top"] for r in rows]
    data["track", "genres"] = [[r["genre_id"]] for r in rows]
    data["track", "genres_all"] = [[r["genre_id"]] for r in rows]
    data["artist", "id"] = [r["artist_id"] for r in rows]
    data["artist", "name"] = [r["artist"] if r["artist"] else np.nan for r in rows]
    frame = pd.DataFrame(data, index=pd.Index([r["track_id"] for r in rows], name="track_id"))
    frame.columns = pd.MultiIndex.from_tuples(fma.TRACKS_COLUMNS)
    return frame
