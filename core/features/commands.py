"""``python -m core features ...`` (FMA's 518 features), ``python -m core mels ...`` (log-mel cache) and
``python -m core embeddings ...`` (pretrained musicnn embedding cache)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core import config
from core.errors import GenreLabError


def register(subparsers) -> None:
    """Add ``features``, ``mels`` and ``embeddings`` to ``python -m core``."""
    p = subparsers.add_parser(
        "features",
        help="FMA's 518 audio features for files (--out) or for every track of a dataset root (--data)",
        description="With FILEs: write a features.csv-format table (index: file stem, or track id when "
        "the stems are numbers). With --data: fill ROOT/fma_metadata/features.csv for every track whose "
        "audio exists; finished tracks are cached, so a rerun computes only what is missing. The window "
        "each vector describes is recorded beside the table (OUT.json, ROOT/fma_metadata/features.json).",
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="audio files (MP3, WAV, FLAC, OGG, Opus, AIFF)")
    p.add_argument("--out", help="CSV to write for FILEs (default: standard output)")
    p.add_argument("--data", help="dataset root to fill (default with no FILE: $GENRELAB_DATA or data/demo)")
    p.add_argument("--window", default="full", metavar="full|center:D|start:S:D",
                   help="part of each file to describe, in seconds: full (default; FMA computed its published "
                   "features.csv on full-length tracks, so a table computed here matches it), center:D (the "
                   "middle D s, as FMA cut its 30 s clips: center:30) or start:S:D (D s from S s)")
    p.add_argument("--force", action="store_true",
                   help="with --data: recompute tracks that already have features (repairs rows with missing "
                   "values; with another --window than the table's, replaces the table)")
    _add_parallel_arguments(p)
    p.set_defaults(func=features)

    p = subparsers.add_parser(
        "mels",
        help="fill the log-mel cache of a dataset root (ROOT/cache/mels/<key>/) for the CNN",
        description="Compute each track's full-length log-mel once per parameter set; clips of any "
        "length are cut from it when training. Prints the number of clips per clip length.",
    )
    p.add_argument("--data", help="dataset root (default: $GENRELAB_DATA or data/demo)")
    p.add_argument("--clip-seconds", type=float, nargs="+", default=[30.0, 10.0, 3.0], metavar="S",
                   help="clip lengths to report (default: 30 10 3)")
    p.add_argument("--sr", type=int, default=22050, help="sample rate in Hz (default 22050)")
    p.add_argument("--n-fft", type=int, default=2048, help="FFT size (default 2048)")
    p.add_argument("--hop-length", type=int, default=512, help="hop in samples (default 512)")
    p.add_argument("--n-mels", type=int, default=128, help="mel bands (default 128)")
    _add_parallel_arguments(p)
    p.set_defaults(func=mels)

    p = subparsers.add_parser(
        "embeddings",
        help="fill the pretrained musicnn embedding cache of a dataset root (ROOT/cache/embeddings/<key>/)",
        description="Run a pretrained musicnn network on 3 s patches of every track whose audio exists and keep "
        "one vector per track: the mean and standard deviation over the patches of one layer. The cache key "
        "names the model, layer, version and window (e.g. MSD_musicnn-penultimate-v1-full); finished tracks "
        "are kept, so a rerun computes only what is missing. Tracks under 3 s, silent or unreadable files are "
        "recorded in the cache's failures.csv.",
    )
    p.add_argument("--data", help="dataset root (default: $GENRELAB_DATA or data/demo)")
    # The defaults are core.features.embeddings' (a test holds the help to them; importing it here would
    # slow every command's start by librosa's import).
    p.add_argument("--model", nargs="+", metavar="MSD_musicnn|MTT_musicnn",
                   help="the pretrained network(s) (default MTT_musicnn): MTT_musicnn (MagnaTagATune tags), "
                   "MSD_musicnn (Million Song Dataset, last.fm tags); both joined by + fill each network's cache")
    p.add_argument("--layer", nargs="+", metavar="penultimate|taggram|mean_pool|max_pool",
                   help="the layer(s) to keep (default penultimate): penultimate (200 units), taggram (the 50 "
                   "tag probabilities), mean_pool or max_pool (753 front- and mid-end features pooled over each patch)")
    p.add_argument("--window", default="full", metavar="full|center:D|start:S:D",
                   help="part of each track to describe, in seconds: full (default), center:D or start:S:D")
    _add_parallel_arguments(p)
    p.set_defaults(func=embeddings)


def _add_parallel_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, help="worker processes (default: number of usable CPUs)")
    p.add_argument("--scheduler", metavar="ADDR", help="run on the Dask cluster at ADDR (e.g. tcp://10.0.0.5:8786)")


def _check_workers(args: argparse.Namespace) -> None:
    if args.workers is not None and args.workers < 1:
        raise GenreLabError(f"--workers must be at least 1, got {args.workers}")


def _dataset_root(args: argparse.Namespace) -> Path:
    root = config.data_root(args.data)
    if not (root / "fma_metadata" / "tracks.csv").is_file():
        raise GenreLabError(f"{root}: not a dataset root (no fma_metadata/tracks.csv)")
    return root


def _report_failures(report, failures_file: Path | None) -> None:
    for row in report.failures.itertuples():
        print(f"failed: {row.reason}", file=sys.stderr)
    if failures_file is not None and len(report.failures):
        print(f"failures recorded in {failures_file}", file=sys.stderr)


def features(args: argparse.Namespace) -> int:
    from core.data import fma
    from core.features import table
    from core.features.window import parse_window

    _check_workers(args)
    window = parse_window(args.window)
    if args.files and args.data:
        raise GenreLabError("give either audio FILEs or --data DIR, not both")
    if args.files:
        if args.scheduler:
            raise GenreLabError("--scheduler works with --data; files are computed locally")
        frame, report = table.files_features(args.files, window=window, workers=args.workers)
        if args.out:
            fma.write_features(frame, args.out, info=table.table_info(window))
        else:
            frame.to_csv(sys.stdout, float_format=fma.FLOAT_FORMAT)
        _report_failures(report, None)
        print(report.summary("features"), file=sys.stderr)
        return 1 if len(report.failures) else 0

    root = _dataset_root(args)
    report = table.fill_features(root, window, workers=args.workers, scheduler=args.scheduler, force=args.force)
    _report_failures(report, table.features_store(root, window).dir / "failures.csv")
    print(report.summary(f"features for {root} (window {window})"))
    csv_path = fma.metadata_path(root, "features")
    print(f"wrote {csv_path}" if report.computed else f"{csv_path.name} is up to date")
    return 0


def mels(args: argparse.Namespace) -> int:
    import numpy as np

    from core.features.mels import clip_count, fill_mels

    _check_workers(args)
    root = _dataset_root(args)
    if any(s <= 0 for s in args.clip_seconds):
        raise GenreLabError("--clip-seconds must be positive")
    params = dict(sr=args.sr, n_fft=args.n_fft, hop_length=args.hop_length, n_mels=args.n_mels)
    report, cache = fill_mels(root, workers=args.workers, scheduler=args.scheduler, **params)
    _report_failures(report, cache.dir / "failures.csv")
    print(report.summary(f"log-mels in {cache.dir}"))
    lengths = [np.load(path, mmap_mode="r").shape[1] for path in cache.dir.rglob("*.npy")]
    for seconds in args.clip_seconds:
        frames = cache.frames_per_clip(seconds)
        clips = sum(clip_count(n, frames) for n in lengths)
        print(f"{seconds:g} s clips ({frames} frames): {clips} from {len(lengths)} tracks")
    return 0


def embeddings(args: argparse.Namespace) -> int:
    from core.features.embeddings import DEFAULT_LAYER, DEFAULT_MODEL, check_choice, fill_embedding_layers, networks
    from core.features.window import parse_window

    _check_workers(args)
    args.model, args.layer = args.model or [DEFAULT_MODEL], args.layer or [DEFAULT_LAYER]
    for model in args.model:
        for layer in args.layer:
            check_choice(model, layer)
    window = parse_window(args.window)
    root = _dataset_root(args)
    for model in dict.fromkeys(m for joined in args.model for m in networks(joined)):
        report, stores = fill_embedding_layers(root, model, list(dict.fromkeys(args.layer)), workers=args.workers,
                                               scheduler=args.scheduler, window=window)
        _report_failures(report, stores[0].dir / "failures.csv")
        print(report.summary(f"{model} {', '.join(s.layer for s in stores)} embeddings in {stores[0].dir.parent}"))
        for store in stores:
            print(f"{len(store.track_ids())} tracks with a {store.width}-value {store.layer} vector (window {window})")
    return 0
