"""Survey Debian's music: every track of 40 s or more and what its own tags say.

The development set (``manifest.csv``) may only hold tracks whose genre their own files or their
authors state. This script is how the candidates were found: it reads the archive's ``Contents``
index (every file of every package in bookworm ``main``), keeps the packages that ship an audio file
(``.ogg``, ``.oga``, ``.mp3``, ``.flac``, ``.opus``, ``.wav``) and whose ``.deb`` is at least
``--min-mb``, downloads each one into a temporary folder (deleted afterwards), and writes one CSV row
per audio file of at least 40 s: package, version, path, length, and the file's ``GENRE``, ``ARTIST``
and ``TITLE`` tags (Vorbis comments or ID3, read with ``soundfile``). A package without such a file
gets one row with an empty path, so the table says it was looked at.

    python bench/devset/survey.py --out survey.csv            # about 6 GB of downloads, ~10 min
    python bench/devset/survey.py --out s.csv --package wizznic-data berusky2-data

The held-out packages (see README.md) are never downloaded. Which surveyed tracks made it into the
manifest, and why the others did not, is in README.md.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import re
import subprocess
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from bench.devset.build import BuildError, download

MIRROR = "http://deb.debian.org/debian/dists/bookworm/main"
AUDIO = (".ogg", ".oga", ".mp3", ".flac", ".opus", ".wav")
MIN_TRACK_S = 40.0
#: Kept for independent checks (DEVELOPERS.md): never downloaded.
HELD_OUT = re.compile(r"^(wesnoth.*|0ad-data|nexuiz-music|singularity-music|asc-music|warzone2100-music"
                      r"|sonic-pi-samples)$")
FIELDS = ["package", "version", "path", "seconds", "genre", "artist", "title"]


def audio_packages(contents_lines) -> set[str]:
    """Packages that own an audio file, from lines of a Debian ``Contents`` index, held-out ones excepted.

    A line is ``PATH   SECTION/PACKAGE[,SECTION/PACKAGE...]``; the path may hold spaces.
    """
    names = set()
    for line in contents_lines:
        path, _, owners = line.rstrip().rpartition(" ")
        if path.rstrip().lower().endswith(AUDIO):
            names.update(owner.rsplit("/", 1)[-1] for owner in owners.split(","))
    return {n for n in names if not HELD_OUT.match(n)}


def packages_with_audio() -> list[str]:
    """Names of the bookworm ``main`` packages that ship an audio file (the mirror's Contents index)."""
    names = set()
    for arch in ("all", "amd64"):
        with urllib.request.urlopen(f"{MIRROR}/Contents-{arch}.gz", timeout=120) as r:
            names |= audio_packages(gzip.decompress(r.read()).decode("utf-8", "replace").splitlines())
    return sorted(names)


def candidate_versions(names: list[str], min_bytes: int) -> dict[str, str]:
    """``{package: version}`` of the candidate version of each package whose ``.deb`` has ``min_bytes``."""
    out = subprocess.run(["apt-cache", "show", "--no-all-versions", *names], capture_output=True,
                         text=True).stdout
    found, package, version = {}, None, None
    for line in out.splitlines():
        key, _, value = line.partition(": ")
        if key == "Package":
            package = value
        elif key == "Version":
            version = value
        elif key == "Size" and int(value) >= min_bytes:
            found[package] = version
    return found


def audio_tracks(root: Path) -> list[dict]:
    """Every audio file of at least 40 s under ``root``: path (from ``root``, with a leading ``/``),
    seconds, and its genre, artist and title tags ("" where absent). Files libsndfile cannot read are
    skipped."""
    rows = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in AUDIO or path.is_symlink() or not path.is_file():
            continue
        try:
            with sf.SoundFile(path) as f:
                seconds = f.frames / f.samplerate
                tags = {"genre": f.genre, "artist": f.artist, "title": f.title}
        except (sf.LibsndfileError, RuntimeError, ValueError):
            continue
        if seconds >= MIN_TRACK_S:
            rows.append({"path": "/" + str(path.relative_to(root)), "seconds": round(seconds, 1),
                         **{k: v.strip() for k, v in tags.items()}})
    return rows


def tracks(package: str, version: str) -> list[dict]:
    """:func:`audio_tracks` of one package version, each row naming it (one bare row if it has none)."""
    with tempfile.TemporaryDirectory() as tmp:
        rows = audio_tracks(download(package, version, Path(tmp)))
    return [{"package": package, "version": version, **r} for r in rows or [{}]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="CSV to write")
    ap.add_argument("--package", nargs="+", help="survey these packages only, whatever their size (default: every candidate)")
    ap.add_argument("--min-mb", type=float, default=0.5,
                    help="skip smaller .debs (a 40 s Ogg track takes about 0.6 MB)")
    args = ap.parse_args(argv)
    held_out = [n for n in args.package or [] if HELD_OUT.match(n)]
    if held_out:
        print(f"error: {', '.join(held_out)}: held out for independent checks, never surveyed", file=sys.stderr)
        return 1
    names = args.package or packages_with_audio()
    versions = candidate_versions(names, int(args.min_mb * 1e6) if not args.package else 0)
    rows, failed = [], [f"no package {n} in bookworm main" for n in names if n not in versions and args.package]

    def one(item):
        try:
            return tracks(*item)
        except BuildError as e:
            failed.append(str(e))
            return []

    with ThreadPoolExecutor(3) as pool:  # downloads overlap; reading the tags is cheap
        for i, found in enumerate(pool.map(one, sorted(versions.items())), 1):
            rows += found
            print(f"\r{i}/{len(versions)} packages", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    with_tracks = {r["package"] for r in rows if r.get("path")}
    print(f"{len(versions)} packages surveyed, {len(with_tracks)} with tracks of {MIN_TRACK_S:.0f} s or more "
          f"({sum(1 for r in rows if r.get('path'))} tracks); wrote {args.out}")
    for why in failed:
        print(f"error: {why}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
