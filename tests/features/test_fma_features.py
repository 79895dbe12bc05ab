import io

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from core.audio import AudioError
from core.features.fma_features import (
    FEATURE_COLUMNS,
    FEATURE_NAMES,
    _zero_padded_edges,
    estimate_tuning,
    extract_fma_features,
    features_frame,
    file_features,
)
from tests.builders import tone

# FMA's documented layout: features.csv columns sorted by feature, then statistic, then number.
LAYOUT = [
    ("chroma_cens", 12), ("chroma_cqt", 12), ("chroma_stft", 12), ("mfcc", 20), ("rmse", 1),
    ("spectral_bandwidth", 1), ("spectral_centroid", 1), ("spectral_contrast", 7),
    ("spectral_rolloff", 1), ("tonnetz", 6), ("zcr", 1),
]
STATS = ["kurtosis", "max", "mean", "median", "min", "skew", "std"]


@pytest.fixture(scope="module")
def clip():
    """3 s of 44.1 kHz music-like audio and its features (computed once for the module)."""
    y = tone(3.0, 44100, seed=3)[:, 0]
    return y, 44100, extract_fma_features(y, 44100)


def test_columns_match_features_csv_header():
    header = [(f, s, f"{i:02d}") for f, n in LAYOUT for s in STATS for i in range(1, n + 1)]
    assert len(FEATURE_COLUMNS) == 518
    assert list(FEATURE_COLUMNS) == header
    assert FEATURE_COLUMNS.names == ["feature", "statistics", "number"]
    assert FEATURE_NAMES[:2] == ["chroma_cens.kurtosis.01", "chroma_cens.kurtosis.02"]
    assert FEATURE_NAMES[252] == "mfcc.kurtosis.01" and FEATURE_NAMES[-1] == "zcr.std.01"


def test_frame_round_trips_through_features_csv_format(clip):
    frame = features_frame({2: clip[2], 5: clip[2]})
    text = frame.to_csv()
    lines = text.splitlines()
    assert lines[0].startswith("feature,chroma_cens") and lines[1].startswith("statistics,kurtosis")
    assert lines[2].startswith("number,01") and lines[3].startswith("track_id")
    back = pd.read_csv(io.StringIO(text), index_col=0, header=[0, 1, 2])
    assert list(back.columns) == list(FEATURE_COLUMNS)
    np.testing.assert_allclose(back.to_numpy(), frame.to_numpy(), rtol=1e-6)


def _numpy_frames(y, pad_mode):
    padded = np.pad(y.astype(np.float64), 1024, mode=pad_mode)
    n = 1 + (len(padded) - 2048) // 512
    return np.stack([padded[i * 512 : i * 512 + 2048] for i in range(n)])


def _stats(row):
    return {
        "mean": row.mean(), "std": row.std(), "median": np.median(row), "min": row.min(),
        "max": row.max(), "skew": stats.skew(row), "kurtosis": stats.kurtosis(row),
    }


def _ours(features, name):
    return {s: features[FEATURE_NAMES.index(f"{name}.{s}.01")] for s in STATS}


def test_zcr_statistics_match_numpy(clip):
    y, _, features = clip
    frames = _numpy_frames(np.where(np.abs(y) <= 1e-10, 0, y), "edge")
    sign = np.signbit(frames)
    zcr = (sign[:, 1:] != sign[:, :-1]).sum(axis=1) / 2048
    expected, got = _stats(zcr), _ours(features, "zcr")
    for s in STATS:
        assert got[s] == pytest.approx(expected[s], rel=1e-4, abs=1e-6), s


def test_rmse_statistics_match_numpy(clip):
    y, _, features = clip
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2048) / 2048)  # periodic Hann
    spectra = np.abs(np.fft.rfft(_numpy_frames(y, "reflect") * window, axis=1))
    rmse = np.sqrt(np.mean(spectra**2, axis=1))  # FMA's librosa 0.5 rmse(S=|STFT|)
    expected, got = _stats(rmse), _ours(features, "rmse")
    for s in STATS:
        assert got[s] == pytest.approx(expected[s], rel=1e-4, abs=1e-6), s


def test_same_values_as_fma_recipe(clip):
    from bench.fma_recipe import fma_reference_features

    y, sr, features = clip
    reference = fma_reference_features(y, sr)
    # Constant rows: current scipy gives nan, FMA's scipy (and we) skew 0 and kurtosis -3.
    constant = np.isnan(reference)
    assert constant.any(), "the clip has a constant chroma_cens row, exercising the rule"
    assert all(features[i] == (0.0 if ".skew." in FEATURE_NAMES[i] else -3.0) for i in np.flatnonzero(constant))
    np.testing.assert_allclose(features[~constant], reference[~constant], rtol=2e-4, atol=2e-4)
    assert features.dtype == np.float32 and np.isfinite(features).all()


@pytest.mark.parametrize("sr", [22050, 44100])
def test_fast_tuning_equals_librosa(sr):
    import librosa

    y = tone(2.0, sr, seed=5)[:, 0] * 1.0
    magnitude = np.abs(librosa.stft(y))
    for S, rate in [(magnitude, sr), (magnitude**2, 22050)]:
        assert estimate_tuning(S, rate, 12) == librosa.estimate_tuning(S=S, sr=rate, bins_per_octave=12)
    # The CQT's own estimate (zero-padded frames) from the reflection-padded STFT plus recomputed edges.
    reflected = np.abs(librosa.stft(y, pad_mode="reflect"))
    edges = _zero_padded_edges(y, reflected.shape[1])
    np.testing.assert_array_equal(np.concatenate([edges[0], edges[1]], axis=1),
                                  np.concatenate([magnitude[:, : edges[0].shape[1]], magnitude[:, -edges[1].shape[1]:]], axis=1))
    assert estimate_tuning(reflected, sr, 12, edges=edges) == librosa.estimate_tuning(y=y, sr=sr, bins_per_octave=12)


def test_file_features_and_failures(audio_file, tmp_path):
    vector = file_features(audio_file("a.flac", seconds=1.5, sr=32000, channels=2))
    assert vector.shape == (518,) and np.isfinite(vector).all()
    telephone = file_features(audio_file("phone.wav", seconds=1.5, sr=8000))  # below the CQT's range
    assert np.isfinite(telephone).all()
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(AudioError, match="bad.mp3"):
        file_features(bad)


def test_fast_spectral_pieces_equal_librosa():
    import librosa

    from core.features.fma_features import spectral_contrast, zero_crossing_rate

    y = tone(1.7, 44100, seed=2)[:, 0]
    for piece in (y, y[:5000]):
        np.testing.assert_array_equal(
            zero_crossing_rate(piece), librosa.feature.zero_crossing_rate(piece, frame_length=2048, hop_length=512)
        )
    S = np.abs(librosa.stft(y, pad_mode="reflect"))
    np.testing.assert_allclose(spectral_contrast(S), librosa.feature.spectral_contrast(S=S, n_bands=6), atol=1e-5)
