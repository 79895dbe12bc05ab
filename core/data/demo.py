"""The demo dataset: a synthetic music collection in FMA's exact layout, built in under 2 minutes on 2 cores.

``build_demo(dest)`` writes ``fma_metadata/{tracks,genres}.csv`` (all 52 tracks.csv columns, genre rows
from the real FMA genre table), 30-second MP3 clips under ``fma_small|fma_medium|fma_large/NNN/NNNNNN.mp3``
and ``dataset.json`` marking the root synthetic. ``features.csv`` is not written here: it is computed
from the audio by ``python -m core features``; ``echonest.csv`` is omitted (FMA has it for a minority of
tracks only, and no study here uses it).

How the music is made. Each genre is a ``Style``: the centre of the parameters that describe a track
(tempo, swing, drum pattern probabilities per 16th step, levels of drums/bass/chords/lead/voice/rap,
instrument timbres, scales and chord progressions, distortion, noise, brightness, randomness).
Each artist leans towards its genre but borrows a random share of another genre's style, and each
track varies around its artist, so genres overlap the way real ones do (a folk artist with drum
machines, a rock band with a rapper) and same-artist tracks sound alike, which is why the split keeps
every artist in one split. Tracks are then rendered by additive synthesis, mixed, distorted,
filtered and noised.

Tiers follow FMA: ``small`` (40 % of each genre) is inside ``medium`` (70 %) inside ``large`` (all),
each tier with the same 80/10/10 split proportions. A clip is written once, in the smallest tier
folder holding it, and hard-linked (copied where links fail) into the larger tier folders, so every
folder holds its whole tier as in FMA at the disk cost of one copy.

Clips are mono 22,050 Hz (librosa's default rate: features need no resampling, and encoding costs
half of 44.1 kHz), i.e. MPEG-2 Layer III. libmpg123 prints a harmless "part2_3_length ... too large"
line for each partial read of such a file (the decoded samples are exact); reading a clip in one
call prints none.
"""
from __future__ import annotations

import filecmp
import json
import multiprocessing
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import signal

from core.data import fma
from core.errors import GenreLabError

SAMPLE_RATE = 22050  # Hz; librosa's default rate, so feature extraction decodes without resampling
CLIP_SECONDS = 30.0


def _pattern(text: str) -> tuple[float, ...]:
    """A 16-step drum pattern written as digits: the probability, in tenths, of a hit on each step."""
    assert len(text) == 16, text
    return tuple(int(c) / 10 for c in text)


@dataclass(frozen=True)
class Style:
    """The centre of one genre's sound; tracks are drawn around a blend of these values."""

    genre_id: int  # FMA top-level genre id
    subgenres: tuple[int, ...]  # real FMA sub-genre ids a track of this genre may carry
    bpm: float  # tempo, beats per minute
    swing: float  # delay of every second 16th, as a fraction of a 16th
    kick: tuple[float, ...]  # hit probability per 16th step of a bar
    snare: tuple[float, ...]
    hat: tuple[float, ...]
    bass_steps: tuple[float, ...]
    drums: float  # bus levels, 0..1
    bass: float
    chords: float
    lead: float
    voice: float  # sung melody
    rap: float  # rhythmic spoken syllables
    tabla: float  # 0 = noisy snare, 1 = tuned hand drum
    chord_tilt: float  # harmonic roll-off exponent: amplitude of harmonic k is k**-tilt
    chord_decay: float  # 1/s; high = plucked, low = sustained pad
    lead_tilt: float
    lead_decay: float
    odd: float  # 0..1, how much even harmonics are removed (hollow, square-like)
    vibrato: float  # relative pitch depth
    detune: float  # chorus detune in cents
    bass_decay: float
    chord_drive: float  # distortion gain on the chord bus (>1 distorts)
    drive: float  # distortion gain on the whole mix
    noise: float  # background noise level relative to the mix RMS
    crackle: float  # vinyl-like clicks per second
    cutoff: float  # low-pass cutoff, Hz
    reverb: float  # wet level 0..1
    chaos: float  # 0..1: random onsets, random pitches, clusters
    sevenths: float  # probability that a chord gets its seventh
    scales: tuple[str, ...]
    progressions: tuple[tuple[int, ...], ...]  # chord roots as scale degrees, one per bar
    chord_styles: tuple[str, ...]


SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "double_harmonic": (0, 1, 4, 5, 7, 8, 11),
    "pentatonic": (0, 2, 4, 7, 9, 12, 14),
    "minor_pentatonic": (0, 3, 5, 7, 10, 12, 15),
    "whole_tone": (0, 2, 4, 6, 8, 10, 12),
    "chromatic": (0, 1, 2, 3, 4, 5, 6),
}

# Genre names as in FMA's genre table (core/data/fma_genres.csv); values are judgement, not measurement.
STYLES: dict[str, Style] = {
    "Electronic": Style(
        15, (42, 236, 183, 297, 181, 495, 286, 182, 296, 468), bpm=126, swing=0.0,
        kick=_pattern("9000900090009000"), snare=_pattern("0000700000007000"),
        hat=_pattern("0090009000900090"), bass_steps=_pattern("0090009000900090"),
        drums=0.9, bass=0.8, chords=0.5, lead=0.5, voice=0.1, rap=0.0, tabla=0.0,
        chord_tilt=0.9, chord_decay=1.5, lead_tilt=0.8, lead_decay=3.0, odd=0.6, vibrato=0.0,
        detune=14, bass_decay=4.0, chord_drive=1.0, drive=1.3, noise=0.005, crackle=0,
        cutoff=7500, reverb=0.3, chaos=0.05, sevenths=0.2, scales=("minor", "dorian", "phrygian"),
        progressions=((0, 5, 2, 6), (0, 3), (0, 0, 5, 6)), chord_styles=("pad", "arp", "stab"),
    ),
    "Experimental": Style(
        38, (1, 32, 41, 250, 30, 247, 47, 224, 125, 514, 456), bpm=92, swing=0.1,
        kick=_pattern("3002003000200100"), snare=_pattern("1010201010102010"),
        hat=_pattern("2222222222222222"), bass_steps=_pattern("3000100030001000"),
        drums=0.3, bass=0.3, chords=0.5, lead=0.4, voice=0.05, rap=0.0, tabla=0.3,
        chord_tilt=1.0, chord_decay=0.3, lead_tilt=0.7, lead_decay=1.0, odd=0.5, vibrato=0.02,
        detune=40, bass_decay=1.0, chord_drive=2.0, drive=2.5, noise=0.08, crackle=3,
        cutoff=9000, reverb=0.6, chaos=0.8, sevenths=0.5, scales=("chromatic", "whole_tone", "phrygian"),
        progressions=((0,), (0, 1), (0, 6, 3, 1)), chord_styles=("drone", "cluster"),
    ),
    "Folk": Style(
        17, (103, 33, 94, 49, 180), bpm=100, swing=0.1,
        kick=_pattern("5000000050000000"), snare=_pattern("0000300000003000"),
        hat=_pattern("0000000000000000"), bass_steps=_pattern("8000000080000000"),
        drums=0.25, bass=0.4, chords=0.8, lead=0.3, voice=0.6, rap=0.0, tabla=0.2,
        chord_tilt=1.4, chord_decay=3.0, lead_tilt=2.0, lead_decay=0.8, odd=0.2, vibrato=0.01,
        detune=3, bass_decay=3.0, chord_drive=1.0, drive=1.0, noise=0.01, crackle=0,
        cutoff=6000, reverb=0.3, chaos=0.1, sevenths=0.05, scales=("major", "mixolydian", "major"),
        progressions=((0, 3, 4, 0), (0, 4, 5, 3), (0, 3, 0, 4)), chord_styles=("strum", "arp"),
    ),
    "Hip-Hop": Style(
        21, (811, 100, 542, 539, 580, 83, 693), bpm=90, swing=0.25,
        kick=_pattern("9000000090300000"), snare=_pattern("0000900000009000"),
        hat=_pattern("7070707070707070"), bass_steps=_pattern("9000000090300000"),
        drums=1.0, bass=0.9, chords=0.4, lead=0.2, voice=0.1, rap=0.7, tabla=0.0,
        chord_tilt=2.0, chord_decay=1.5, lead_tilt=1.5, lead_decay=1.5, odd=0.3, vibrato=0.0,
        detune=5, bass_decay=0.8, chord_drive=1.0, drive=1.3, noise=0.02, crackle=8,
        cutoff=4500, reverb=0.15, chaos=0.05, sevenths=0.6, scales=("minor", "dorian"),
        progressions=((0, 3), (1, 4), (0, 5)), chord_styles=("pad", "stab"),
    ),
    "Instrumental": Style(
        1235, (107, 18, 267, 538), bpm=78, swing=0.05,
        kick=_pattern("5000000030000000"), snare=_pattern("0000000020000000"),
        hat=_pattern("2020202020202020"), bass_steps=_pattern("7000000050000000"),
        drums=0.15, bass=0.4, chords=0.8, lead=0.6, voice=0.0, rap=0.0, tabla=0.1,
        chord_tilt=1.8, chord_decay=0.5, lead_tilt=1.6, lead_decay=0.6, odd=0.3, vibrato=0.015,
        detune=8, bass_decay=1.0, chord_drive=1.0, drive=1.0, noise=0.005, crackle=0,
        cutoff=5500, reverb=0.6, chaos=0.1, sevenths=0.6, scales=("major", "minor", "lydian"),
        progressions=((0, 5, 1, 4), (3, 4, 2, 5), (0, 3, 5, 4)), chord_styles=("pad", "arp"),
    ),
    "International": Style(
        2, (79, 130, 118, 46, 77, 92, 171, 86, 102, 172), bpm=110, swing=0.15,
        kick=_pattern("9002009000200000"), snare=_pattern("0090009000900000"),
        hat=_pattern("5050505050505050"), bass_steps=_pattern("9000009000900000"),
        drums=0.7, bass=0.5, chords=0.3, lead=0.7, voice=0.4, rap=0.0, tabla=0.9,
        chord_tilt=1.2, chord_decay=0.2, lead_tilt=0.9, lead_decay=2.5, odd=0.2, vibrato=0.02,
        detune=6, bass_decay=2.0, chord_drive=1.0, drive=1.1, noise=0.02, crackle=1,
        cutoff=6500, reverb=0.3, chaos=0.2, sevenths=0.0,
        scales=("phrygian", "harmonic_minor", "double_harmonic", "pentatonic"),
        progressions=((0, 1), (0, 6, 5, 4), (0,)), chord_styles=("drone", "strum"),
    ),
    "Pop": Style(
        10, (76, 362), bpm=116, swing=0.0,
        kick=_pattern("9000000090100000"), snare=_pattern("0000900000009000"),
        hat=_pattern("8080808080808080"), bass_steps=_pattern("9000009090000000"),
        drums=0.85, bass=0.7, chords=0.6, lead=0.4, voice=0.8, rap=0.05, tabla=0.0,
        chord_tilt=1.2, chord_decay=1.2, lead_tilt=1.1, lead_decay=1.5, odd=0.4, vibrato=0.012,
        detune=8, bass_decay=2.0, chord_drive=1.0, drive=1.1, noise=0.004, crackle=0,
        cutoff=8000, reverb=0.25, chaos=0.03, sevenths=0.1, scales=("major",),
        progressions=((0, 4, 5, 3), (5, 3, 0, 4), (0, 5, 3, 4)), chord_styles=("strum", "pad", "stab"),
    ),
    "Rock": Style(
        12, (25, 27, 66, 85, 58, 45, 70, 53, 26, 89, 31, 109), bpm=132, swing=0.0,
        kick=_pattern("9000009090000000"), snare=_pattern("0000900000009000"),
        hat=_pattern("8080808080808080"), bass_steps=_pattern("9090909090909090"),
        drums=0.95, bass=0.8, chords=0.9, lead=0.3, voice=0.5, rap=0.0, tabla=0.0,
        chord_tilt=0.8, chord_decay=0.8, lead_tilt=0.8, lead_decay=1.0, odd=0.5, vibrato=0.01,
        detune=10, bass_decay=2.0, chord_drive=6.0, drive=1.5, noise=0.02, crackle=0,
        cutoff=7500, reverb=0.2, chaos=0.05, sevenths=0.0,
        scales=("minor_pentatonic", "mixolydian", "major", "minor"),
        progressions=((0, 6, 3), (0, 5, 6), (0, 3, 4)), chord_styles=("power", "strum"),
    ),
}

# Spread of each continuous parameter around its centre: (artist sd, track sd), in the parameter's units.
# Tuned with bench/bench_demo.py together with draw_artist_style's blend: a wider spread makes more
# training data help more; more blending lowers the accuracy any amount of data can reach.
_SPREAD = {
    "bpm": (15.6, 5.2), "swing": (0.078, 0.039), "drums": (0.26, 0.13), "bass": (0.26, 0.13),
    "chords": (0.26, 0.13), "lead": (0.26, 0.13), "voice": (0.26, 0.13), "rap": (0.195, 0.065),
    "tabla": (0.195, 0.065), "chord_tilt": (0.455, 0.195), "chord_decay": (0.78, 0.39),
    "lead_tilt": (0.455, 0.195), "lead_decay": (0.78, 0.39), "odd": (0.26, 0.13), "vibrato": (0.0104, 0.0052),
    "detune": (6.5, 2.6), "bass_decay": (0.78, 0.39), "chord_drive": (1.3, 0.65), "drive": (0.52, 0.26),
    "noise": (0.013, 0.0065), "crackle": (2.6, 1.3), "cutoff": (1950.0, 780.0), "reverb": (0.195, 0.065),
    "chaos": (0.13, 0.065), "sevenths": (0.26, 0.13),
}
_STEPS = ("kick", "snare", "hat", "bass_steps")
_CHOICES = ("scales", "progressions", "chord_styles")
# Lower bounds that keep drawn values meaningful (levels and rates cannot go negative).
_FLOOR = {"bpm": 55.0, "chord_tilt": 0.4, "lead_tilt": 0.4, "chord_decay": 0.05, "lead_decay": 0.05,
          "bass_decay": 0.2, "chord_drive": 1.0, "drive": 1.0, "cutoff": 2000.0}


def draw_artist_style(genre: str, rng: np.random.Generator, blend: tuple[float, float] = (0.65, 1.0)) -> dict:
    """An artist's parameters: ``genre``'s style blended with a random other genre, plus artist spread.

    ``blend`` bounds the weight of the artist's own genre; the rest comes from the other genre, so a
    lower bound makes genres overlap more. Returns a dict with the ``Style`` field names (continuous
    values as floats, step patterns as arrays, choices as the chosen item).
    """
    own = STYLES[genre]
    other = STYLES[rng.choice([g for g in STYLES if g != genre])]
    weight = rng.uniform(*blend)
    params: dict = {}
    for name, (artist_sd, _) in _SPREAD.items():
        centre = weight * getattr(own, name) + (1 - weight) * getattr(other, name)
        params[name] = centre + artist_sd * rng.standard_normal()
    for name in _STEPS:
        params[name] = weight * np.asarray(getattr(own, name)) + (1 - weight) * np.asarray(getattr(other, name))
    for name in _CHOICES:
        options = getattr(own if rng.random() < weight else other, name)
        params[name] = options[rng.integers(len(options))]
    return params


def draw_track_params(artist: dict, rng: np.random.Generator) -> dict:
    """A track's parameters: the artist's, varied per track, clipped to meaningful ranges."""
    params = dict(artist)
    for name, (_, track_sd) in _SPREAD.items():
        params[name] = max(artist[name] + track_sd * rng.standard_normal(), _FLOOR.get(name, 0.0))
    for name in _STEPS:  # each track realises its own pattern from the artist's probabilities
        params[name] = np.clip(artist[name] + 0.1 * rng.standard_normal(16), 0, 1)
    if rng.random() < 0.3:  # some tracks take another of the artist's options (a different song)
        params["progressions"] = artist["progressions"][::-1]
    return params


# ---------------------------------------------------------------------------------------------------
# Rendering: additive synthesis on numpy arrays (float32, mono, SAMPLE_RATE).


def _midi_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _envelope(n: int, sr: int, attack: float, decay: float) -> np.ndarray:
    """Linear attack (s), exponential decay (1/s) and a 5 ms release so notes end without clicks."""
    t = np.arange(n, dtype=np.float32) / sr
    env = np.exp(-decay * t) * np.minimum(1.0, t / max(attack, 1e-3))
    release = min(n, int(0.005 * sr))
    env[n - release:] *= np.linspace(1, 0, release, dtype=np.float32)
    return env.astype(np.float32)


def tone(f0: float, n: int, sr: int, amps: np.ndarray, attack: float, decay: float,
         damping: float = 0.0, vibrato: float = 0.0, glide: float = 0.0) -> np.ndarray:
    """A harmonic note: ``n`` samples, fundamental ``f0`` Hz, harmonic amplitudes ``amps`` (k = 1..).

    ``damping`` makes harmonic k decay ``1 + damping*k`` times faster (a plucked string), ``vibrato``
    is relative pitch depth at 5.5 Hz, ``glide`` a relative pitch fall over the note (808 bass, speech).
    Harmonics above Nyquist are dropped. Returns float32 of shape (n,).
    """
    t = np.arange(n, dtype=np.float32) / sr
    freq = f0 * (1 + vibrato * np.sin(2 * np.pi * 5.5 * t) + glide * np.exp(-8 * t))
    phase = 2 * np.pi * np.cumsum(freq, dtype=np.float64).astype(np.float32) / sr
    k = np.arange(1, len(amps) + 1, dtype=np.float32)
    # Harmonics above Nyquist would alias; those 46 dB below the strongest are inaudible in the mix.
    keep = (k * f0 * (1 + abs(glide)) < sr / 2 * 0.9) & (amps > 0.005 * amps.max())
    k, amps = k[keep], amps[keep]
    if not len(k):
        return np.zeros(n, np.float32)
    partials = np.sin(k[:, None] * phase[None, :])
    if damping:
        partials *= np.exp(-damping * k[:, None] * t[None, :])
    return (amps.astype(np.float32) @ partials) * _envelope(n, sr, attack, decay)


def harmonic_amps(tilt: float, odd: float, count: int = 16) -> np.ndarray:
    """Amplitudes k**-tilt with even harmonics scaled by (1 - odd): 0 = saw-like, 1 = square-like."""
    k = np.arange(1, count + 1)
    return k ** -tilt * np.where(k % 2 == 0, 1 - odd, 1.0)


# Formant centres (Hz) and bandwidths of sung vowels a, e, i, o, u (a male-ish voice).
_VOWELS = ((730, 1090, 2440), (530, 1840, 2480), (270, 2290, 3010), (570, 840, 2410), (300, 870, 2240))


def vowel_amps(f0: float, vowel: int, count: int = 30) -> np.ndarray:
    """Harmonic amplitudes of a voice at ``f0`` Hz shaped by the formants of vowel index 0..4."""
    freqs = f0 * np.arange(1, count + 1)
    gain = sum(np.exp(-0.5 * ((freqs - centre) / (60 + 0.08 * centre)) ** 2) / (i + 1)
               for i, centre in enumerate(_VOWELS[vowel]))
    return (gain + 0.02) * np.arange(1, count + 1) ** -0.7


def drum_kit(rng: np.random.Generator, sr: int, tabla: float) -> dict[str, np.ndarray]:
    """One-shot kick, snare (noisy, or tuned hand drum as ``tabla`` → 1) and hi-hat samples, per track."""
    t = np.arange(int(0.45 * sr), dtype=np.float32) / sr
    low = rng.uniform(42, 60)
    kick_phase = 2 * np.pi * np.cumsum(low + rng.uniform(60, 140) * np.exp(-t * rng.uniform(20, 40))) / sr
    kick = np.sin(kick_phase) * np.exp(-t * rng.uniform(6, 12))
    ts = t[: int(0.3 * sr)]
    noise = rng.standard_normal(ts.size).astype(np.float32)
    noisy = (np.diff(noise, prepend=0) * 0.6 + np.sin(2 * np.pi * rng.uniform(160, 240) * ts)) * np.exp(-ts * rng.uniform(14, 25))
    pitch = rng.uniform(250, 500)
    tuned = (np.sin(2 * np.pi * pitch * ts * (1 + 0.2 * np.exp(-ts * 30))) + 0.4 * np.sin(2 * np.pi * 2.7 * pitch * ts)) * np.exp(-ts * rng.uniform(8, 16))
    th = t[: int(0.12 * sr)]
    hiss = np.diff(np.diff(rng.standard_normal(th.size + 2).astype(np.float32)))
    hat = hiss * np.exp(-th * rng.uniform(25, 70)) * 0.5
    return {"kick": kick.astype(np.float32), "snare": ((1 - tabla) * noisy + tabla * tuned).astype(np.float32),
            "hat": hat.astype(np.float32)}


def _add(bus: np.ndarray, start: int, sound: np.ndarray, gain: float = 1.0) -> None:
    """Mix ``sound`` into ``bus`` at sample ``start``, cut at the bus end."""
    if start >= bus.size:
        return
    start = max(start, 0)
    end = min(bus.size, start + sound.size)
    bus[start:end] += gain * sound[: end - start]


def _normalise(bus: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(bus**2)))
    return bus / rms if rms > 1e-8 else bus


def render_track(params: dict, rng: np.random.Generator, seconds: float = CLIP_SECONDS,
                 sr: int = SAMPLE_RATE) -> np.ndarray:
    """Render one clip from track parameters (see ``draw_track_params``). Returns float32 (seconds*sr,)."""
    n = int(round(seconds * sr))
    chaos = float(np.clip(params["chaos"], 0, 1))
    step = 60.0 / params["bpm"] / 4  # seconds per 16th
    n_steps = int(seconds / step) + 2
    offset = int(rng.integers(16))  # the clip starts anywhere in a bar
    steps = np.arange(n_steps) + offset
    times = (steps - offset) * step + (steps % 2) * params["swing"] * step
    times = times + chaos * step * 0.5 * rng.standard_normal(n_steps)
    starts = (times * sr).astype(int)
    bar_of = steps // 16

    # Arrangement: 8-bar sections in which each bus may drop out (verse without drums, a break).
    n_sections = int(bar_of[-1] // 8) + 1
    active = {name: rng.random(n_sections) < 0.85 for name in ("drums", "bass", "chords", "lead", "voice")}

    def on(name: str, i: int) -> bool:
        return bool(active[name][bar_of[i] // 8])

    buses = {name: np.zeros(n, np.float32) for name in ("drums", "bass", "chords", "lead", "voice")}

    kit = drum_kit(rng, sr, float(np.clip(params["tabla"], 0, 1)))
    for i in range(n_steps):
        if not on("drums", i):
            continue
        s = steps[i] % 16
        for name, pattern in (("kick", "kick"), ("snare", "snare"), ("hat", "hat")):
            p = params[pattern][s] * (1 - chaos) + chaos * 0.25
            if rng.random() < p:
                _add(buses["drums"], starts[i], kit[name], rng.uniform(0.6, 1.0))

    scale = np.asarray(SCALES[params["scales"]])
    root = int(rng.integers(40, 53))  # key: E2..E3
    progression = params["progressions"]
    bars_per_chord = 2 if rng.random() < 0.4 else 1

    def scale_note(degree: int) -> int:
        octave, index = divmod(degree, len(scale))
        return root + 12 * octave + int(scale[index])

    def chord_at(bar: int) -> list[int]:
        degree = progression[(bar // bars_per_chord) % len(progression)]
        notes = [scale_note(degree + d) for d in (0, 2, 4)]
        if rng.random() < params["sevenths"]:
            notes.append(scale_note(degree + 6))
        return notes

    cache: dict[tuple, np.ndarray] = {}

    def note(kind: str, midi: float, n_samples: int, make) -> np.ndarray:
        key = (kind, round(midi, 2), n_samples)
        if key not in cache:
            cache[key] = make()
        return cache[key]

    # Chords
    chord_amps = harmonic_amps(params["chord_tilt"], params["odd"])
    detune = 2 ** (params["detune"] / 1200)
    style = params["chord_styles"]
    bar_samples = int(16 * step * sr)
    first_bar, last_bar = int(bar_of[0]), int(bar_of[-1])
    for bar in range(first_bar, last_bar + 1):
        start = int(((bar * 16 - offset) * step) * sr)
        notes = chord_at(bar)
        if style == "cluster" or (chaos > 0.5 and rng.random() < chaos):
            notes = list(root + 12 + rng.integers(0, 14, size=4))
        if style in ("pad", "drone", "cluster"):
            if style == "drone":
                notes = [root, root + 7, root + 12]
            for m in notes:
                for d in (1.0, detune):
                    snd = note(f"pad{d}", m, bar_samples, lambda m=m, d=d: tone(
                        _midi_hz(m + 12) * d, bar_samples, sr, chord_amps, 0.3, params["chord_decay"] * 0.5))
                    _add(buses["chords"], start, snd, 0.5)
        else:
            hits = {"strum": range(0, 16, 4), "arp": range(0, 16, 2), "stab": range(2, 16, 4),
                    "power": range(0, 16, 2)}[style]
            if style == "power":
                notes = [notes[0], notes[0] + 7, notes[0] + 12]
            dur = int((16 if style == "strum" else 4) * step * sr)
            for j, h in enumerate(hits):
                chosen = [notes[j % len(notes)]] if style == "arp" else notes
                for v, m in enumerate(chosen):
                    snd = note(style, m, dur, lambda m=m: tone(
                        _midi_hz(m + 12), dur, sr, chord_amps, 0.004, params["chord_decay"], damping=0.05))
                    _add(buses["chords"], start + int(h * step * sr) + v * int(0.012 * sr), snd, 0.6)
    if params["chord_drive"] > 1:
        gain = params["chord_drive"]
        buses["chords"] = np.tanh(gain * _normalise(buses["chords"]) * 0.5) / np.tanh(gain * 0.5)

    # Bass on chord roots
    bass_amps = harmonic_amps(2.5, 0.2, 6)
    for i in range(n_steps):
        if on("bass", i) and rng.random() < params["bass_steps"][steps[i] % 16]:
            m = chord_at(int(bar_of[i]))[0] - 12
            dur = int(4 * step * sr)
            snd = note("bass", m, dur, lambda m=m: tone(
                _midi_hz(m), dur, sr, bass_amps, 0.005, params["bass_decay"], glide=0.3 * (params["bass_decay"] < 1.2)))
            _add(buses["bass"], starts[i], snd)

    # Lead melody and sung voice share one melodic line; rap gets its own rhythm.
    lead_amps = harmonic_amps(params["lead_tilt"], params["odd"])
    degree = int(rng.integers(7, 12))
    melody_density = 0.5 + 0.3 * rng.random()
    for i in range(0, n_steps, 2):
        if rng.random() > melody_density:
            continue
        degree = int(np.clip(degree + rng.integers(-2, 3), 4, 16))
        m = scale_note(degree) + (rng.integers(-3, 4) if rng.random() < chaos else 0)
        dur = int(step * sr * (2 if rng.random() < 0.6 else 4))
        if on("lead", i):
            snd = note("lead", m, dur, lambda m=m: tone(
                _midi_hz(m), dur, sr, lead_amps, 0.01, params["lead_decay"], vibrato=params["vibrato"]))
            _add(buses["lead"], starts[i], snd)
        if on("voice", i) and params["voice"] > 0.05:
            vowel = int(rng.integers(5))
            sung = m - 12 if m > 62 else m
            snd = note(f"voice{vowel}", sung, dur, lambda sung=sung, vowel=vowel: tone(
                _midi_hz(sung), dur, sr, vowel_amps(_midi_hz(sung), vowel), 0.04, 0.5, vibrato=0.012))
            _add(buses["voice"], starts[i], snd, params["voice"])
    if params["rap"] > 0.05:
        speech = 12 * np.log2(rng.uniform(100, 190) / 440) + 69  # the rapper's pitch, as a MIDI number
        dur = int(step * sr * 0.9)
        for i in range(n_steps):
            if on("voice", i) and rng.random() < 0.6:
                vowel, pitch = int(rng.integers(5)), speech + int(rng.integers(-2, 3))
                syllable = note(f"rap{vowel}", pitch, dur, lambda vowel=vowel, pitch=pitch: tone(
                    _midi_hz(pitch), dur, sr, vowel_amps(_midi_hz(pitch), vowel), 0.005, 6.0, glide=-0.15))
                consonant = np.diff(rng.standard_normal(int(0.02 * sr) + 1)).astype(np.float32) * 0.3
                _add(buses["voice"], starts[i], syllable, params["rap"])
                _add(buses["voice"], starts[i], consonant, params["rap"])

    levels = {name: max(params[name], 0.0) for name in ("drums", "bass", "chords", "lead")}
    levels["voice"] = max(params["voice"], params["rap"], 0.0)
    mix = sum(levels[name] * _normalise(bus) for name, bus in buses.items())
    mix = _normalise(mix) * 0.25

    if params["reverb"] > 0.02:
        ir_len = int(sr * (0.3 + 1.2 * min(params["reverb"], 1.0)))
        t = np.arange(ir_len, dtype=np.float32) / sr
        ir = rng.standard_normal(ir_len).astype(np.float32) * np.exp(-t * 6 / (ir_len / sr))
        wet = signal.oaconvolve(mix, ir, mode="full")[:n]
        mix = mix + min(params["reverb"], 1.0) * 0.5 * _normalise(wet) * 0.25
    drive = params["drive"]
    mix = np.tanh(drive * mix * 2) / 2
    sos = signal.butter(2, min(params["cutoff"], sr / 2 * 0.95), btype="low", fs=sr, output="sos")
    mix = signal.sosfilt(sos, mix).astype(np.float32)
    rms = float(np.sqrt(np.mean(mix**2))) or 1.0
    mix += params["noise"] * 4 * rms * rng.standard_normal(n).astype(np.float32)
    clicks = rng.integers(0, n, size=int(params["crackle"] * seconds))
    mix[clicks] += rms * rng.uniform(-3, 3, size=clicks.size).astype(np.float32)
    peak = float(np.max(np.abs(mix))) or 1.0
    # Peaks stay below 0.8: MP3 coding overshoots by up to about 10 %, and decoded clips must not clip.
    return (mix * rng.uniform(0.3, 0.8) / peak).astype(np.float32)


# ---------------------------------------------------------------------------------------------------
# The dataset: who plays what, tiers and splits, FMA's metadata columns, the build.

DEFAULT_TRACKS_PER_GENRE = 50
#: Cumulative share of each genre's tracks in each tier (small ⊂ medium ⊂ large), as FMA's tiers nest.
TIER_SHARES = (("small", 0.4), ("medium", 0.7), ("large", 1.0))
SPLIT_SHARES = (("training", 0.8), ("validation", 0.1), ("test", 0.1))
#: Bump when the generator's output changes: a rebuild then replaces the clips of an older build.
GENERATOR_VERSION = 1
GENRE_TABLE = Path(__file__).with_name("fma_genres.csv")

_WORDS = ("amber", "quiet", "electric", "paper", "velvet", "hollow", "golden", "broken", "northern",
          "silver", "wild", "lonely", "crimson", "distant", "glass", "iron", "little", "midnight",
          "neon", "open", "pale", "rusty", "secret", "slow", "solar", "static", "summer", "tidal")
_NOUNS = ("river", "engine", "garden", "signal", "harbor", "mirror", "forest", "machine", "lantern",
          "canyon", "orchard", "station", "echo", "satellite", "meadow", "tower", "ocean", "letter",
          "circuit", "window", "compass", "ember", "parade", "valley", "thunder", "voyage", "cathedral")
_PLACES = (("Brooklyn, NY", 40.65, -73.95), ("Berlin, Germany", 52.52, 13.40), ("Montreal, Canada", 45.50, -73.57),
           ("Lagos, Nigeria", 6.52, 3.38), ("Lisbon, Portugal", 38.72, -9.14), ("Austin, TX", 30.27, -97.74),
           ("Tokyo, Japan", 35.68, 139.69), ("Sao Paulo, Brazil", -23.55, -46.63), ("Glasgow, Scotland", 55.86, -4.25),
           ("Istanbul, Turkey", 41.01, 28.98), ("Mumbai, India", 19.08, 72.88), ("Portland, OR", 45.52, -122.68))
_LICENSES = ("Attribution-NonCommercial-ShareAlike 3.0 International",
             "Attribution-Noncommercial-No Derivative Works 3.0 United States",
             "Creative Commons Attribution-NonCommercial-NoDerivatives 4.0",
             "Attribution-NonCommercial 3.0 International", "Attribution")
_LANGUAGES = {"International": ("fr", "es", "pt", "tr", "hi", "sw"), "Instrumental": ()}
_ALBUM_TYPES = ("Album", "Album", "Album", "Single Tracks", "Live Performance", "Radio Program")
_FIRST_DATE = np.datetime64("2008-11-25T12:00:00")  # FMA's first uploads
_LAST_DATE = np.datetime64("2017-03-30T12:00:00")  # FMA's dump


def _name(rng: np.random.Generator, words: int) -> str:
    picked = [_WORDS[i] for i in rng.choice(len(_WORDS), words - 1, replace=False)] + [_NOUNS[rng.integers(len(_NOUNS))]]
    return " ".join(picked).title()


def _date(rng: np.random.Generator, low: np.datetime64, high: np.datetime64) -> np.datetime64:
    span = int((high - low) / np.timedelta64(1, "s"))
    return low + np.timedelta64(int(rng.integers(span)), "s")


def _split_artists(sizes: list[int], filled: dict[str, int], rng: np.random.Generator) -> list[str]:
    """A split per artist (``sizes``: its track counts) so that split sizes approach SPLIT_SHARES.

    Largest artists first (ties in random order), each to the split whose share it brings closest
    to its target, so no artist is ever in two splits. ``filled`` (tracks per split so far) carries
    over between calls: genres too small for a test artist of their own still add up to 10 %.
    """
    total = sum(filled.values()) + sum(sizes)
    chosen = [""] * len(sizes)
    for i in sorted(rng.permutation(len(sizes)), key=lambda i: -sizes[i]):
        gain = {name: abs(share * total - filled[name] - sizes[i]) - abs(share * total - filled[name])
                for name, share in SPLIT_SHARES}
        chosen[i] = min(gain, key=gain.get)  # ties go to the first split, training
        filled[chosen[i]] += sizes[i]
    return chosen


def _tiers(count: int, rng: np.random.Generator) -> list[str]:
    """Tier labels for ``count`` tracks in random order: the first TIER_SHARES[0] small, and so on.

    The small tier gets at least one track, so that even a tiny build has every genre in every tier.
    """
    bounds = [max(round(share * count), 1 if count else 0) for _, share in TIER_SHARES]
    labels = np.empty(count, dtype=object)
    order = rng.permutation(count)
    start = 0
    for (tier, _), end in zip(TIER_SHARES, bounds):
        labels[order[start:end]] = tier
        start = end
    return list(labels)



def _ancestors(genre_id: int, parents: dict[int, int]) -> list[int]:
    """``genre_id`` and its parents up to the top level, sorted (FMA's ``genres_all``)."""
    chain = [genre_id]
    while parents[chain[-1]]:
        chain.append(parents[chain[-1]])
    return sorted(chain)


def _draw_artist(genre: str, artist_id: int, rng: np.random.Generator) -> dict:
    style = STYLES[genre]
    place = _PLACES[rng.integers(len(_PLACES))] if rng.random() < 0.6 else (None, np.nan, np.nan)
    name = _name(rng, int(rng.integers(1, 4)))
    begin = int(rng.integers(1985, 2016)) if rng.random() < 0.3 else None
    return {
        "id": artist_id, "name": name, "genre": genre, "style": draw_artist_style(genre, rng),
        "created": _date(rng, _FIRST_DATE, _LAST_DATE - np.timedelta64(400, "D")),
        "location": place[0], "latitude": place[1], "longitude": place[2],
        "begin": np.datetime64(f"{begin}-01-01T00:00:00") if begin else np.datetime64("NaT"),
        "bio": f"<p>{name} makes {genre.lower()} music{' in ' + place[0] if place[0] else ''}.</p>"
        if rng.random() < 0.5 else None,
        "website": f"http://{name.lower().replace(' ', '')}.example.org" if rng.random() < 0.4 else None,
        "favorites": int(rng.geometric(0.3)) - 1, "comments": int(rng.geometric(0.6)) - 1,
        "tags": [name.lower()] if rng.random() < 0.3 else [],
        "subgenres": [style.subgenres[i] for i in rng.choice(len(style.subgenres), 2, replace=False)],
    }


def _draw_album(artist: dict, album_id: int, n_tracks: int, rng: np.random.Generator) -> dict:
    created = _date(rng, artist["created"], _LAST_DATE)
    return {
        "id": album_id, "title": _name(rng, int(rng.integers(1, 4))), "created": created,
        "released": created - np.timedelta64(int(rng.integers(0, 2000)), "D") if rng.random() < 0.7
        else np.datetime64("NaT"),
        "type": _ALBUM_TYPES[rng.integers(len(_ALBUM_TYPES))], "tracks": n_tracks + int(rng.integers(0, 6)),
        "listens": int(rng.lognormal(7, 1.2)), "favorites": int(rng.geometric(0.4)) - 1,
        "comments": int(rng.geometric(0.7)) - 1,
        "information": "<p>Recorded at home.</p>" if rng.random() < 0.3 else None,
    }


def plan_dataset(tracks_per_genre: int, seed: int, genres: tuple[str, ...] = tuple(STYLES),
                 clip_seconds: float = CLIP_SECONDS) -> tuple[pd.DataFrame, dict[int, dict]]:
    """Everything about the demo but its audio: the tracks frame and each track's artist style.

    Returns ``(tracks, styles)``: ``tracks`` indexed by ``track_id`` with FMA's 52 ``TRACKS_COLUMNS``
    (``track.bit_rate`` is 0 until measured on the encoded clip) and ``styles[track_id]``, the artist
    parameters that ``render_clip`` varies per track. Deterministic for ``seed``.
    """
    rng = np.random.default_rng([seed, 1])
    parents = pd.read_csv(GENRE_TABLE, index_col=0)["parent"].to_dict()
    entries: list[dict] = []
    filled = {name: 0 for name, _ in SPLIT_SHARES}
    artist_id, album_id = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    for genre in genres:
        sizes: list[int] = []
        while sum(sizes) < tracks_per_genre:  # artists with 1..6 tracks, 3.5 on average
            sizes.append(min(int(rng.integers(1, 7)), tracks_per_genre - sum(sizes)))
        genre_entries = []
        for size, split in zip(sizes, _split_artists(sizes, filled, rng)):
            artist = _draw_artist(genre, artist_id, rng)
            artist_id += int(rng.integers(1, 25))
            while size:  # the artist's tracks in albums of 1..4
                n = min(size, int(rng.integers(1, 5)))
                size -= n
                album = _draw_album(artist, album_id, n, rng)
                album_id += int(rng.integers(1, 25))
                genre_entries += [{"artist": artist, "album": album, "number": k + 1, "split": split}
                                  for k in range(n)]
        # Tiers are drawn within each split so that every tier keeps the 80/10/10 shares.
        for split, _ in SPLIT_SHARES:
            members = [e for e in genre_entries if e["split"] == split]
            for entry, tier in zip(members, _tiers(len(members), rng)):
                entry["tier"] = tier
        entries += genre_entries

    # Track ids in upload order: albums in random order, an album's tracks consecutive, gaps between.
    by_album: dict[int, list[dict]] = {}
    for entry in entries:
        by_album.setdefault(entry["album"]["id"], []).append(entry)
    track_id = 2  # FMA's first track id
    rows: dict[int, dict] = {}
    styles: dict[int, dict] = {}
    for key in rng.permutation(sorted(by_album)):
        for entry in by_album[int(key)]:
            rows[track_id] = _track_row(entry, clip_seconds, parents, rng)
            styles[track_id] = entry["artist"]["style"]
            track_id += 1
        track_id += int(rng.integers(0, 30))
    columns = pd.MultiIndex.from_tuples(fma.TRACKS_COLUMNS)
    tracks = pd.DataFrame([[row[c] for c in fma.TRACKS_COLUMNS] for row in rows.values()],
                          index=pd.Index(list(rows), dtype=np.int64, name="track_id"), columns=columns)
    for column in fma.DATE_COLUMNS:
        tracks[column] = tracks[column].astype("datetime64[s]")
    return tracks, styles


def _track_row(entry: dict, clip_seconds: float, parents: dict[int, int], rng: np.random.Generator) -> dict:
    """One tracks.csv row as {(group, column): value} with FMA's kinds of values."""
    artist, album = entry["artist"], entry["album"]
    genre = artist["genre"]
    # Most tracks carry the artist's main sub-genre, some a second one, a few only the top genre.
    draw = rng.random()
    genre_ids = ([STYLES[genre].genre_id] if draw < 0.1 else artist["subgenres"] if draw < 0.3
                 else artist["subgenres"][:1])
    genres_all = sorted({g for genre_id in genre_ids for g in _ancestors(genre_id, parents)})
    languages = _LANGUAGES.get(genre, ("en",))
    listens = int(rng.lognormal(6, 1.3))
    nan = None
    return {
        ("album", "comments"): album["comments"], ("album", "date_created"): album["created"],
        ("album", "date_released"): album["released"], ("album", "engineer"): nan,
        ("album", "favorites"): album["favorites"], ("album", "id"): album["id"],
        ("album", "information"): album["information"], ("album", "listens"): album["listens"],
        ("album", "producer"): nan, ("album", "tags"): [], ("album", "title"): album["title"],
        ("album", "tracks"): album["tracks"], ("album", "type"): album["type"],
        ("artist", "active_year_begin"): artist["begin"], ("artist", "active_year_end"): np.datetime64("NaT"),
        ("artist", "associated_labels"): nan, ("artist", "bio"): artist["bio"],
        ("artist", "comments"): artist["comments"], ("artist", "date_created"): artist["created"],
        ("artist", "favorites"): artist["favorites"], ("artist", "id"): artist["id"],
        ("artist", "latitude"): artist["latitude"], ("artist", "location"): artist["location"],
        ("artist", "longitude"): artist["longitude"], ("artist", "members"): nan,
        ("artist", "name"): artist["name"], ("artist", "related_projects"): nan,
        ("artist", "tags"): artist["tags"], ("artist", "website"): artist["website"],
        ("artist", "wikipedia_page"): nan,
        ("set", "split"): entry["split"], ("set", "subset"): entry["tier"],
        ("track", "bit_rate"): 0, ("track", "comments"): int(rng.geometric(0.8)) - 1,
        ("track", "composer"): nan,
        ("track", "date_created"): album["created"] + np.timedelta64(int(entry["number"] * rng.integers(30, 300)), "s"),
        ("track", "date_recorded"): np.datetime64("NaT"), ("track", "duration"): int(round(clip_seconds)),
        ("track", "favorites"): int(rng.geometric(0.5)) - 1, ("track", "genre_top"): genre,
        ("track", "genres"): list(genre_ids), ("track", "genres_all"): genres_all,
        ("track", "information"): nan, ("track", "interest"): int(listens * rng.uniform(1.2, 3)),
        ("track", "language_code"): languages[rng.integers(len(languages))] if languages and rng.random() < 0.4 else nan,
        ("track", "license"): _LICENSES[rng.integers(len(_LICENSES))], ("track", "listens"): listens,
        ("track", "lyricist"): nan, ("track", "number"): entry["number"], ("track", "publisher"): nan,
        ("track", "tags"): [], ("track", "title"): _name(rng, int(rng.integers(1, 4))),
    }


def genres_frame(tracks: pd.DataFrame) -> pd.DataFrame:
    """The real FMA genre rows that ``tracks`` use (with their ancestors); ``#tracks`` counted on ``tracks``
    as FMA counts it: tracks whose ``genres_all`` holds the genre."""
    table = pd.read_csv(GENRE_TABLE, index_col=0)
    counts = pd.Series([g for ids in tracks["track", "genres_all"] for g in ids]).value_counts()
    genres = table.loc[sorted(counts.index)].copy()
    genres["#tracks"] = counts.reindex(genres.index).astype(np.int64)
    return genres


def render_clip(track_id: int, style: dict, seed: int, seconds: float = CLIP_SECONDS,
                sr: int = SAMPLE_RATE) -> np.ndarray:
    """The clip of ``track_id``: its artist ``style`` varied per track, rendered. float32 (seconds*sr,).

    Seeded by (seed, track_id) alone, so a clip is the same whichever worker renders it and in
    whatever order.
    """
    rng = np.random.default_rng([seed, 2, track_id])
    return render_track(draw_track_params(style, rng), rng, seconds, sr)


def _clip_path(root: Path, tier: str, track_id: int) -> Path:
    name = f"{track_id:06d}"
    return root / f"fma_{tier}" / name[:3] / f"{name}.mp3"


def _write_clip(job: tuple[int, dict, int, float, Path]) -> int:
    """Render and encode one clip unless it exists (a rerun resumes); returns its size in bytes."""
    track_id, style, seed, seconds, path = job
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        sf.write(tmp, render_clip(track_id, style, seed, seconds), SAMPLE_RATE, format="MP3")
        os.replace(tmp, path)  # a clip on disk is always whole
    return path.stat().st_size


def _link(source: Path, target: Path) -> None:
    """Hard-link ``source`` at ``target`` (a copy where the filesystem refuses links)."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _write_if_changed(write, path: Path) -> None:
    """``write(tmp)``, then replace ``path`` only if the bytes differ (keeps mtimes, hence caches)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.new")
    write(tmp)
    if path.exists() and filecmp.cmp(tmp, path, shallow=False):
        tmp.unlink()
    else:
        os.replace(tmp, path)


def _prepare(dest: Path, info: dict) -> None:
    """Make ``dest`` ready: new or empty, a demo build with the same parameters (resumed), or an
    older demo build (emptied). Anything else is refused rather than overwritten."""
    if dest.exists() and not dest.is_dir():
        raise GenreLabError(f"{dest}: exists and is not a folder")
    if dest.exists() and any(dest.iterdir()):
        previous = fma.dataset_info(dest) if (dest / "dataset.json").exists() else {}
        if not (previous.get("synthetic") and previous.get("name") == "demo"):
            raise GenreLabError(f"{dest}: folder is not empty and is not a demo dataset "
                                f"(no synthetic dataset.json); choose a new or empty --dest")
        if previous != info:
            for child in dest.iterdir():  # a different build: every file in it derives from the old clips
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    dest.mkdir(parents=True, exist_ok=True)
    _write_if_changed(lambda tmp: tmp.write_text(json.dumps(info, indent=2) + "\n"), dest / "dataset.json")


def build_demo(dest: str | os.PathLike, tracks_per_genre: int = DEFAULT_TRACKS_PER_GENRE, seed: int = 0, *,
               clip_seconds: float = CLIP_SECONDS, workers: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> Path:
    """Build the demo dataset root at ``dest`` and return it (see the module docstring for what it holds).

    tracks_per_genre: clips per genre (8 genres); seed: everything (metadata, audio) follows from it.
    clip_seconds: clip length (FMA's is 30; tests use shorter). workers: processes rendering clips
    (default: all cores; 1 renders in this process). progress(done, total) is called as clips finish.
    Rerunning with the same arguments resumes (finished clips are kept); other arguments rebuild, and
    then everything in ``dest`` goes (it all derives from the old clips, features.csv and caches too).
    A non-empty ``dest`` that is not a demo build is refused with ``GenreLabError``.
    """
    if isinstance(tracks_per_genre, bool) or not isinstance(tracks_per_genre, (int, np.integer)) or tracks_per_genre < 1:
        raise GenreLabError(f"--tracks-per-genre: expected a whole number >= 1, got {tracks_per_genre!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GenreLabError(f"--seed: expected a whole number >= 0, got {seed!r}")
    if isinstance(clip_seconds, bool) or not isinstance(clip_seconds, (int, float)) or not 1 <= clip_seconds <= 600:
        raise GenreLabError(f"clip_seconds: expected 1 to 600 seconds, got {clip_seconds!r}")
    dest = Path(dest)
    n_tracks = tracks_per_genre * len(STYLES)
    info = {
        "name": "demo", "synthetic": True, "seed": int(seed), "tracks_per_genre": int(tracks_per_genre),
        "description": f"Synthetic demo: {n_tracks} {clip_seconds:g}-second clips in {len(STYLES)} genres, "
                       f"synthesized by core/data/demo.py (seed {seed}). Not real music: results on it show "
                       f"how the studies work, not how well genres can be recognized.",
        "clip_seconds": float(clip_seconds), "sample_rate": SAMPLE_RATE, "genres": list(STYLES),
        "generator_version": GENERATOR_VERSION,
    }
    _prepare(dest, info)
    tracks, styles = plan_dataset(int(tracks_per_genre), int(seed), tuple(STYLES), float(clip_seconds))

    tiers = tracks["set", "subset"]
    jobs = [(int(tid), styles[tid], int(seed), float(clip_seconds), _clip_path(dest, tiers[tid], tid))
            for tid in tracks.index]
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    sizes: list[int] = []
    if workers == 1:
        results = map(_write_clip, jobs)
    else:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        results = pool.map(_write_clip, jobs, chunksize=2)
    try:
        for size in results:
            sizes.append(size)
            if progress:
                progress(len(sizes), len(jobs))
    finally:
        if workers > 1:
            pool.shutdown(cancel_futures=True)

    # FMA's tier folders nest: fma_medium holds the small clips too, fma_large all of them.
    names = [tier for tier, _ in TIER_SHARES]
    for tid, (_, _, _, _, path) in zip(tracks.index, jobs):
        for larger in names[names.index(tiers[tid]) + 1:]:
            _link(path, _clip_path(dest, larger, tid))

    tracks["track", "bit_rate"] = [round(size * 8 / clip_seconds) for size in sizes]
    meta = dest / fma.METADATA_DIR
    _write_if_changed(lambda tmp: fma.write_tracks(tracks, tmp), meta / "tracks.csv")
    _write_if_changed(lambda tmp: fma.write_genres(genres_frame(tracks), tmp), meta / "genres.csv")
    return dest
