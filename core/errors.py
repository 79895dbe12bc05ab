"""The one exception type users see as a one-line message (CLI and dashboard print `str(err)`)."""


class GenreLabError(Exception):
    """A problem with the user's input or environment, described in one line.

    The message names the file (or setting) and the problem, e.g.
    ``data/demo/fma_metadata/tracks.csv: duplicate track_id 2``.
    """


def first_line(err: BaseException) -> str:
    """The first line of an error's message (or its type's name when it has none), for one-line reports."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def require(ok: bool, message: str) -> None:
    """The one parameter check of settings dataclasses (``__post_init__``): ``ValueError(message)`` unless
    ``ok``. The message starts with the field's name (``"epochs: must be >= 1, got 0"``); whoever built the
    object from a file (``core.study.spec.build_section``) turns it into a one-line error naming the file."""
    if not ok:
        raise ValueError(message)
