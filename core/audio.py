"""Decode any audio file to a mono float32 waveform, and judge whether it is usable.

Decoding goes through soundfile (libsndfile: MP3, WAV, FLAC, OGG/Vorbis, Opus, AIFF; no ffmpeg).
A file is judged by what actually decodes: a header that promises more audio than the file holds
(a truncated download) yields the samples read before the decoder gave up. Resampling, when a rate
is asked for, uses soxr's high quality mode, the same as ``librosa.load``'s default.

Long inputs can be read in bounded memory with :func:`iter_windows`.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from core import numba_cache
from core.errors import GenreLabError

# librosa's kernels are cached by numba on disk; reaching librosa goes through this module, so the
# cache is locked here before any of them can compile (core.numba_cache says why).
numba_cache.install()

#: Shortest usable input, in seconds (the predictor's and the feature extractor's default).
MIN_SECONDS = 1.0
#: A waveform whose peak stays below this amplitude (-80 dBFS) is considered silent.
SILENCE_PEAK = 1e-4
#: Frames decoded per read: large enough to amortise calls and to read a 30 s clip in one call
#: (libmpg123 prints spurious "part2_3_length" errors on partial reads of 22.05 kHz MP3s), small
#: enough to bound memory (4 MiB of float32 per channel).
_BLOCK_FRAMES = 1 << 20
#: Frames per read when salvaging the audio before a decode error.
_SALVAGE_FRAMES = 4096


class AudioError(GenreLabError):
    """An audio file that cannot be used: unreadable, corrupt, empty, silent or too short."""


def _open(path: str | os.PathLike) -> sf.SoundFile:
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        return sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        # libsndfile's own wording is often misleading here ("file does not exist" for junk bytes).
        raise AudioError(f"{path}: not a readable audio file (unrecognised format or corrupt data)") from None


def _read_blocks(f: sf.SoundFile, max_frames: int | None) -> Iterator[np.ndarray]:
    """Yield decoded (frames, channels) float32 blocks until EOF, ``max_frames`` or a decode error.

    A decode error ends the stream instead of failing: the failed block is re-read in small steps
    from where it started, so what decoded before the damage is kept (a truncated file is judged
    by what it holds).
    """
    remaining = max_frames
    block_frames = _BLOCK_FRAMES
    while remaining is None or remaining > 0:
        want = block_frames if remaining is None else min(block_frames, remaining)
        position = f.tell() if f.seekable() else None
        try:
            block = f.read(want, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError):
            if block_frames == _SALVAGE_FRAMES or position is None:
                return
            try:
                f.seek(position)
            except (sf.LibsndfileError, RuntimeError):
                return
            block_frames = _SALVAGE_FRAMES
            continue
        if len(block) == 0:
            return
        yield block
        if remaining is not None:
            remaining -= len(block)
        if len(block) < want:
            return


def _to_mono(block: np.ndarray) -> np.ndarray:
    """(frames, channels) -> (frames,): the channel mean, as ``librosa.to_mono`` computes it.

    Summed column by column: numpy's mean over a short inner axis is ~20x slower than the decoding.
    """
    mono = block[:, 0].copy()
    if block.shape[1] > 1:
        for channel in range(1, block.shape[1]):
            mono += block[:, channel]
        mono /= np.float32(block.shape[1])
    return mono


def _seek_and_limit(f: sf.SoundFile, path, offset: float, duration: float | None) -> int | None:
    if offset < 0 or (duration is not None and duration <= 0):
        raise ValueError("offset must be >= 0 and duration > 0")
    if offset > 0:
        try:
            f.seek(int(round(offset * f.samplerate)))
        except (sf.LibsndfileError, RuntimeError):
            raise AudioError(f"{path}: cannot seek to {offset:g} s (file holds less audio)") from None
    return None if duration is None else int(round(duration * f.samplerate))


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a mono float32 waveform (soxr high quality, as ``librosa.load``); shape (n,) -> (m,)."""
    if orig_sr == target_sr:
        return y

    return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def check_waveform(y: np.ndarray, sr: int, source: str | os.PathLike, min_seconds: float = MIN_SECONDS) -> None:
    """Raise :class:`AudioError` naming ``source`` if ``y`` is empty, shorter than ``min_seconds`` or silent."""
    if y.size == 0:
        raise AudioError(f"{source}: no audio decoded (empty or corrupt)")
    seconds = y.shape[-1] / sr
    if seconds < min_seconds:
        raise AudioError(f"{source}: too short ({seconds:.2f} s of audio, at least {min_seconds:g} s needed)")
    if not np.isfinite(y).all():
        raise AudioError(f"{source}: corrupt audio (non-finite samples)")
    if float(np.max(np.abs(y))) < SILENCE_PEAK:
        raise AudioError(f"{source}: silent (peak below -80 dBFS)")


def load_audio(
    path: str | os.PathLike,
    sr: int | None = None,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    min_seconds: float = MIN_SECONDS,
) -> tuple[np.ndarray, int]:
    """Decode an audio file and check it is usable.

    Parameters: ``sr`` target rate in Hz (None keeps the file's native rate); ``offset`` and
    ``duration`` in seconds; ``min_seconds`` the shortest acceptable audio.
    Returns ``(y, sr)``: float32 in [-1, 1], shape (n,) when ``mono`` else (channels, n), and its rate.
    Raises :class:`AudioError` (one line naming the file) for a missing, unreadable, corrupt, empty,
    silent or too short file.
    """
    with _open(path) as f:
        native_sr = f.samplerate
        max_frames = _seek_and_limit(f, path, offset, duration)
        channels = f.channels
        # Mixed to mono block by block: the full multichannel array is never held.
        blocks = [_to_mono(b) if mono else b for b in _read_blocks(f, max_frames)]
    if mono:
        y = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
        if sr is not None:
            y = resample(y, native_sr, sr)
    else:
        audio = np.concatenate(blocks) if blocks else np.zeros((0, channels), dtype=np.float32)
        y = np.ascontiguousarray(audio.T)
        if sr is not None and sr != native_sr:
            y = np.stack([resample(np.ascontiguousarray(ch), native_sr, sr) for ch in y])
    out_sr = native_sr if sr is None else sr
    check_waveform(y, out_sr, path, min_seconds)
    return y, out_sr


def iter_windows(
    path: str | os.PathLike,
    window_seconds: float,
    hop_seconds: float | None = None,
    sr: int | None = None,
    min_seconds: float = MIN_SECONDS,
) -> Iterator[tuple[float, np.ndarray]]:
    """Stream a file of any length as mono windows, holding only about one window in memory.

    Yields ``(start_seconds, y)`` with ``y`` float32 of shape (round(window_seconds * sr),); windows
    start every ``hop_seconds`` (default: ``window_seconds``, no overlap). The last window is the
    leftover tail, shorter than a full window when the audio does not divide evenly (the caller pads
    or drops it). Resampling is continuous across windows (a streaming soxr resampler), so the
    samples equal those of :func:`load_audio` with the same ``sr``.
    Raises :class:`AudioError` before the first window if the file is unreadable or holds less than
    ``min_seconds`` of audio, and after the last one if every window was silent.
    """
    hop_seconds = window_seconds if hop_seconds is None else hop_seconds
    if not 0 < hop_seconds <= window_seconds:
        raise ValueError("need 0 < hop_seconds <= window_seconds")
    with _open(path) as f:
        native_sr = f.samplerate
        out_sr = native_sr if sr is None else sr
        window, hop = int(round(window_seconds * out_sr)), int(round(hop_seconds * out_sr))
        stream = None
        if out_sr != native_sr:

            stream = soxr.ResampleStream(native_sr, out_sr, 1, dtype="float32", quality="HQ")
        buffer = np.zeros(0, dtype=np.float32)
        start = 0  # sample index (at out_sr) of buffer[0]
        yielded = checked = False
        peak = 0.0
        blocks = _read_blocks(f, None)
        while True:
            block = next(blocks, None)
            last = block is None
            mono = np.zeros(0, dtype=np.float32) if last else _to_mono(block)
            if stream is not None:
                mono = stream.resample_chunk(mono, last=last)
            buffer = np.concatenate([buffer, mono])
            if not checked and (last or len(buffer) >= min_seconds * out_sr):
                if len(buffer) < min_seconds * out_sr:
                    check_waveform(buffer, out_sr, path, min_seconds)
                checked = True
            while len(buffer) >= window:
                peak = max(peak, float(np.max(np.abs(buffer[:window]))))
                yield start / out_sr, buffer[:window].copy()
                yielded = True
                buffer, start = buffer[hop:], start + hop
            if last:
                break
    # The tail: audio shorter than one window, or samples after the last full window.
    if len(buffer) > 0 and (not yielded or len(buffer) > window - hop):
        peak = max(peak, float(np.max(np.abs(buffer))))
        yield start / out_sr, buffer
    if peak < SILENCE_PEAK:
        raise AudioError(f"{path}: silent (peak below -80 dBFS)")
