"""Log-mel spectrograms for the CNN: compute, slice into clips, cache one array per track.

A track's full-length log-mel is cached once per set of parameters (``MelCache``); clips of any
length are cut from it at load time (``slice_clips``), so 30 s, 10 s and 3 s clips share one cache
and slicing costs nothing but an index.

Clip rule (``slice_clips``): a clip is ``frames_per_clip`` consecutive frames; clips start at frame
0 and do not overlap. With ``short="pad"`` (default) the leftover frames after the last full clip
become one more clip, padded with the spectrogram's floor (its minimum, i.e. silence), when they
cover at least half a clip, and a track shorter than one clip always gives one padded clip. With
``short="drop"`` only full clips are kept, so a track shorter than one clip gives none.

``fill_mels`` fills a dataset root's cache through the batch runner (``core.features.batch``).
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache, partial
from pathlib import Path

import librosa
import numpy as np

from core.audio import load_audio  # also locks numba's cache before librosa runs
from core.data import fma
from core.features.batch import ArrayStore, BatchReport, TrackFile, fill_store
from core.files import write_atomic

#: Bump when the computation changes (it is part of the cache key).
MELS_VERSION = 1
DEFAULT_SR = 22050
DEFAULT_N_FFT = 2048
DEFAULT_HOP_LENGTH = 512
DEFAULT_N_MELS = 128
#: dB scale: 10 log10(power / REF_POWER), floored TOP_DB below the track's maximum.
REF_POWER = 1.0
TOP_DB = 80.0
SHORT_RULES = ("pad", "drop")


@lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).astype(np.float32)


def log_mel(
    y: np.ndarray,
    sr: int = DEFAULT_SR,
    n_fft: int = DEFAULT_N_FFT,
    hop_length: int = DEFAULT_HOP_LENGTH,
    n_mels: int = DEFAULT_N_MELS,
) -> np.ndarray:
    """Log-mel power spectrogram of a mono waveform ``y`` (shape (n,)) sampled at ``sr`` Hz.

    Centred Hann STFT (zero padded), power, ``n_mels`` Slaney mel bands from 0 Hz to sr/2, then dB
    (``librosa.power_to_db`` with ref 1.0 and top_db 80). Returns float32 (n_mels, 1 + n // hop_length):
    the same values as ``librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, ...))``.
    """

    spectrum = librosa.stft(np.asarray(y, dtype=np.float32), n_fft=n_fft, hop_length=hop_length)
    power = spectrum.real**2 + spectrum.imag**2
    mel = _mel_basis(sr, n_fft, n_mels) @ power
    return librosa.power_to_db(mel, ref=REF_POWER, top_db=TOP_DB).astype(np.float32, copy=False)


def frames_per_clip(clip_seconds: float, sr: int = DEFAULT_SR, hop_length: int = DEFAULT_HOP_LENGTH) -> int:
    """Frames in one clip of ``clip_seconds``: round(clip_seconds * sr / hop_length), e.g. 3 s -> 129 at 22050/512."""
    if clip_seconds <= 0:
        raise ValueError(f"clip_seconds must be > 0, got {clip_seconds}")
    return max(1, int(round(clip_seconds * sr / hop_length)))


def clip_count(n_frames: int, frames: int, short: str = "pad") -> int:
    """How many clips of ``frames`` frames ``slice_clips`` cuts from ``n_frames`` frames (module rule)."""
    if short not in SHORT_RULES:
        raise ValueError(f"short must be one of {SHORT_RULES}, got {short!r}")
    full, leftover = divmod(n_frames, frames)
    if short == "drop":
        return full
    if full == 0:
        return 1 if n_frames > 0 else 0
    return full + (1 if 2 * leftover >= frames else 0)


def slice_clips(
    mel: np.ndarray,
    clip_seconds: float,
    sr: int = DEFAULT_SR,
    hop_length: int = DEFAULT_HOP_LENGTH,
    short: str = "pad",
) -> np.ndarray:
    """Cut a (n_mels, n_frames) spectrogram into clips: (n_clips, n_mels, frames_per_clip), same dtype.

    Leftovers and tracks shorter than one clip follow the module's rule (``short`` = "pad" or "drop").
    Full clips are views when ``mel`` is contiguous; padded clips are filled with ``mel.min()``.
    """
    frames = frames_per_clip(clip_seconds, sr, hop_length)
    n_mels, n_frames = mel.shape
    count = clip_count(n_frames, frames, short)
    full = min(count, n_frames // frames)
    if full:
        windows = np.lib.stride_tricks.sliding_window_view(mel[:, : full * frames], frames, axis=1)
        clips = windows[:, ::frames].transpose(1, 0, 2)
    else:
        clips = np.empty((0, n_mels, frames), dtype=mel.dtype)
    if count == full:
        return clips
    tail = np.full((1, n_mels, frames), mel.min(), dtype=mel.dtype)
    tail[0, :, : n_frames - full * frames] = mel[:, full * frames :]
    return np.concatenate([clips, tail])


class MelCache(ArrayStore):
    """Full-length log-mels, one ``.npy`` per track, under ``root_cache_dir/<key>/``.

    ``key`` is a hash of every parameter that changes the arrays (rate, FFT, hop, mel bands, dB
    scale, version); the parameters are saved next to the arrays in ``params.json``. Integer track
    ids are stored as ``NNN/NNNNNN.npy`` (FMA's layout), other keys (file stems) as ``<key>.npy``.
    Arrays are written atomically, so an interrupted fill leaves only whole files.
    """

    def __init__(
        self,
        root_cache_dir: str | os.PathLike,
        sr: int = DEFAULT_SR,
        n_fft: int = DEFAULT_N_FFT,
        hop_length: int = DEFAULT_HOP_LENGTH,
        n_mels: int = DEFAULT_N_MELS,
    ):
        self.sr, self.n_fft, self.hop_length, self.n_mels = int(sr), int(n_fft), int(hop_length), int(n_mels)
        self.params = {
            "sr": self.sr,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "n_mels": self.n_mels,
            "window": "hann",
            "center": True,
            "pad_mode": "constant",
            "mel": "slaney, 0 Hz to sr/2",
            "ref_power": REF_POWER,
            "top_db": TOP_DB,
            "dtype": "float32",
            "version": MELS_VERSION,
        }
        self.key = hashlib.sha1(json.dumps(self.params, sort_keys=True).encode()).hexdigest()[:12]
        super().__init__(Path(root_cache_dir) / self.key)

    @classmethod
    def for_root(cls, root: str | os.PathLike, **params) -> "MelCache":
        """The cache of a dataset root: ``ROOT/cache/mels/<key>/``."""
        return cls(Path(root) / fma.CACHE_DIR / "mels", **params)

    def save(self, track_id, mel: np.ndarray) -> Path:
        """Store one track's (n_mels, n_frames) log-mel atomically; writes params.json on first use."""
        if mel.ndim != 2 or mel.shape[0] != self.n_mels:
            raise ValueError(f"expected ({self.n_mels}, n_frames), got {mel.shape}")
        params_file = self.dir / "params.json"
        if not params_file.is_file():
            write_atomic(params_file, json.dumps(self.params, indent=2, sort_keys=True))
        return super().save(track_id, np.asarray(mel, dtype=np.float32))

    def compute(self, track_id, audio_path: str | os.PathLike) -> Path:
        """Decode ``audio_path`` at the cache's rate, compute its log-mel and store it (raises AudioError)."""
        y, _ = load_audio(audio_path, sr=self.sr)
        return self.save(track_id, log_mel(y, self.sr, self.n_fft, self.hop_length, self.n_mels))

    def load(self, track_id, mmap: bool = True) -> np.ndarray:
        """The track's (n_mels, n_frames) float32 log-mel; memory-mapped read-only by default."""
        return super().load(track_id, mmap=mmap)

    def n_frames(self, track_id) -> int:
        return int(self.load(track_id, mmap=True).shape[1])

    def clips(self, track_id, clip_seconds: float, short: str = "pad") -> np.ndarray:
        """(n_clips, n_mels, frames_per_clip) clips of the cached track (views into the memory map when full)."""
        return slice_clips(self.load(track_id), clip_seconds, self.sr, self.hop_length, short)

    def frames_per_clip(self, clip_seconds: float) -> int:
        return frames_per_clip(clip_seconds, self.sr, self.hop_length)


def list_caches(root: str | os.PathLike) -> list[dict]:
    """The log-mel caches of a dataset root (``ROOT/cache/mels/<key>/``): key, arrays stored, parameters."""
    found = []
    for params_file in sorted((Path(root) / fma.CACHE_DIR / "mels").glob("*/params.json")):
        try:
            params = json.loads(params_file.read_text())
        except (OSError, ValueError):
            params = {}
        arrays = sum(1 for _ in params_file.parent.rglob("*.npy"))
        found.append({"key": params_file.parent.name, "arrays": arrays, "params": params})
    return found


def fill_mels(
    root: str | os.PathLike, workers: int | None = None, scheduler: str | None = None, **params
) -> tuple[BatchReport, MelCache]:
    """Fill ``ROOT/cache/mels/<key>/`` with the log-mel of every track whose audio exists.

    ``params`` are MelCache's (sr, n_fft, hop_length, n_mels); ``workers`` and ``scheduler`` are
    ``run_batch``'. Tracks already cached are skipped. Failures go to ``<cache dir>/failures.csv``.
    Returns the report and the cache.
    """
    cache = MelCache.for_root(root, **params)
    report = fill_store(cache, fma.tracks_audio(root), partial(_compute, cache_dir=str(cache.dir.parent), params=params),
                        workers=workers, scheduler=scheduler, desc="log-mels")
    return report, cache


def _compute(job: TrackFile, cache_dir: str, params: dict) -> None:
    """One track of ``fill_mels`` (module level, so worker processes can unpickle it)."""
    MelCache(cache_dir, **params).compute(job.key, job.path)
