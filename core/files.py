"""Writing files so that a reader never sees half of one and two writers never collide.

Every file the project writes goes through :func:`atomic_write` (or :func:`write_atomic`): the content
goes to a uniquely named temporary file in the same folder, which then replaces the target in one
``os.replace``. The result has the permissions any new file would have under the user's umask
(``mkstemp`` alone would leave it 0600, unreadable to a group sharing a data root).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

from core.errors import GenreLabError


def umask_mode(mode: int = 0o666) -> int:
    """``mode`` as the user's umask leaves it (what ``open`` would give a new file)."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    >>> with atomic_write("table.csv") as tmp:
    ...     frame.to_csv(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically, with umask permissions."""
    with atomic_write(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)


def read_toml(path: str | os.PathLike, what: str) -> dict:
    """A TOML file as a dict; a missing or unreadable file is a one-line GenreLabError naming it and ``what``."""


    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GenreLabError(f"{path}: {what} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise GenreLabError(f"{path}: not valid TOML ({err})") from None
