"""bench/devset/build.py: the excerpt it cuts, and the tracks it refuses."""
import numpy as np
import pytest
import soundfile as sf

from bench.devset.build import CLIP_S, OUT_SR, BuildError, cut_excerpt


def jingle(path, sr=44100, sound_s=20.0, total_s=84.0):
    """A stereo tone of ``sound_s`` seconds padded with digital silence to ``total_s``."""
    t = np.arange(int(total_s * sr)) / sr
    x = 0.5 * np.sin(2 * np.pi * 440 * t) * (t < sound_s)
    sf.write(path, np.stack([x, x], axis=1), sr)
    return path


def test_an_excerpt_is_30_s_of_mono_at_22050_hz_with_fades(tmp_path):
    y = cut_excerpt([jingle(tmp_path / "a.wav", sound_s=84.0)], 30.0)
    assert y.shape == (int(CLIP_S * OUT_SR),) and y.dtype == np.float32
    assert abs(y[0]) < 1e-6 and abs(y[-1]) < 1e-3 and np.abs(y).max() == pytest.approx(0.5, abs=0.01)


def test_an_excerpt_of_silence_is_refused_in_one_line(tmp_path):
    with pytest.raises(BuildError, match=r"^b\.wav: silent from 30\.0 s"):
        cut_excerpt([jingle(tmp_path / "b.wav")], 30.0)


def test_a_track_that_ends_before_the_excerpt_is_refused(tmp_path):
    with pytest.raises(BuildError, match="shorter than"):
        cut_excerpt([jingle(tmp_path / "c.wav", total_s=50.0)], 30.0)


def test_a_root_is_made_once_and_a_root_of_another_manifest_is_refused(tmp_path):
    from bench.devset.build import make_root

    devset = tmp_path / "devset"
    (devset / "Rock").mkdir(parents=True)
    rows = []
    for i in range(8):
        sf.write(devset / "Rock" / f"clip_{i}.ogg", 0.3 * np.sin(np.arange(22050 * 5) * 0.05), 22050)
        rows.append({"clip": f"Rock/clip_{i}.ogg", "genre": "Rock", "authors": f"Band {i % 3}"})
    root = make_root(rows, devset, tmp_path / "root")
    tracks = (root / "fma_metadata" / "tracks.csv").stat().st_mtime_ns
    assert make_root(rows, devset, root) == root
    assert (root / "fma_metadata" / "tracks.csv").stat().st_mtime_ns == tracks, "the same rows: left as it is"
    rows[0] = {**rows[0], "authors": "Band 9"}
    with pytest.raises(BuildError, match=r"root: holds a root of another manifest; delete it to rebuild$"):
        make_root(rows, devset, root)
