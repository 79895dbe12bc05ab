"""FMA's 518 audio features (``fma_metadata/features.csv``), computed from any waveform.

The recipe is FMA's ``features.py`` (mdeff/fma) on librosa 0.11, with its quirks kept so that a
model trained on the published features.csv accepts these vectors:

- audio at its native rate, mono; STFT n_fft 2048, hop 512; CQT 84 bins, 12 per octave, hop 512,
  shared by chroma_cqt, chroma_cens and tonnetz (tonnetz is computed from chroma_cens);
- chroma_stft and the spectral centroid, bandwidth, contrast and rolloff are computed without a
  sample rate, i.e. with librosa's default 22050 Hz whatever the audio's rate (FMA passed none);
- values as FMA's librosa 0.5 computed them where librosa changed since: rmse is
  ``sqrt(mean(|STFT|**2 over frequency))``, chroma folds 12 (not 36) bins per octave, and STFT/CQT
  frames at the edges are padded by reflection;
- statistics per feature row: scipy's skew and (Fisher) kurtosis with their defaults, numpy's
  mean, population std, median, min, max (a constant row: skew 0, kurtosis -3, as FMA's scipy
  gave); columns sorted as FMA's ``columns().sort_values()``.

It computes the same values as that recipe (``bench/fma_recipe.py``, the benchmark's baseline),
about twice as fast: one STFT serves the CQT's tuning estimate and every spectral feature; the
tuning estimates look only at the bins they keep; ZCR, centroid, bandwidth, rolloff and contrast
skip librosa's per-call copies; the statistics of all 74 feature rows are taken in one pass.
"""
from __future__ import annotations

import os

import librosa
import numpy as np
import pandas as pd

from core.audio import MIN_SECONDS, AudioError, check_waveform, load_audio, resample
from core.data.fma import (  # features.csv's format, with its reader
    FEATURE_COLUMNS,
    FEATURE_SIZES,
    STATISTICS,
)
from core.features.window import FULL, Window

#: Flat names in the same order: "feature.statistics.number", e.g. "mfcc.mean.01".
FEATURE_NAMES = [".".join(column) for column in FEATURE_COLUMNS]

N_FFT = 2048
HOP_LENGTH = 512
CQT_BINS_PER_OCTAVE = 12
CQT_OCTAVES = 7
#: Lowest rate whose Nyquist frequency clears the CQT's top bin (C8, plus tuning and filter width);
#: lower-rate audio (8 kHz) is upsampled to it first (it has no content up there anyway).
MIN_SAMPLE_RATE = 11025
#: The rate librosa assumes when none is given: what FMA's spectral features were computed with.
LIBROSA_DEFAULT_SR = 22050
# Row order of the stacked feature matrix; statistics are scattered to FEATURE_COLUMNS by _COLUMN_SOURCE.
_ROW_ORDER = tuple(FEATURE_SIZES)


def _column_source() -> tuple[np.ndarray, np.ndarray]:
    """For each column of FEATURE_COLUMNS: (index of its statistic, index of its row in the stacked matrix)."""
    row_start = dict(zip(_ROW_ORDER, np.cumsum([0] + [FEATURE_SIZES[f] for f in _ROW_ORDER])))
    stat = np.array([STATISTICS.index(s) for _, s, _ in FEATURE_COLUMNS])
    row = np.array([row_start[f] + int(n) - 1 for f, _, n in FEATURE_COLUMNS])
    return stat, row


_COLUMN_STAT, _COLUMN_ROW = _column_source()


def row_statistics(values: np.ndarray) -> np.ndarray:
    """The 7 statistics of each row, in STATISTICS order: shape (rows, frames) -> (7, rows) float64.

    Same definitions as FMA's (numpy mean/std/median/min/max, ``scipy.stats.skew``/``kurtosis`` with
    their defaults: biased, Fisher), computed from shared central moments in one pass. A constant
    row gets skew 0 and kurtosis -3, as the scipy FMA used (2017) returned, where current scipy
    returns nan (features.csv holds no nan).
    """
    values = np.asarray(values, dtype=np.float64)
    mean = values.mean(axis=1)
    centered = values - mean[:, None]
    sq = centered * centered
    m2 = sq.mean(axis=1)
    m3 = (sq * centered).mean(axis=1)
    m4 = (sq * sq).mean(axis=1)
    # Current scipy's test for a (numerically) constant row, with the eps of FMA's float32 rows.
    constant = m2 <= (np.finfo(np.float32).eps * mean) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(constant, 0.0, m3 / m2**1.5)
        kurtosis = np.where(constant, -3.0, m4 / m2**2 - 3.0)
    return np.stack(
        [kurtosis, values.max(axis=1), mean, np.median(values, axis=1), values.min(axis=1), skew, np.sqrt(m2)]
    )


def estimate_tuning(
    S: np.ndarray, sr: float, bins_per_octave: int, edges: tuple[np.ndarray, np.ndarray] | None = None
) -> float:
    """``librosa.estimate_tuning(S=S, sr=sr, bins_per_octave=...)`` with piptrack's defaults, same result.

    ``S``: magnitude or power spectrogram (1 + n_fft/2, frames). ``edges``: optional (head, tail)
    spectrogram columns that replace the first and last columns of ``S`` (see ``_zero_padded_edges``).
    librosa tracks peaks over every frequency bin and keeps those in [150, 4000) Hz; this evaluates
    the same stencils (local maximum, parabolic shift, gradient) on those rows alone, with the
    arithmetic types of librosa's numba stencil, so the pitch set, and the estimate, are identical.
    """

    fmin, fmax, threshold = 150.0, min(4000.0, float(sr) / 2), 0.1
    n_fft = 2 * (S.shape[0] - 1)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    rows = np.flatnonzero((fmin <= freqs) & (freqs < fmax))
    if rows.size == 0:
        return 0.0
    lo, hi = rows[0], rows[-1] + 1  # always interior: bin 0 is below fmin, Nyquist never < fmax
    band = S[lo - 1 : hi + 1]
    column_max = S.max(axis=0)
    if edges is not None:
        head, tail = edges
        band, column_max = band.copy(), column_max.copy()
        band[:, : head.shape[1]], band[:, -tail.shape[1] :] = head[lo - 1 : hi + 1], tail[lo - 1 : hi + 1]
        column_max[: head.shape[1]], column_max[-tail.shape[1] :] = head.max(axis=0), tail.max(axis=0)
    masked = band * (band > threshold * column_max)  # librosa's S * (S > ref_value)
    peaks = (masked[1:-1] > masked[:-2]) & (masked[1:-1] >= masked[2:])
    row, col = np.nonzero(peaks)
    below, centre, above = band[row, col], band[row + 1, col], band[row + 2, col]
    # The parabolic shift and the gradient, only where they are used (at the peaks).
    curvature = (above + below).astype(np.float64) - 2 * centre.astype(np.float64)
    slope = (above - below).astype(np.float64) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(np.abs(slope) >= np.abs(curvature), 0.0, -slope / curvature).astype(S.dtype)
    gradient = (above - below) / 2.0
    pitch = ((row + lo + shift) * float(sr) / n_fft).astype(S.dtype)
    magnitude = centre + 0.5 * gradient * shift
    keep = pitch > 0
    if not keep.any():
        return 0.0
    strong = pitch[(magnitude >= np.median(magnitude[keep])) & keep]
    return float(librosa.pitch_tuning(strong, resolution=0.01, bins_per_octave=bins_per_octave))


def _zero_padded_edges(y: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The first and last |STFT| columns of ``y`` framed with zero padding: (head, tail).

    Only frames whose window reaches past either end of ``y`` depend on the padding. With these
    in place of the reflection-padded ones, ``estimate_tuning`` sees the spectrogram librosa's CQT
    estimates its tuning on, without a second full STFT.
    """

    half = N_FFT // 2
    n_head = min(-(-half // HOP_LENGTH) + 1, n_frames)
    head = np.concatenate([np.zeros(half, y.dtype), y[: (n_head - 1) * HOP_LENGTH + half]])
    head = np.abs(librosa.stft(head, n_fft=N_FFT, hop_length=HOP_LENGTH, center=False))[:, :n_head]
    first_tail = max((len(y) - half) // HOP_LENGTH, 0)
    start = first_tail * HOP_LENGTH - half
    tail = np.concatenate([np.zeros(max(-start, 0), y.dtype), y[max(start, 0) :], np.zeros(half, y.dtype)])
    tail = np.abs(librosa.stft(tail, n_fft=N_FFT, hop_length=HOP_LENGTH, center=False))[:, : n_frames - first_tail]
    return head, tail


def zero_crossing_rate(y: np.ndarray) -> np.ndarray:
    """``librosa.feature.zero_crossing_rate(y, frame_length=2048, hop_length=512)``, same values, (1, frames).

    Counts sign changes once over the edge-padded signal and sums them per frame with a cumulative
    sum, instead of librosa's pass over every (overlapping) frame; counts are integers, so exact.
    """
    half = N_FFT // 2
    padded = np.pad(np.where(np.abs(y) <= 1e-10, 0, y), half, mode="edge")
    sign = np.signbit(padded)
    changes = np.concatenate([[0], np.cumsum(sign[1:] != sign[:-1])])
    starts = np.arange(1 + (len(padded) - N_FFT) // HOP_LENGTH) * HOP_LENGTH
    # A frame [s, s + N_FFT) counts the changes between its own consecutive samples.
    return ((changes[starts + N_FFT - 1] - changes[starts]) / N_FFT)[None]


def spectral_contrast(S: np.ndarray) -> np.ndarray:
    """``librosa.feature.spectral_contrast(S=S, n_bands=6)`` at 22050 Hz, (7, frames) float64.

    Same bands and quantile means as librosa's, found with a partial sort (``np.partition``)
    instead of a full sort per band; the means agree up to summation order.
    """

    n_bands, fmin, quantile = 6, 200.0, 0.02
    freq = librosa.fft_frequencies(sr=LIBROSA_DEFAULT_SR, n_fft=2 * (S.shape[0] - 1))
    octa = np.zeros(n_bands + 2)
    octa[1:] = fmin * (2.0 ** np.arange(0, n_bands + 1))
    valley = np.zeros((n_bands + 1, S.shape[1]))
    peak = np.zeros_like(valley)
    for k, (f_low, f_high) in enumerate(zip(octa[:-1], octa[1:])):
        band = (freq >= f_low) & (freq <= f_high)
        idx = np.flatnonzero(band)
        if k > 0:
            band[idx[0] - 1] = True
        if k == n_bands:
            band[idx[-1] + 1 :] = True
        rows = np.flatnonzero(band)  # a contiguous run: slice, not mask (a masked copy costs more than the sort)
        sub = S[rows[0] : rows[-1] + 1]
        if k < n_bands:
            sub = sub[:-1]
        n_q = int(max(np.rint(quantile * np.sum(band)), 1))
        ordered = np.sort(sub, axis=0)
        valley[k] = np.mean(ordered[:n_q], axis=0)
        peak[k] = np.mean(ordered[-n_q:], axis=0)
    return librosa.power_to_db(peak) - librosa.power_to_db(valley)


def _centroid_bandwidth_rolloff(S: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """librosa's spectral centroid, bandwidth (p=2) and rolloff (85 %) of magnitudes ``S`` at 22050 Hz.

    Each (1, frames). The centroid and bandwidth are the mean and standard deviation of frequency
    weighted by each frame's magnitudes, taken with two matrix-vector products instead of
    librosa's per-feature normalised copies; the rolloff is the first bin whose cumulative
    magnitude reaches 85 % of the frame's total (librosa's masked minimum, as frequencies increase).
    """

    freq = librosa.fft_frequencies(sr=LIBROSA_DEFAULT_SR, n_fft=2 * (S.shape[0] - 1))
    S64 = S.astype(np.float64)
    total = S64.sum(axis=0)
    total[total < np.finfo(S.dtype).tiny] = 1.0  # librosa.util.normalize leaves silent frames at 0
    centroid = (freq @ S64) / total
    spread = np.maximum((freq**2 @ S64) / total - centroid**2, 0.0)
    energy = np.cumsum(S, axis=0)
    first = np.argmax(energy >= 0.85 * energy[-1], axis=0)
    return centroid[None], np.sqrt(spread)[None], freq[first][None]


def extract_fma_features(y: np.ndarray, sr: int) -> np.ndarray:
    """FMA's 518 features of a mono waveform ``y`` (float32, shape (n,)) at its native rate ``sr`` Hz.

    Returns float32, shape (518,), in FEATURE_COLUMNS order. Use at least a few STFT frames of
    audio (``core.audio.load_audio`` enforces 1 s); values are FMA's recipe's (see module doc).
    Audio below MIN_SAMPLE_RATE is upsampled to it: FMA's 7-octave CQT does not fit under 8 kHz.
    """

    y = np.ascontiguousarray(y, dtype=np.float32)
    if sr < MIN_SAMPLE_RATE:
        y, sr = resample(y, sr, MIN_SAMPLE_RATE), MIN_SAMPLE_RATE
    zcr = zero_crossing_rate(y)

    stft = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH, pad_mode="reflect"))
    cqt_tuning = estimate_tuning(stft, sr, CQT_BINS_PER_OCTAVE, edges=_zero_padded_edges(y, stft.shape[1]))
    cqt = np.abs(
        librosa.cqt(
            y,
            sr=sr,
            hop_length=HOP_LENGTH,
            bins_per_octave=CQT_BINS_PER_OCTAVE,
            n_bins=CQT_OCTAVES * CQT_BINS_PER_OCTAVE,
            tuning=cqt_tuning,
            pad_mode="reflect",
        )
    )
    chroma_args = dict(C=cqt, n_chroma=12, n_octaves=CQT_OCTAVES, bins_per_octave=CQT_BINS_PER_OCTAVE)
    chroma_cqt = librosa.feature.chroma_cqt(**chroma_args)
    chroma_cens = librosa.feature.chroma_cens(**chroma_args)
    tonnetz = librosa.feature.tonnetz(chroma=chroma_cens)
    del cqt

    power = stft**2
    # FMA passes no sr here: librosa's default rate (22050 Hz) sets the chroma filters and tuning.
    stft_tuning = estimate_tuning(power, LIBROSA_DEFAULT_SR, 12)
    chroma_stft = librosa.feature.chroma_stft(S=power, n_chroma=12, tuning=stft_tuning)
    rmse = np.sqrt(np.mean(power, axis=0, keepdims=True))

    centroid, bandwidth, rolloff = _centroid_bandwidth_rolloff(stft)
    contrast = spectral_contrast(stft)

    mel = librosa.feature.melspectrogram(sr=sr, S=power)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=20)

    rows = dict(
        chroma_cens=chroma_cens,
        chroma_cqt=chroma_cqt,
        chroma_stft=chroma_stft,
        mfcc=mfcc,
        rmse=rmse,
        spectral_bandwidth=bandwidth,
        spectral_centroid=centroid,
        spectral_contrast=contrast,
        spectral_rolloff=rolloff,
        tonnetz=tonnetz,
        zcr=zcr,
    )
    statistics = row_statistics(np.concatenate([rows[name] for name in _ROW_ORDER]))
    return statistics[_COLUMN_STAT, _COLUMN_ROW].astype(np.float32)


def file_features(path: str | os.PathLike, window: Window = FULL, min_seconds: float = MIN_SECONDS) -> np.ndarray:
    """Decode ``path`` (native rate, mono), cut ``window`` (default: the whole file) and return its 518 features.

    Raises ``core.audio.AudioError`` for an unusable file, or a window with less than ``min_seconds``
    of usable audio in it.
    """
    y, sr = load_audio(path, sr=None, mono=True, min_seconds=min_seconds)
    if not window.is_full:
        clip = window.apply(y, sr)
        if clip.size == 0:
            raise AudioError(f"{path}: window {window} starts after the end of the audio ({len(y) / sr:.1f} s)")
        check_waveform(clip, sr, f"{path} (window {window})", min_seconds)
        y = clip
    return extract_fma_features(y, sr)


def warm_up_librosa() -> None:
    """Compile librosa's numba kernels once (seconds), so that no track pays for it: a batch's warm-up."""
    t = np.arange(LIBROSA_DEFAULT_SR, dtype=np.float32) / LIBROSA_DEFAULT_SR
    extract_fma_features(0.1 * np.sin(2 * np.pi * 440 * t), LIBROSA_DEFAULT_SR)


def features_frame(rows: dict, index_name: str = "track_id") -> pd.DataFrame:
    """A features.csv-shaped DataFrame (columns FEATURE_COLUMNS) from ``{key: vector (518,)}``."""
    keys = list(rows)
    data = np.stack([rows[k] for k in keys]) if keys else np.zeros((0, len(FEATURE_COLUMNS)), np.float32)
    return pd.DataFrame(data, index=pd.Index(keys, name=index_name), columns=FEATURE_COLUMNS)
