"""Download FMA's official archives: resumable, SHA-1 verified, unzipped into the data root.

The download goes to ``ROOT/.downloads/<archive>.part`` and continues where it stopped (HTTP Range)
when the command runs again. A finished archive is checked against FMA's published SHA-1 before it
is unzipped; a mismatch removes it. After unzipping, the archive is deleted unless ``keep_archive``.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path

from core.errors import GenreLabError
from tqdm import tqdm

#: Where FMA publishes its archives (README of mdeff/fma).
FMA_BASE_URL = "https://os.unil.cloud.switch.ch/fma/"
#: ``fetch`` target → archive name.
ARCHIVES = {
    "metadata": "fma_metadata.zip",
    "small": "fma_small.zip",
    "medium": "fma_medium.zip",
    "large": "fma_large.zip",
    "full": "fma_full.zip",
}
#: FMA's published SHA-1 of each archive.
FMA_SHA1 = {
    "fma_metadata.zip": "f0df49ffe5f2a6008d7dc83c6915b31835dfe733",
    "fma_small.zip": "ade154f733639d52e35e32f5593efe5be76c6d70",
    "fma_medium.zip": "c67b69ea232021025fca9231fc1c7c1a063ab50b",
    "fma_large.zip": "497109f4dd721066b5ce5e5f250ec604dc78939e",
    "fma_full.zip": "0f0ace23fbe9ba30ecb7e95f763e435ea802b8ab",
}
CHUNK_BYTES = 1 << 20


def fetch(
    what: str,
    dest: str | os.PathLike,
    base_url: str = FMA_BASE_URL,
    checksums: Mapping[str, str] = FMA_SHA1,
    keep_archive: bool = False,
    progress: bool = True,
    timeout_s: float = 60.0,
) -> Path:
    """Download archive ``what`` (a key of ARCHIVES) from ``base_url``, verify it, unzip it into ``dest``.

    Returns the archive path if kept, else ``dest``. Run again after an interruption to resume.
    """
    if what not in ARCHIVES:
        raise GenreLabError(f"unknown archive {what!r}, expected one of {', '.join(ARCHIVES)}")
    name = ARCHIVES[what]
    if name not in checksums:
        raise GenreLabError(f"no SHA-1 known for {name}: refusing to download an unverifiable archive")
    dest = Path(dest)
    archive = dest / ".downloads" / name
    archive.parent.mkdir(parents=True, exist_ok=True)
    url = base_url.rstrip("/") + "/" + name
    if not archive.exists():
        part = archive.with_name(name + ".part")
        download(url, part, progress=progress, timeout_s=timeout_s)
        part.replace(archive)
    verify_sha1(archive, checksums[name], progress=progress)
    unzip(archive, dest, progress=progress)
    if keep_archive:
        return archive
    archive.unlink()
    return dest


def download(url: str, part: Path, progress: bool = True, timeout_s: float = 60.0) -> None:
    """Append ``url``'s bytes to ``part``, asking only for the bytes it lacks (HTTP Range)."""

    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the part file is already whole
            return
        raise GenreLabError(f"{url}: download failed (HTTP {err.code} {err.reason})") from None
    except (urllib.error.URLError, OSError) as err:
        raise GenreLabError(f"{url}: download failed ({getattr(err, 'reason', err)})") from None
    with response:
        if response.status != 206:  # the server ignored the Range: start over
            have = 0
        remaining = response.headers.get("Content-Length")
        total = have + int(remaining) if remaining is not None else None
        with open(part, "ab" if have else "wb") as out, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
            desc=part.name.removesuffix(".part"), disable=not progress,
        ) as bar:
            try:
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    bar.update(len(chunk))
            except (OSError, http.client.HTTPException) as err:
                raise GenreLabError(f"{url}: download interrupted after {out.tell()} bytes ({err!r}); "
                                    f"run the command again to resume") from None
    size = part.stat().st_size
    if total is not None and size != total:
        raise GenreLabError(f"{url}: download interrupted after {size} of {total} bytes; "
                            f"run the command again to resume")


def verify_sha1(path: Path, expected: str, progress: bool = True) -> None:
    """Raise (and remove ``path``) unless its SHA-1 is ``expected``."""

    digest = hashlib.sha1()
    with open(path, "rb") as f, tqdm(total=path.stat().st_size, unit="B", unit_scale=True,
                                     unit_divisor=1024, desc=f"SHA-1 {path.name}", disable=not progress) as bar:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
            bar.update(len(chunk))
    if digest.hexdigest() != expected.lower():
        path.unlink()
        raise GenreLabError(f"{path}: SHA-1 {digest.hexdigest()} does not match the published {expected}; "
                            f"the file was removed, run the command again to download it afresh")


def unzip(archive: Path, dest: Path, progress: bool = True) -> None:
    """Extract ``archive`` into ``dest``; members already extracted with the right size are skipped."""

    root = dest.resolve()
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for member in tqdm(members, desc=f"unzip {archive.name}", unit="file", disable=not progress):
                target = (root / member.filename).resolve()
                if not target.is_relative_to(root):
                    raise GenreLabError(f"{archive}: member {member.filename!r} points outside {dest}")
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if target.is_file() and target.stat().st_size == member.file_size:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".part")
                with zf.open(member) as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK_BYTES)
                tmp.replace(target)
    except zipfile.BadZipFile as err:
        raise GenreLabError(f"{archive}: not a readable zip archive ({err}); FMA suggests 7-Zip for "
                            f"the large archives") from None
