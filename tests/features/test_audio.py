import numpy as np
import pytest
import soundfile as sf

from core.audio import AudioError, iter_windows, load_audio
from core.errors import GenreLabError


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "opus", "aiff", "mp3"])
@pytest.mark.parametrize("channels", [1, 2])
def test_every_format_decodes_to_mono_float32(audio_file, ext, channels):
    sr = 48000 if ext == "opus" else 44100
    path = audio_file(f"clip.{ext}", seconds=1.5, sr=sr, channels=channels)
    y, got_sr = load_audio(path)
    assert got_sr == sr and y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) / sr - 1.5) < 0.01
    y22, sr22 = load_audio(path, sr=22050)
    assert sr22 == 22050 and abs(len(y22) - 1.5 * 22050) <= 2


@pytest.mark.parametrize("sr", [8000, 11025, 32000, 37800])
def test_odd_sample_rates_resample(audio_file, sr):
    y, got = load_audio(audio_file("odd.wav", seconds=1.2, sr=sr), sr=22050)
    assert got == 22050 and abs(len(y) - round(1.2 * 22050)) <= 2


def test_stereo_mix_is_channel_mean(audio_file):
    path = audio_file("st.wav", seconds=1.1, sr=8000, channels=2)
    both = sf.read(path, dtype="float32")[0]
    y, _ = load_audio(path)
    np.testing.assert_allclose(y, both.mean(axis=1), atol=1e-7)
    multi, _ = load_audio(path, mono=False)
    assert multi.shape == (2, both.shape[0])


def test_offset_and_duration(audio_file):
    y, sr = load_audio(audio_file("x.flac", seconds=3, sr=8000), offset=1.0, duration=1.5)
    assert len(y) == 12000


@pytest.mark.parametrize("ext", ["wav", "flac", "mp3"])
def test_truncated_file_is_judged_by_what_decodes(audio_file, tmp_path, ext):
    full = audio_file(f"full.{ext}", seconds=4, sr=44100, channels=2)
    data = full.read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: len(data) // 2])
    y, sr = load_audio(cut)
    assert 1.0 < len(y) / sr < 2.5


def _expect(path, words, **kwargs):
    with pytest.raises(AudioError) as err:
        load_audio(path, **kwargs)
    message = str(err.value)
    assert isinstance(err.value, GenreLabError)
    assert str(path) in message and words in message and "\n" not in message
    return message


def test_bad_inputs_give_one_line_reasons(tmp_path, audio_file):
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    _expect(empty, "empty file")
    junk = tmp_path / "notes.mp3"
    junk.write_bytes(b"this is a text file, not audio\n" * 50)
    _expect(junk, "not a readable audio file")
    _expect(tmp_path / "missing.wav", "no such file")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 8000)
    _expect(silent, "silent")
    no_frames = tmp_path / "noframes.wav"
    sf.write(no_frames, np.zeros((0, 2), np.float32), 8000)
    _expect(no_frames, "no audio decoded")
    short = audio_file("short.ogg", seconds=0.5, sr=22050)
    _expect(short, "too short")
    assert load_audio(short, min_seconds=0.25)[0].size > 0


def test_windows_stream_the_same_samples(audio_file):
    path = audio_file("long.mp3", seconds=3.3, sr=44100, channels=2)
    whole, sr = load_audio(path, sr=22050)
    windows = list(iter_windows(path, 1.0, sr=22050))
    assert [start for start, _ in windows] == [0.0, 1.0, 2.0, 3.0]
    assert [len(w) for _, w in windows[:3]] == [22050] * 3
    np.testing.assert_allclose(np.concatenate([w for _, w in windows]), whole, atol=1e-6)
    overlapping = list(iter_windows(path, 1.0, hop_seconds=0.5, sr=22050))
    assert [start for start, _ in overlapping] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]


def test_windows_reject_short_and_silent(audio_file, tmp_path):
    with pytest.raises(AudioError, match="too short"):
        list(iter_windows(audio_file("s.wav", seconds=0.4, sr=8000), 1.0))
    silent = tmp_path / "quiet.wav"
    sf.write(silent, np.zeros(24000, np.float32), 8000)
    with pytest.raises(AudioError, match="silent"):
        list(iter_windows(silent, 1.0))
