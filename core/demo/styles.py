"""The demo's genres as parameters of sound: one ``Style`` per genre, drawn per artist and per track.

Each genre is a ``Style``: the centre of the parameters that describe a track (tempo, swing, drum
pattern probabilities per 16th step, levels of drums/bass/chords/lead/voice/rap, instrument timbres,
scales and chord progressions, distortion, noise, brightness, randomness). Each artist leans towards
its genre but borrows a random share of another genre's style (``draw_artist_style``), and each track
varies around its artist (``draw_track_params``), so genres overlap the way real ones do (a folk
artist with drum machines, a rock band with a rapper) and same-artist tracks sound alike, which is
why the demo's split keeps every artist in one split. ``core.demo.synth`` renders the result.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
