"""The window grammar: parse, print back, cut a waveform; bad text is a one-line error."""
import numpy as np
import pytest

from core.errors import GenreLabError
from core.features.window import FULL, Window, parse_window


@pytest.mark.parametrize("text, window", [
    ("full", FULL),
    ("center:30", Window("center", 0.0, 30.0)),
    ("start:10:2.5", Window("start", 10.0, 2.5)),
    ("start:0:0.1", Window("start", 0.0, 0.1)),
])
def test_parse_and_print_round_trip(text, window):
    assert parse_window(text) == window
    assert str(window) == text and parse_window(str(window)) == window
    assert parse_window(f" {text} ") == window


def test_apply_cuts_the_middle_or_from_a_start():
    sr = 10
    y = np.arange(100, dtype=np.float32)  # 10 s
    assert FULL.apply(y, sr) is y
    np.testing.assert_array_equal(parse_window("center:3").apply(y, sr), np.arange(35, 65))
    np.testing.assert_array_equal(parse_window("start:2:1.5").apply(y, sr), np.arange(20, 35))
    assert parse_window("center:30").apply(y, sr) is not None and len(parse_window("center:30").apply(y, sr)) == 100
    assert len(parse_window("start:9:5").apply(y, sr)) == 10  # to the end
    assert len(parse_window("start:12:5").apply(y, sr)) == 0
    assert parse_window("start:0:30").slug == "start-0-30"


@pytest.mark.parametrize("text", ["", "all", "center", "center:", "center:abc", "center:0", "center:-3",
                                  "start:5", "start:-1:3", "start:1:2:3", "full:30", "center:nan", "center:inf"])
def test_bad_windows_are_one_line_errors(text):
    with pytest.raises(GenreLabError) as err:
        parse_window(text)
    assert str(err.value).startswith("--window") and "\n" not in str(err.value)
