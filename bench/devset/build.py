"""Rebuild the real-music development set from Debian packages.

The development set is a small collection of 30 s excerpts of real,
recorded or produced music (game soundtracks, song packs, the odd
concert recording) that Debian 12 "bookworm" ships in its ``main``
(DFSG-free) archive. ``manifest.csv`` beside this script lists every
excerpt: the package and exact version it comes from, the path of the
original file inside the package, where the excerpt starts, the title,
authors and licence, and the evidence for its genre.

Labels are FMA's 16 top-level genres. A track was labelled only when its
own metadata (the Vorbis ``GENRE`` tag, or the authors' words in the
package's copyright file or README) names a genre; that genre was mapped
to the top level through FMA's genre table (so a "Soundtrack" or
"Ambient" tag becomes Instrumental, "Death Metal" becomes Rock). Tracks
without such evidence were left out. See ``README.md`` for the details.

For every package in the manifest the script runs
``apt-get download PKG=VERSION`` in a temporary folder, unpacks it with
``dpkg -x``, cuts each listed excerpt (30 s from ``start_s``, stems
summed, down-mixed to mono, resampled to 22,050 Hz, 50 ms fades) and
writes it as Ogg Vorbis to ``DEST/<Genre>/<name>.ogg``. It also writes
``DEST/CREDITS.md`` and copies the licence texts to ``DEST/licenses/``.
Clips already present are skipped, so the script can be rerun.

Usage::

    python bench/devset/build.py --dest data/devset
    python bench/devset/build.py --dest data/devset --root data/devroot

``--root`` also makes a dataset root for studies (``core.data.folder``) of the genres with at least
:data:`ROOT_MIN_EXCERPTS` excerpts, the manifest's authors as artists: an author's excerpts (often two
of one track) share a split and a fold, as FMA keeps an artist's, so no score rests on a track or an
author the model heard.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository root, for core

from core.data.folder import import_folder  # noqa: E402
from core.files import write_atomic  # noqa: E402

MANIFEST = HERE / "manifest.csv"
ROOT_MIN_EXCERPTS = 8
CLIP_S = 30.0
FADE_S = 0.05
SILENT_PEAK = 1e-3  # -60 dBFS
OUT_SR = 22050
COMMON_LICENSES = Path("/usr/share/common-licenses")
# Extra per-file licence notes that some packages keep beside their
# copyright file (path inside the package).
EXTRA_NOTES = {
    "freedink-data": "usr/share/doc/freedink-data/README-REPLACEMENTS.txt.gz",
}


class BuildError(RuntimeError):
    """A package could not be fetched or an excerpt could not be cut."""


def read_manifest(path: Path = MANIFEST) -> list[dict[str, str]]:
    """Read the manifest.

    Parameters
    ----------
    path : Path
        CSV file with one row per excerpt.

    Returns
    -------
    list of dict
        The rows, as read by :class:`csv.DictReader`.
    """
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def download(package: str, version: str, workdir: Path) -> Path:
    """Download and unpack one exact package version.

    Parameters
    ----------
    package, version : str
        Debian package name and exact version.
    workdir : Path
        Empty scratch folder; the ``.deb`` lands here and is unpacked
        into ``workdir / "root"``.

    Returns
    -------
    Path
        The folder the package was unpacked into.

    Raises
    ------
    BuildError
        If ``apt-get download`` or ``dpkg -x`` fails.
    """
    res = subprocess.run(
        ["apt-get", "download", "-q", f"{package}={version}"],
        cwd=workdir, capture_output=True, text=True,
    )
    debs = list(workdir.glob("*.deb"))
    if res.returncode != 0 or len(debs) != 1:
        lines = [ln for ln in res.stderr.splitlines() if ln.startswith("E:")]
        why = lines[-1] if lines else f"apt-get exited with {res.returncode}"
        raise BuildError(f"cannot download {package}={version}: {why}")
    root = workdir / "root"
    res = subprocess.run(["dpkg", "-x", str(debs[0]), str(root)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise BuildError(f"cannot unpack {debs[0].name}: {res.stderr.strip()}")
    return root


def open_source(root: Path, source: str, scratch: Path) -> Path:
    """Return a readable file for one source path.

    Parameters
    ----------
    root : Path
        Folder the package was unpacked into.
    source : str
        Absolute path inside the package. ``ARCHIVE.pk3:MEMBER`` names a
        member of a zip archive (Quake-style ``.pk3``).
    scratch : Path
        Folder where archive members are extracted.

    Returns
    -------
    Path
        A file that :mod:`soundfile` can open.
    """
    archive, _, member = source.partition(":")
    path = root / archive.lstrip("/")
    if not member:
        return path
    target = scratch / Path(member).name
    if not target.exists():
        with zipfile.ZipFile(path) as zf, zf.open(member) as src, \
                open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return target


def cut_excerpt(paths: list[Path], start_s: float) -> np.ndarray:
    """Cut one mono excerpt at ``OUT_SR`` Hz.

    Parameters
    ----------
    paths : list of Path
        The original file, or the stems of one song (summed, as the game
        plays them together).
    start_s : float
        Excerpt start in seconds.

    Returns
    -------
    numpy.ndarray
        ``CLIP_S`` seconds of float32 audio with ``FADE_S`` fades.

    Raises
    ------
    BuildError
        If the track ends before the excerpt does, or the excerpt is silent.
    """
    mix = None
    for path in paths:
        with sf.SoundFile(path) as f:
            sr = f.samplerate
            f.seek(int(round(start_s * sr)))
            x = f.read(int(round(CLIP_S * sr)), dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        mix = x if mix is None else mix[: len(x)] + x[: len(mix)]
    g = gcd(OUT_SR, sr)
    y = resample_poly(mix, OUT_SR // g, sr // g).astype(np.float32)
    n = int(round(CLIP_S * OUT_SR))
    if len(y) < n:
        raise BuildError(f"{paths[0].name}: shorter than {start_s} + {CLIP_S} s")
    y = y[:n]
    peak = float(np.abs(y).max())
    if peak < SILENT_PEAK:  # a jingle padded with silence, say: the excerpt rule does not fit the track
        raise BuildError(f"{paths[0].name}: silent from {start_s} s (peak below -60 dBFS)")
    if peak > 0.999:  # summed stems may clip; scale down, never up
        y *= 0.999 / peak
    k = int(FADE_S * OUT_SR)
    ramp = np.linspace(0.0, 1.0, k, dtype=np.float32)
    y[:k] *= ramp
    y[-k:] *= ramp[::-1]
    return y


def copy_licences(root: Path, package: str, dest: Path) -> None:
    """Copy a package's copyright file and the licence texts it names.

    Parameters
    ----------
    root : Path
        Folder the package was unpacked into.
    package : str
        Package name.
    dest : Path
        The set's root; files go to ``dest / "licenses"``.
    """
    out = dest / "licenses"
    out.mkdir(parents=True, exist_ok=True)
    src = root / "usr/share/doc" / package / "copyright"
    text = src.read_text(encoding="utf-8", errors="replace")
    (out / f"{package}.copyright").write_text(text, encoding="utf-8")
    extra = EXTRA_NOTES.get(package)
    if extra and (root / extra).exists():
        name = Path(extra).name.removesuffix(".gz")
        with gzip.open(root / extra, "rt", encoding="utf-8", errors="replace") as f:
            (out / f"{package}.{name}").write_text(f.read(), encoding="utf-8")
    for name in set(re.findall(r"/usr/share/common-licenses/([\w.+-]+)", text)):
        name = name.rstrip(".")
        if (COMMON_LICENSES / name).is_file():
            (out / "common").mkdir(exist_ok=True)
            shutil.copy(COMMON_LICENSES / name, out / "common" / name)


def write_credits(rows: list[dict[str, str]], dest: Path) -> None:
    """Write ``CREDITS.md`` from the manifest.

    Parameters
    ----------
    rows : list of dict
        Manifest rows.
    dest : Path
        The set's root.
    """
    tracks: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        tracks[(r["package"], r["source_path"])].append(r)
    lines = [
        "# Credits", "",
        "Excerpts of music shipped by Debian 12 (bookworm, main). Each "
        "track keeps its original licence; the package's copyright file is "
        "in `licenses/`.", "",
        "| Clips | Genre | Title | Authors | Licence | Package | Original file |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (pkg, src), rs in sorted(tracks.items()):
        r = rs[0]
        clips = ", ".join(f"`{x['clip']}`" for x in rs)
        cells = [clips, r["genre"], r["title"] or "(untitled)", r["authors"] or "(unknown)",
                 r["licence"], f"{pkg} {r['version']}", f"`{src}`"]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    (dest / "CREDITS.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def build_package(package: str, version: str, rows: list[dict[str, str]],
                  dest: Path) -> str:
    """Fetch one package and write its missing excerpts.

    Parameters
    ----------
    package, version : str
        Debian package name and exact version.
    rows : list of dict
        Manifest rows for this package.
    dest : Path
        The set's root.

    Returns
    -------
    str
        One line describing what was done.
    """
    todo = [r for r in rows if not (dest / r["clip"]).exists()]
    licence_done = (dest / "licenses" / f"{package}.copyright").exists()
    if not todo and licence_done:
        return f"{package}={version}: {len(rows)} clips present, skipped"
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="devset-") as tmp:
        tmp = Path(tmp)
        root = download(package, version, tmp)
        size = sum(p.stat().st_size for p in tmp.glob("*.deb"))
        scratch = tmp / "members"
        scratch.mkdir()
        for r in todo:
            paths = [open_source(root, s.strip(), scratch)
                     for s in r["source_path"].split(" + ")]
            y = cut_excerpt(paths, float(r["start_s"]))
            out = dest / r["clip"]
            out.parent.mkdir(parents=True, exist_ok=True)
            part = out.with_suffix(".part")
            sf.write(part, y, OUT_SR, format="OGG", subtype="VORBIS")
            part.replace(out)
        copy_licences(root, package, dest)
    return (f"{package}={version}: {size / 1e6:.1f} MB, wrote {len(todo)} clips, "
            f"{len(rows) - len(todo)} present ({time.monotonic() - t0:.0f} s)")


def make_root(rows: list[dict[str, str]], devset: Path, dest: Path) -> Path:
    """Import the excerpts of the genres with at least :data:`ROOT_MIN_EXCERPTS` as a dataset root at
    ``dest`` (copies: ``DEST/fma_full``), laid out ``<Genre>/<authors>/<clip>`` so the authors are the
    artist. Returns ``dest``. Nothing is done when ``dest`` already holds the root of these rows; a root
    of other rows (an older manifest) is refused (BuildError): delete it to rebuild."""
    import hashlib
    import json

    counts = defaultdict(int)
    for r in rows:
        counts[r["genre"]] += 1
    kept = [r for r in rows if counts[r["genre"]] >= ROOT_MIN_EXCERPTS]
    digest = hashlib.sha256(json.dumps([[r["clip"], r["genre"], r["authors"]] for r in kept]).encode()).hexdigest()[:12]
    if (dest / "fma_metadata" / "tracks.csv").is_file():
        info = json.loads((dest / "dataset.json").read_text(encoding="utf-8"))
        if info.get("manifest_digest") != digest:
            raise BuildError(f"{dest}: holds a root of another manifest; delete it to rebuild")
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        for r in kept:
            clip = Path(r["clip"])
            artist = re.sub(r"[^\w.,' ()-]+", "_", r["authors"]).strip() or "unknown"
            link = Path(tmp) / clip.parent.name / artist / clip.name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to((devset / clip).resolve())
        import_folder(tmp, dest, copy=True)
    info = json.loads((dest / "dataset.json").read_text(encoding="utf-8"))
    genres = sorted({r["genre"] for r in kept})
    info.update(source_path=str(devset.resolve()), manifest_digest=digest, description=(
        f"the real-music development set (bench/devset): {len(kept)} excerpts in {len(genres)} genres "
        f"({', '.join(genres)}), the authors as artists"))
    write_atomic(dest / "dataset.json", json.dumps(info, indent=2) + "\n")
    return dest


def main(argv: list[str] | None = None) -> int:
    """Build the set; see the module docstring.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, required=True, help="output folder")
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    ap.add_argument("--root", type=Path, help="also make a dataset root for studies here (see make_root)")
    args = ap.parse_args(argv)
    rows = read_manifest(args.manifest)
    by_pkg: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        by_pkg[(r["package"], r["version"])].append(r)
    args.dest.mkdir(parents=True, exist_ok=True)
    try:
        for (package, version), prow in by_pkg.items():
            print(build_package(package, version, prow, args.dest), flush=True)
        write_credits(rows, args.dest)
        print(f"{len(rows)} clips from {len(by_pkg)} packages in {args.dest}")
        if args.root:
            print(f"dataset root {make_root(rows, args.dest, args.root)}")
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
