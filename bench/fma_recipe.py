"""FMA's feature recipe as its ``features.py`` (mdeff/fma) writes it, ported call for call to librosa 0.11.

This is the baseline that ``core.features.fma_features`` is timed and checked against; it is
deliberately not optimised. The port changes only what librosa changed underneath FMA's calls, so
that the values are those FMA's librosa (0.5, 2017) computed for the published features.csv:

- ``librosa.feature.rmse(S=...)`` no longer exists; its 0.5 definition on a spectrogram was
  ``sqrt(mean(S**2 over frequency))`` (``rms(S=...)`` now rescales to time-domain RMS, ~45x smaller).
- ``chroma_cqt``/``chroma_cens`` defaulted to ``bins_per_octave = n_chroma`` (12), now 36; FMA's
  CQT has 12 bins per octave, so 12 is spelled out.
- STFT and CQT framing padded by reflection; librosa >= 0.9 pads with zeros unless told.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from core.data.fma import FEATURE_COLUMNS


def fma_reference_features(x: np.ndarray, sr: int) -> np.ndarray:
    """The 518 features of one mono waveform at its native rate, in FEATURE_COLUMNS order (float32)."""
    import librosa

    features = pd.Series(index=FEATURE_COLUMNS, dtype=np.float32)

    def feature_stats(name, values):
        # pandas 3 refuses to downcast on assignment: FMA's float32 Series, cast explicitly.
        for statistic, value in (
            ("mean", np.mean(values, axis=1)),
            ("std", np.std(values, axis=1)),
            ("skew", stats.skew(values, axis=1)),
            ("kurtosis", stats.kurtosis(values, axis=1)),
            ("median", np.median(values, axis=1)),
            ("min", np.min(values, axis=1)),
            ("max", np.max(values, axis=1)),
        ):
            features[name, statistic] = np.asarray(value, dtype=np.float32)

    f = librosa.feature.zero_crossing_rate(x, frame_length=2048, hop_length=512)
    feature_stats("zcr", f)

    cqt = np.abs(
        librosa.cqt(x, sr=sr, hop_length=512, bins_per_octave=12, n_bins=7 * 12, tuning=None, pad_mode="reflect")
    )
    f = librosa.feature.chroma_cqt(C=cqt, n_chroma=12, n_octaves=7, bins_per_octave=12)
    feature_stats("chroma_cqt", f)
    f = librosa.feature.chroma_cens(C=cqt, n_chroma=12, n_octaves=7, bins_per_octave=12)
    feature_stats("chroma_cens", f)
    f = librosa.feature.tonnetz(chroma=f)
    feature_stats("tonnetz", f)

    del cqt
    stft = np.abs(librosa.stft(x, n_fft=2048, hop_length=512, pad_mode="reflect"))

    f = librosa.feature.chroma_stft(S=stft**2, n_chroma=12)
    feature_stats("chroma_stft", f)

    f = np.sqrt(np.mean(stft**2, axis=0, keepdims=True))  # librosa 0.5 rmse(S=stft)
    feature_stats("rmse", f)

    f = librosa.feature.spectral_centroid(S=stft)
    feature_stats("spectral_centroid", f)
    f = librosa.feature.spectral_bandwidth(S=stft)
    feature_stats("spectral_bandwidth", f)
    f = librosa.feature.spectral_contrast(S=stft, n_bands=6)
    feature_stats("spectral_contrast", f)
    f = librosa.feature.spectral_rolloff(S=stft)
    feature_stats("spectral_rolloff", f)

    mel = librosa.feature.melspectrogram(sr=sr, S=stft**2)
    del stft
    f = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=20)
    feature_stats("mfcc", f)

    return features.to_numpy()


def fma_reference_file(path) -> np.ndarray:
    """FMA's whole per-track step: ``librosa.load(path, sr=None, mono=True)`` then the features."""
    import librosa

    x, sr = librosa.load(path, sr=None, mono=True)
    return fma_reference_features(x, sr)
