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
