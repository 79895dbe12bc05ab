"""bench/devset/survey.py: which packages it surveys, and what it reads from their audio files."""
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.devset import survey


def test_packages_come_from_the_contents_index_with_the_held_out_ones_left_out():
    lines = [
        "usr/share/games/berusky2/music/Break.ogg                 games/berusky2-data",
        "usr/share/games/pink-pony/music/To be happy.MP3          games/pink-pony-data",
        "usr/share/sounds/a.wav                                   sound/one,games/two-data",
        "usr/share/games/wesnoth/1.16/data/core/music/x.ogg       games/wesnoth-1.16-music",
        "usr/share/games/0ad/music/y.ogg                          games/0ad-data",
        "usr/share/doc/berusky2-data/copyright                    games/berusky2-data",
        "usr/share/games/x/music.ogg.txt                          games/notes-only",
    ]
    assert survey.audio_packages(lines) == {"berusky2-data", "pink-pony-data", "one", "two-data"}


def write(path: Path, seconds: float, **tags) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(path, "w", samplerate=8000, channels=1) as f:
        for key, value in tags.items():
            setattr(f, key, value)
        f.write(np.zeros(int(8000 * seconds), dtype="float32"))


def test_tracks_of_40_s_or_more_with_their_tags(tmp_path):
    write(tmp_path / "usr/share/games/w/music/Sean Hawk - Imperia.ogg", 41, genre="Electronica ",
          artist="Sean Hawk", title="Imperia")
    write(tmp_path / "usr/share/games/w/music/loop.wav", 45)
    write(tmp_path / "usr/share/games/w/sfx/jump.wav", 39.9, genre="Sound FX")
    (tmp_path / "usr/share/games/w/music/broken.ogg").write_bytes(b"not audio")
    rows = survey.audio_tracks(tmp_path)
    assert rows == [
        {"path": "/usr/share/games/w/music/Sean Hawk - Imperia.ogg", "seconds": 41.0,
         "genre": "Electronica", "artist": "Sean Hawk", "title": "Imperia"},
        {"path": "/usr/share/games/w/music/loop.wav", "seconds": 45.0, "genre": "", "artist": "", "title": ""},
    ]


def test_a_held_out_package_is_refused_before_anything_is_downloaded(tmp_path, capsys):
    assert survey.main(["--out", str(tmp_path / "s.csv"), "--package", "0ad-data", "pink-pony-data"]) == 1
    assert capsys.readouterr().err.strip() == "error: 0ad-data: held out for independent checks, never surveyed"
    assert not (tmp_path / "s.csv").exists()
