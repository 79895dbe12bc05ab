"""Make tests/models/data/musicnn_reference.npz with the ORIGINAL musicnn 0.1.0 code (not run in CI).

The reference outputs that ``test_musicnn.py`` compares ``core.models.musicnn`` against come from
musicnn's own code (``musicnn/extractor.py`` and ``musicnn/models.py``) running in TF1 graph mode,
on the two deterministic waveforms of :func:`reference_inputs`. That code cannot run in the
project's environment (it needs Keras 2 for ``tf.compat.v1.layers``), so this script runs in a
separate one, e.g.::

    python3 -m venv /tmp/musicnn_ref
    /tmp/musicnn_ref/bin/pip install tensorflow==2.21.0 tf_keras==2.21.0 librosa==0.11.0 soundfile
    /tmp/musicnn_ref/bin/pip install --no-deps musicnn==0.1.0
    /tmp/musicnn_ref/bin/python tests/models/make_musicnn_reference.py

(The stored file was made on 2026-11-30 with a venv holding only tf_keras 2.21.0 and reading every
other package, the same versions, from the project's .venv through a ``.pth`` file.)

The script copies the installed package to a temporary folder and patches three things in the copy,
never in the installed wheel nor in this repository:

1. ``extractor.batch_data`` casts the mel spectrogram to float16 before ``log10(10000 * S + 1)``:
   every bin above 6.55 overflows to inf. The cast is removed (float32, as the module computes).
2. ``extractor.extractor`` wraps the checkpoint restore in a bare ``except``, so a failed restore
   would silently keep random weights: the ``except`` now re-raises.
3. ``configuration.BATCH_SIZE`` 1 -> 64, so every patch of an input goes through in one batch
   (its batch loop concatenates stale ``cnn1..3`` / ``penultimate`` features of the first batch).

Stored arrays: ``<input>/waveform_sha256`` (hex digest of the float32 samples, to notice if
:func:`reference_inputs` ever changes), ``<input>/patches`` (n, 187, 96) from the patched
``batch_data``, ``<input>/float16_inf_bins`` (how many bins the unpatched cast turns to inf),
``<input>/<model>/{taggram,penultimate,mean_pool,max_pool}`` and ``<model>/tags``.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "data" / "musicnn_reference.npz"
MODELS = ("MSD_musicnn", "MTT_musicnn")


def _hash_uniform(n: int, seed: int) -> np.ndarray:
    """n uniform floats in [-1, 1) from a counter-based hash (splitmix64): the same on every numpy."""
    with np.errstate(over="ignore"):
        z = np.arange(n, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)).astype(np.float64) * 2.0**-52 - 1.0)


def reference_inputs() -> dict[str, tuple[np.ndarray, int]]:
    """The two reference waveforms: ``{name: (float32 mono samples, rate in Hz)}``.

    - ``"chord"``: 6.2 s at 16 kHz (2 patches, 2 frames dropped): triads changing every 0.5 s
      (6 harmonics, decaying notes), a 55 Hz kick and hashed-noise hi-hats; loud enough that the
      original float16 cast overflows.
    - ``"noise"``: 3.5 s at 22,050 Hz (resampled to 16 kHz: 1 patch, 32 frames dropped): hashed
      noise, coloured by a first difference and a running mean, under a 4 Hz tremolo.
    """
    sr = 16000
    t = np.arange(int(6.2 * sr)) / sr
    step = np.floor(t / 0.5)
    since = t - 0.5 * step
    roots = 110.0 * 2.0 ** (np.array([0, 5, 7, 3, 8, 10, 0, 5, 7, 3, 8, 10, 0]) / 12)
    y = np.zeros_like(t)
    for interval in (0, 4, 7):
        f0 = roots[step.astype(int)] * 2 ** (interval / 12)
        for k in range(1, 7):
            y += 0.12 / k * np.sin(2 * np.pi * k * f0 * t) * np.exp(-3.0 * since)
    y += 0.5 * np.sin(2 * np.pi * 55 * since) * np.exp(-12.0 * since)
    hat_since = t - 0.25 * np.floor(t / 0.25)
    y += 0.2 * np.diff(_hash_uniform(t.size + 1, 1)) * np.exp(-40.0 * hat_since)
    chord = (0.6 * y / np.max(np.abs(y))).astype(np.float32)

    sr2 = 22050
    t2 = np.arange(int(3.5 * sr2)) / sr2
    white = _hash_uniform(t2.size + 8, 2)
    coloured = np.convolve(np.diff(white), np.ones(8) / 8, mode="valid")[: t2.size]
    noise = (0.4 * coloured / np.max(np.abs(coloured)) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t2)))
    return {"chord": (chord, sr), "noise": (noise.astype(np.float32), sr2)}


def waveform_sha256(y: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(y, dtype=np.float32).tobytes()).hexdigest()


def _patched_copy(dest: Path) -> Path:
    """Copy the installed musicnn package into ``dest`` and apply the three patches (see module)."""
    import importlib.util

    spec = importlib.util.find_spec("musicnn")
    source = Path(list(spec.submodule_search_locations)[0])
    target = dest / "musicnn"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    patches = {
        "extractor.py": [("    audio_rep = audio_rep.astype(np.float16)\n", ""),
                         ("    except:\n", "    except Exception:\n        raise\n")],
        "configuration.py": [("BATCH_SIZE = 1 ", "BATCH_SIZE = 64 ")],
    }
    for name, edits in patches.items():
        text = (target / name).read_text()
        for old, new in edits:
            if text.count(old) != 1:
                raise SystemExit(f"{target / name}: expected exactly one {old!r}")
            text = text.replace(old, new)
        (target / name).write_text(text)
    return target


def main() -> None:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tf.compat.v1.layers need Keras 2 (tf_keras)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import librosa
    import soundfile as sf

    arrays: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        package = _patched_copy(tmp / "src")
        sys.path.insert(0, str(package.parent))
        from musicnn import configuration, extractor  # the patched copy

        assert Path(extractor.__file__).parent == package, extractor.__file__
        for name, (y, sr) in reference_inputs().items():
            wav = tmp / f"{name}.wav"
            sf.write(wav, y, sr, subtype="FLOAT")
            batch, _ = extractor.batch_data(str(wav), 187, 187)
            arrays[f"{name}/waveform_sha256"] = np.array(waveform_sha256(y))
            arrays[f"{name}/patches"] = batch.astype(np.float32)
            # What the shipped code computes: the float16 cast before the log.
            audio, _ = librosa.load(str(wav), sr=configuration.SR)
            mel = librosa.feature.melspectrogram(y=audio, sr=configuration.SR, hop_length=configuration.FFT_HOP,
                                                 n_fft=configuration.FFT_SIZE, n_mels=configuration.N_MELS)
            with np.errstate(over="ignore"):
                arrays[f"{name}/float16_inf_bins"] = np.array(
                    int(np.isinf(np.log10(10000 * mel.astype(np.float16) + 1)).sum()))
            for model in MODELS:
                taggram, labels, features = extractor.extractor(str(wav), model=model, input_length=3,
                                                                input_overlap=False, extract_features=True)
                arrays[f"{model}/tags"] = np.array(labels)
                arrays[f"{name}/{model}/taggram"] = np.asarray(taggram, dtype=np.float32)
                for layer in ("penultimate", "mean_pool", "max_pool"):
                    arrays[f"{name}/{model}/{layer}"] = np.asarray(features[layer], dtype=np.float32)
                print(f"{name} {model}: patches {batch.shape}, taggram {taggram.shape}, "
                      f"float16 inf bins {int(arrays[f'{name}/float16_inf_bins'])}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
