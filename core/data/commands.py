"""``python -m core data summary|demo|fetch|import-folder``."""
from __future__ import annotations

import argparse
import json

from core import config


def register(subparsers) -> None:
    """Add ``data`` and its actions to ``python -m core``."""
    data = subparsers.add_parser("data", help="inspect, build, download or import a dataset root")
    actions = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = actions.add_parser("summary", help="track counts per subset, split and genre; audio folders present")
    p.add_argument("--data", help="dataset root (default: $GENRELAB_DATA or data/demo)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=summary)

    p = actions.add_parser("demo", help="build the synthetic demo dataset in FMA's layout")
    p.add_argument("--dest", help="dataset root to write (default: $GENRELAB_DATA or data/demo)")
    p.add_argument("--tracks-per-genre", type=int, help="clips per genre (default: the demo's own)")
    p.add_argument("--genres", nargs="+", metavar="GENRE", help="some of the 8 genres (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=demo)

    from core.data.fetch import ARCHIVES, FMA_BASE_URL
    p = actions.add_parser("fetch", help="download, verify (SHA-1) and unzip an official FMA archive; resumable")
    p.add_argument("archive", choices=list(ARCHIVES))
    p.add_argument("--data", help="dataset root to unzip into (default: $GENRELAB_DATA or data/demo)")
    p.add_argument("--url", help=f"base URL of the archives (default: $GENRELAB_FMA_URL or {FMA_BASE_URL})")
    p.add_argument("--keep-archive", action="store_true", help="keep the zip after unzipping")
    p.set_defaults(func=fetch)

    p = actions.add_parser("import-folder", help="turn SRC/<genre>/*.mp3|wav|flac|... into a dataset root")
    p.add_argument("src", help="folder with one sub-folder per genre (and in it, optionally, one per artist)")
    p.add_argument("--dest", required=True, help="new dataset root to write")
    p.add_argument("--copy", action="store_true", help="copy the audio instead of symlinking it")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the 80/10/10 split (an artist's tracks all go to one split)")
    p.set_defaults(func=import_folder)


def summary(args: argparse.Namespace) -> int:
    from core.data.selection import summary as dataset_summary

    info = dataset_summary(config.data_root(args.data))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    kind = "synthetic demo data" if info["synthetic"] else "real data"
    print(f"{info['name']} ({kind}) at {info['root']}")
    if info["description"]:
        print(f"  {info['description']}")
    print(f"tracks: {info['tracks']}, with a genre_top: {info['with_genre_top']}")
    print("subsets: " + ", ".join(f"{k} {v}" for k, v in info["subsets"].items()))
    print("sizes (tracks with a genre_top): " + ", ".join(f"{k} {v}" for k, v in info["sizes"].items()))
    print("splits: " + ", ".join(f"{k} {v}" for k, v in info["splits"].items()))
    print("genres:")
    for genre, count in info["genres"].items():
        print(f"  {genre:<22} {count:>7}")
    folders = info["audio_folders"]
    print("audio folders: " + (", ".join(f"{k} ({v} files)" for k, v in folders.items()) or "none"))
    caches = info["caches"]
    print("caches (arrays): " + (", ".join(f"{k} ({v})" for k, v in caches.items()) or "none"))
    missing = [name for name, present in info["metadata_files"].items() if not present]
    if missing:
        print("missing metadata files: " + ", ".join(missing))
    if info["known_bad_clips"]:
        print("known bad fma_small clips present: " + ", ".join(info["known_bad_clips"]))
    return 0


def demo(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.demo.build import build_demo

    sizing = {} if args.tracks_per_genre is None else {"tracks_per_genre": args.tracks_per_genre}
    if args.genres:
        sizing["genres"] = args.genres
    with tqdm(desc="demo clips", unit="clip") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        root = build_demo(config.data_root(args.dest), seed=args.seed, progress=progress, **sizing)
    print(f"demo dataset written to {root}")
    return 0


def fetch(args: argparse.Namespace) -> int:
    from core.data.fetch import FMA_BASE_URL, fetch as fetch_archive

    base_url = args.url or config.fma_url() or FMA_BASE_URL
    root = config.data_root(args.data)
    result = fetch_archive(args.archive, root, base_url=base_url, keep_archive=args.keep_archive)
    print(f"{args.archive} archive verified and unpacked into {root}" + (f" (kept {result})" if args.keep_archive else ""))
    return 0


def import_folder(args: argparse.Namespace) -> int:
    from core.data.folder import import_folder as import_collection
    from core.data.selection import summary as dataset_summary

    root = import_collection(args.src, args.dest, copy=args.copy, seed=args.seed)
    info = dataset_summary(root)
    genres = ", ".join(f"{g} {n}" for g, n in info["genres"].items())
    print(f"imported {info['tracks']} tracks into {root}: {genres}")
    return 0
