"""Which tracks an experiment uses: FMA's subsets, a genre filter, the official split.

``select`` is the one way every study picks its data. It keeps only tracks with a ``genre_top`` (the
label), returns ids, labels, splits and audio paths in track-id order, and a fingerprint that changes
whenever the ids, labels, splits or the feature version change; every run logs it.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.data import fma
from core.errors import GenreLabError

#: The study's named dataset sizes → FMA subset (each means ``subset <= tier``, with a genre_top).
SIZES = {"8k": "small", "25k": "medium", "45k": "large"}


@dataclass
class Selection:
    """The tracks of one dataset selection, sorted by track id (arrays aligned)."""

    root: Path
    track_ids: np.ndarray  # int64, shape (n,)
    labels: np.ndarray  # str (genre_top title), shape (n,)
    splits: np.ndarray  # str: 'training' | 'validation' | 'test', shape (n,)
    paths: list[Path | None]  # audio file per track, None where none was found
    genres: list[str]  # sorted class names present in labels
    fingerprint: str  # sha256 hex of (track_id, label, split) rows + feature version
    dataset_name: str
    synthetic: bool
    feature_version: str
    from_fma: bool = False  # FMA's own tracks (core.data.fma.is_fma): not synthetic, not a folder import
    warnings: list[str] = field(default_factory=list)  # known bad clips, dropped tracks: not fatal

    def __len__(self) -> int:
        return len(self.track_ids)


def select(
    root: str | os.PathLike,
    subset: str | None = None,
    size: str | None = None,
    genres: Sequence[str] | None = None,
    split: str | Sequence[str] | None = None,
    require_audio: bool = False,
    feature_version: str | None = None,
) -> Selection:
    """Select tracks with a genre_top from the dataset at ``root``.

    subset: 'small' | 'medium' | 'large', meaning FMA's ``subset <= tier`` (None: all tracks).
    size: '8k' | '25k' | '45k', the study's names for small / medium / large; excludes a different subset.
    genres: genre_top titles to keep (None: all). split: one or more of training/validation/test.
    require_audio: drop tracks without an audio file (reported in ``warnings``); error if none has one.
    feature_version: folded into the fingerprint; None uses ``core.data.fma.FEATURES_VERSION``
    when that module exists, else "none".
    """
    root = Path(root)
    subset = _subset_for(subset, size)
    tracks = fma.load_tracks(root)
    keep = tracks["track", "genre_top"].notna().to_numpy()
    if subset is not None:
        keep = keep & (tracks["set", "subset"] <= subset).to_numpy()
    if genres is not None:
        known = set(tracks["track", "genre_top"].dropna().unique())
        unknown = [g for g in genres if g not in known]
        if unknown:
            raise GenreLabError(f"{fma.metadata_path(root, 'tracks')}: unknown genre {unknown[0]!r}; "
                                f"genre_top values are {', '.join(sorted(known))}")
        keep = keep & tracks["track", "genre_top"].isin(list(genres)).to_numpy()
    if split is not None:
        splits = [split] if isinstance(split, str) else list(split)
        unknown = [s for s in splits if s not in fma.SPLITS]
        if unknown:
            raise GenreLabError(f"unknown split {unknown[0]!r}, expected {', '.join(fma.SPLITS)}")
        keep = keep & tracks["set", "split"].isin(splits).to_numpy()

    chosen = tracks.loc[keep, [("track", "genre_top"), ("set", "split")]].sort_index()
    if chosen.empty:
        raise GenreLabError(f"{root}: no tracks with a genre_top match subset={subset}, genres={genres}, "
                            f"split={split}")
    track_ids = chosen.index.to_numpy(dtype=np.int64)
    labels = chosen["track", "genre_top"].astype(str).to_numpy(dtype=str)
    splits_arr = chosen["set", "split"].astype(str).to_numpy(dtype=str)
    index = fma.audio_index(root)
    paths = [index.get(int(t)) for t in track_ids]

    warnings = [f"track {t:06d}: known {fma.KNOWN_BAD_CLIPS[t]} clip in fma_small"
                for t in track_ids.tolist() if t in fma.KNOWN_BAD_CLIPS]
    if require_audio:
        has_audio = np.array([p is not None for p in paths], dtype=bool)
        if not has_audio.any():
            raise GenreLabError(f"{root}: no audio file for any selected track "
                                f"(looked in {', '.join(fma.AUDIO_DIRS)})")
        if not has_audio.all():
            warnings.append(f"{int((~has_audio).sum())} selected tracks have no audio file and were left out")
            track_ids, labels, splits_arr = track_ids[has_audio], labels[has_audio], splits_arr[has_audio]
            paths = [p for p in paths if p is not None]

    version = feature_version if feature_version is not None else fma.FEATURES_VERSION
    info = fma.dataset_info(root)
    return Selection(
        root=root,
        track_ids=track_ids,
        labels=labels,
        splits=splits_arr,
        paths=paths,
        genres=sorted(set(labels.tolist())),
        fingerprint=fingerprint(track_ids, labels, splits_arr, version),
        dataset_name=str(info["name"]),
        synthetic=bool(info["synthetic"]),
        feature_version=version,
        from_fma=fma.is_fma(info),
        warnings=warnings,
    )


def fingerprint(track_ids: np.ndarray, labels: np.ndarray, splits: np.ndarray, feature_version: str) -> str:
    """sha256 hex over the (track_id, label, split) rows in id order, then the feature version."""
    digest = hashlib.sha256()
    rows = zip(np.asarray(track_ids).tolist(), np.asarray(labels).tolist(), np.asarray(splits).tolist())
    for track_id, label, split in sorted(rows):
        digest.update(f"{track_id}\t{label}\t{split}\n".encode())
    digest.update(f"features:{feature_version}".encode())
    return digest.hexdigest()


def summary(root: str | os.PathLike) -> dict:
    """What the dataset at ``root`` holds: counts per subset, split and genre, audio folders, caches.

    ``sizes`` gives the number of tracks ``select(size=...)`` returns for each named size.
    """
    root = Path(root)
    tracks = fma.load_tracks(root)
    subset = tracks["set", "subset"]
    top = tracks["track", "genre_top"]
    labelled = top.notna()
    meta = root / fma.METADATA_DIR
    known = set(fma.AUDIO_DIRS) | {fma.METADATA_DIR, fma.CACHE_DIR, "dataset.json"}
    return {
        "root": str(root),
        **fma.dataset_info(root),
        "tracks": len(tracks),
        "with_genre_top": int(labelled.sum()),
        "subsets": {s: int((subset == s).sum()) for s in fma.SUBSETS},
        "sizes": {name: int((labelled & (subset <= tier)).sum()) for name, tier in SIZES.items()},
        "splits": {s: int((tracks["set", "split"] == s).sum()) for s in fma.SPLITS},
        "genres": {g: int(n) for g, n in top.value_counts().sort_index().items() if n},
        "genres_by_subset": {
            s: {g: int(n) for g, n in top[subset <= s].value_counts().sort_index().items() if n}
            for s in fma.SUBSETS
        },
        "audio_folders": {d: _count_audio(root / d) for d in fma.AUDIO_DIRS if (root / d).is_dir()},
        "metadata_files": {f"{n}.csv": (meta / f"{n}.csv").is_file()
                           for n in ("tracks", "genres", "features", "echonest")},
        "parquet_cache": sorted(p.name for p in (meta / ".cache").glob("*.parquet")),
        "caches": {f"{kind.name}/{key.name}": sum(1 for _ in key.rglob("*.npy"))
                   for kind in sorted((root / fma.CACHE_DIR).glob("*")) if kind.is_dir()
                   for key in sorted(kind.iterdir()) if key.is_dir()},
        "other_entries": sorted(p.name for p in root.iterdir() if p.name not in known),
        "known_bad_clips": sorted(f"{t:06d}" for t in fma.KNOWN_BAD_CLIPS if t in tracks.index),
    }


def _subset_for(subset: str | None, size: str | None) -> str | None:
    if subset is not None and subset not in fma.SUBSETS:
        raise GenreLabError(f"unknown subset {subset!r}, expected {', '.join(fma.SUBSETS)}")
    if size is None:
        return subset
    if size not in SIZES:
        raise GenreLabError(f"unknown size {size!r}, expected {', '.join(SIZES)}")
    if subset is not None and subset != SIZES[size]:
        raise GenreLabError(f"size {size} means subset {SIZES[size]}, which contradicts subset={subset}")
    return SIZES[size]


def _count_audio(folder: Path) -> int:
    return sum(1 for sub in folder.iterdir() if sub.is_dir()
               for f in sub.iterdir() if f.suffix in fma.AUDIO_EXTENSIONS)


def artist_ids(selection: Selection) -> np.ndarray:
    """Artist id of each selected track (tracks.csv's ``artist.id``), shape (n,), for folds grouped by artist."""
    return fma.load_tracks(selection.root).loc[selection.track_ids, ("artist", "id")].to_numpy(dtype=np.int64)
