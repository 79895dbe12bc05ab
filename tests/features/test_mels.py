import json

import numpy as np
import pytest

from core.features.mels import MelCache, clip_count, frames_per_clip, log_mel, slice_clips
from tests.builders import tone


def test_log_mel_shape_and_values_match_librosa():
    import librosa

    y = tone(2.0, 22050, seed=1)[:, 0]
    mel = log_mel(y)
    assert mel.dtype == np.float32 and mel.shape == (128, 1 + len(y) // 512)
    expected = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=22050))
    np.testing.assert_allclose(mel, expected, atol=1e-3)
    assert log_mel(y, n_mels=64, hop_length=256).shape == (64, 1 + len(y) // 256)


@pytest.mark.parametrize(
    "seconds, frames", [(30, 1292), (10, 431), (3, 129), (1, 43), (0.5, 22)]
)
def test_frames_per_clip(seconds, frames):
    assert frames_per_clip(seconds, 22050, 512) == frames


def test_frames_per_clip_other_rates():
    assert frames_per_clip(3, 16000, 256) == round(3 * 16000 / 256)
    with pytest.raises(ValueError):
        frames_per_clip(0)


def test_slicing_arithmetic_and_rule():
    mel = np.arange(2 * 1292, dtype=np.float32).reshape(2, 1292)
    three = slice_clips(mel, 3)  # 129 frames: 10 full clips, 2 frames left (< half): dropped
    assert three.shape == (10, 2, 129)
    np.testing.assert_array_equal(three[4], mel[:, 4 * 129 : 5 * 129])
    assert np.shares_memory(three, mel)
    ten = slice_clips(mel, 10)  # 431 frames: 2 full, 430 left (>= half): padded third clip
    assert ten.shape == (3, 2, 431)
    np.testing.assert_array_equal(ten[2, :, :430], mel[:, 862:])
    assert (ten[2, :, 430] == mel.min()).all()
    assert slice_clips(mel, 10, short="drop").shape == (2, 2, 431)
    short = mel[:, :1000]  # shorter than a 30 s clip
    assert slice_clips(short, 30).shape == (1, 2, 1292)
    assert slice_clips(short, 30, short="drop").shape == (0, 2, 1292)
    assert [clip_count(n, 100) for n in (0, 1, 99, 100, 149, 150, 250)] == [0, 1, 1, 1, 1, 2, 3]
    assert [clip_count(n, 100, "drop") for n in (0, 99, 100, 250)] == [0, 0, 1, 2]


def test_cache_key_changes_with_every_parameter(tmp_path):
    base = MelCache(tmp_path)
    keys = {base.key}
    for change in [dict(sr=16000), dict(n_fft=1024), dict(hop_length=256), dict(n_mels=96)]:
        keys.add(MelCache(tmp_path, **change).key)
    assert len(keys) == 5
    assert MelCache(tmp_path).key == base.key
    assert MelCache.for_root(tmp_path).dir == tmp_path / "cache" / "mels" / base.key


def test_cache_round_trip_memory_mapped(tmp_path, audio_file):
    cache = MelCache(tmp_path, sr=22050)
    path = cache.compute(2, audio_file("x.mp3", seconds=4.0, sr=44100, channels=2))
    assert path == cache.dir / "000" / "000002.npy" and cache.has(2) and not cache.has(3)
    assert json.loads((cache.dir / "params.json").read_text())["n_mels"] == 128
    mel = cache.load(2)
    assert isinstance(mel, np.memmap) and mel.shape[0] == 128
    clips = cache.clips(2, 3)
    assert clips.shape == (1, 128, 129)
    cache.save("my_song", np.zeros((128, 5), np.float32))
    assert cache.path("my_song") == cache.dir / "my_song.npy" and cache.n_frames("my_song") == 5
    assert not list(cache.dir.rglob("*.tmp"))
