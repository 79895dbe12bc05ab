"""musicnn: pretrained music-tagging networks (Pons & Serra, ISMIR 2019 LBD) on Keras 3.

The networks and weights are those of the ``musicnn`` wheel (0.1.0, ISC licence, Music Technology
Group, Universitat Pompeu Fabra; "musicnn: pre-trained convolutional neural networks for music audio
tagging", J. Pons and X. Serra, ISMIR 2019 late-breaking demo). The wheel is installed with
``pip install --no-deps musicnn==0.1.0`` (``make setup`` does it) only for its TF1 checkpoint files:
its own code needs TF1 graph mode and Keras 2, and is never imported here. This module rebuilds the
"musicnn" architecture (not the "vgg" one) as a Keras 3 model from the paper and the checkpoints'
variable names and shapes, and reads the weights with TensorFlow's checkpoint reader.

Two models, both 50 sigmoid tags on 3 s patches:

- ``"MSD_musicnn"``: trained on the Million Song Dataset, last.fm tags (rock, pop, jazz, 80s, ...);
- ``"MTT_musicnn"``: trained on MagnaTagATune, its 50 most frequent tags (guitar, classical, ...).

Pipeline
--------
:func:`patches` turns a waveform into the network's input: resample to 16 kHz (soxr high quality,
as ``librosa.load``), mel power spectrogram (``librosa.feature.melspectrogram``: n_fft 512, hop 256,
96 Slaney mel bands, power 2, centred frames), ``log10(10000 * S + 1)`` in float32, then
non-overlapping patches of 187 frames (2.99 s) starting at frame 0. Frames after the last full
patch are dropped (musicnn's own rule); a clip shorter than one patch is *repeat-padded*: its
spectrogram is tiled end to end until it fills 187 frames (``"pad_short": "repeat-pad"`` is the rule
in the checkpoints' training configuration), so a 1 s clip is seen as that second three times over.
:meth:`MusicnnTagger.predict` runs the network on patches; :func:`track_embedding` pools per-patch
outputs into one vector per track.

Network (per patch of 187 frames x 96 bands)
--------------------------------------------
Input batch normalisation; front end: two timbral convolutions (7 frames x 38 and 7 x 67 bands,
204 filters each, frequency max-pooled) and three temporal ones (128, 64, 32 frames x 1 band, 51
filters each, frequency max-pooled; computed pool first, see ``build_network``): 561 features per frame. Mid end: three 1-D convolutions over
time (7 frames, 64 filters; the 2nd and 3rd residual), densely connected to the front end: 753
features per frame. Back end: max and mean over time (753 each), batch norm, dense 200 (ReLU, then
batch norm: the "penultimate" layer), dense 50, sigmoid. Every convolution is ReLU then batch norm.

Upstream bugs not reproduced here: musicnn 0.1.0 casts the mel spectrogram to float16 before
``log10(10000 * S + 1)`` (any bin above 6.55 overflows to inf); it crashes on clips shorter than 3 s;
a failed checkpoint restore is swallowed by a bare ``except`` (leaving random weights); and for every
patch after the first its ``cnn1..3`` and ``penultimate`` features repeat the first patch's (its batch
loop concatenates the wrong variables).
"""
from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import librosa
import numpy as np

from core.audio import MIN_SECONDS, check_waveform, load_audio, resample
from core.errors import GenreLabError, first_line

__all__ = ["MODELS", "OUTPUTS", "SR", "PATCH_FRAMES", "PATCH_SECONDS", "MSD_TAGS", "MTT_TAGS",
           "MusicnnTagger", "patches", "musicnn_mel", "split_patches", "track_embedding", "build_network",
           "weights_folder", "checkpoint_prefix"]

#: The two musicnn checkpoints in the wheel ("vgg" models are not supported).
MODELS = ("MSD_musicnn", "MTT_musicnn")
#: Rate (Hz), FFT size and hop (samples), mel bands and patch length (frames) the networks expect.
SR = 16000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
PATCH_FRAMES = 187
#: Seconds of audio per patch: 187 frames x 256 / 16000 = 2.992 s.
PATCH_SECONDS = PATCH_FRAMES * HOP_LENGTH / SR
#: What :meth:`MusicnnTagger.predict` returns, and each output's width per patch.
OUTPUTS = {"taggram": 50, "penultimate": 200, "mean_pool": 753, "max_pool": 753}
#: The wheel's weights, for ``pip``.
WHEEL = "musicnn==0.1.0"

# The 50 tag names of each model, in output order: data copied from musicnn 0.1.0's
# musicnn/configuration.py (Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019, ISC).
MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock",
    "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental",
    "punk", "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist",
    "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy", "catchy", "funk",
    "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
)
MTT_TAGS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast",
    "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
    "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal",
    "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance",
    "male voice", "female vocal", "beats", "harp", "cello", "no voice", "weird", "country", "metal",
    "female voice", "choral",
)
_TAGS = {"MSD_musicnn": MSD_TAGS, "MTT_musicnn": MTT_TAGS}

# Keras layer name -> TF1 variable scope in the checkpoint (the order the original graph created
# them in; every shape is checked on loading).
_CHECKPOINT_SCOPES = {
    "input_bn": "batch_normalization",
    "timbral_74": "conv2d", "timbral_74_bn": "batch_normalization_1",
    "timbral_77": "conv2d_1", "timbral_77_bn": "batch_normalization_2",
    "temporal_128": "conv2d_2", "temporal_128_bn": "batch_normalization_3",
    "temporal_64": "conv2d_3", "temporal_64_bn": "batch_normalization_4",
    "temporal_32": "conv2d_4", "temporal_32_bn": "batch_normalization_5",
    "midend_1": "conv2d_5", "midend_1_bn": "batch_normalization_6",
    "midend_2": "conv2d_6", "midend_2_bn": "batch_normalization_7",
    "midend_3": "conv2d_7", "midend_3_bn": "batch_normalization_8",
    "pool_bn": "batch_normalization_9",
    "penultimate": "dense", "penultimate_bn": "batch_normalization_10",
    "logits": "dense_1",
}
_BN_VARIABLES = ("gamma", "beta", "moving_mean", "moving_variance")  # Keras' weight order
_DENSE_VARIABLES = ("kernel", "bias")


# --------------------------------------------------------------------------------------- input


def musicnn_mel(y16: np.ndarray) -> np.ndarray:
    """musicnn's input representation of a 16 kHz mono waveform.

    Parameters
    ----------
    y16 : ndarray, shape (n_samples,)
        Mono waveform sampled at :data:`SR` (16 kHz), float, amplitude in [-1, 1].

    Returns
    -------
    ndarray, shape (1 + n_samples // 256, 96), float32
        ``log10(10000 * S + 1)`` of the mel power spectrogram ``S`` (centred frames every 16 ms,
        96 bands), computed in float32; frames along axis 0.
    """

    mel = librosa.feature.melspectrogram(y=np.asarray(y16, dtype=np.float32), sr=SR, n_fft=N_FFT,
                                         hop_length=HOP_LENGTH, n_mels=N_MELS)
    return np.log10(np.float32(10000) * mel.T.astype(np.float32, copy=False) + np.float32(1))


def split_patches(mel: np.ndarray) -> np.ndarray:
    """Cut a (frames, 96) spectrogram into non-overlapping 187-frame patches (module rule).

    Patches start at frame 0; frames after the last full patch are dropped. A spectrogram shorter
    than one patch (but not empty) is tiled end to end to 187 frames and gives one patch.

    Returns
    -------
    ndarray, shape (n_patches, 187, 96), float32
    """
    n_frames = mel.shape[0]
    if n_frames == 0:
        raise ValueError("split_patches: empty spectrogram")
    if n_frames < PATCH_FRAMES:
        mel = np.tile(mel, (-(-PATCH_FRAMES // n_frames), 1))[:PATCH_FRAMES]
        n_frames = PATCH_FRAMES
    count = n_frames // PATCH_FRAMES
    return np.ascontiguousarray(mel[: count * PATCH_FRAMES].reshape(count, PATCH_FRAMES, mel.shape[1]),
                                dtype=np.float32)


def patches(y: np.ndarray, sr: int, *, source: str | os.PathLike = "waveform",
            min_seconds: float = MIN_SECONDS) -> np.ndarray:
    """The network's input patches for a waveform (pure function; see the module's pipeline).

    Parameters
    ----------
    y : ndarray, shape (n_samples,) or (channels, n_samples)
        Waveform, amplitude in [-1, 1]; several channels are averaged to mono.
    sr : int
        Its sampling rate in Hz (resampled to 16 kHz with soxr high quality).
    source : str or path, optional
        What to name in error messages (e.g. the file the waveform came from).
    min_seconds : float, optional
        Shortest acceptable input in seconds (default :data:`core.audio.MIN_SECONDS`). Inputs
        shorter than one patch (2.99 s) but at least this long are repeat-padded.

    Returns
    -------
    ndarray, shape (n_patches, 187, 96), float32
        One patch per 2.99 s of audio (at least one), ``log10(10000 * mel power + 1)``.

    Raises
    ------
    core.audio.AudioError
        One line naming ``source`` when the waveform is empty, shorter than ``min_seconds``,
        silent (peak below -80 dBFS) or holds non-finite samples.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=0, dtype=np.float32)
    elif y.ndim != 1:
        raise ValueError(f"patches: expected a waveform of shape (n,) or (channels, n), got {y.shape}")
    check_waveform(y, sr, source, min_seconds)
    return split_patches(musicnn_mel(resample(y, int(sr), SR)))


# ------------------------------------------------------------------------------------ network


def build_network(n_tags: int = 50, midend_filters: int = 64, backend_units: int = 200):
    """The musicnn architecture as an (untrained) Keras 3 model.

    Input ``log_mel`` of shape (batch, 187, 96); outputs a dict: ``taggram`` (batch, n_tags) sigmoid
    probabilities, ``penultimate`` (batch, backend_units), ``mean_pool`` and ``max_pool``
    (batch, 561 + 3 * midend_filters), the time-pooled mid-end features. Layers are named as in
    :data:`_CHECKPOINT_SCOPES`. Inference only: the training-time dropout layers are left out.
    """
    import keras
    from keras import layers, ops

    def conv_bn(x, name, filters, kernel, **kwargs):
        x = layers.Conv1D(filters, kernel, activation="relu", name=name, **kwargs)(x)
        return layers.BatchNormalization(name=f"{name}_bn")(x)

    def frequency_pooled(x, name, filters, kernel, **kwargs):
        """Conv2D -> ReLU -> batch norm -> max over frequency, computed pool first.

        ReLU and batch norm act per channel and are monotonic (batch norm decreasing where its
        gamma is negative, as for most timbral filters here), so the max over frequency of their
        output is the larger of them applied to the max and to the min over frequency of the
        convolution: the same values, with the elementwise work on tensors 30-96x smaller (about
        a third of the network's time on a CPU).
        """
        z = layers.Conv2D(filters, kernel, name=name, **kwargs)(x)      # (batch, frames, bands', filters)
        bn = layers.BatchNormalization(name=f"{name}_bn")
        return ops.maximum(bn(ops.relu(ops.max(z, axis=2))), bn(ops.relu(ops.min(z, axis=2))))

    inputs = keras.Input((PATCH_FRAMES, N_MELS), name="log_mel")
    x = layers.Reshape((PATCH_FRAMES, N_MELS, 1))(inputs)
    x = layers.BatchNormalization(name="input_bn")(x)
    front = []
    # Timbral filters span many bands: pad time only ("same" in time, "valid" in frequency).
    padded = layers.ZeroPadding2D(((3, 3), (0, 0)))(x)
    for name, bands in (("timbral_74", int(0.4 * N_MELS)), ("timbral_77", int(0.7 * N_MELS))):
        front.append(frequency_pooled(padded, name, 204, (7, bands)))
    for frames in (128, 64, 32):
        front.append(frequency_pooled(x, f"temporal_{frames}", 51, (frames, 1), padding="same"))
    front = layers.Concatenate(axis=-1)(front)                    # (batch, frames, 561)
    mid1 = conv_bn(front, "midend_1", midend_filters, 7, padding="same")
    mid2 = layers.Add()([conv_bn(mid1, "midend_2", midend_filters, 7, padding="same"), mid1])
    mid3 = layers.Add()([conv_bn(mid2, "midend_3", midend_filters, 7, padding="same"), mid2])
    features = layers.Concatenate(axis=-1)([front, mid1, mid2, mid3])  # (batch, frames, 753)
    max_pool = ops.max(features, axis=1)
    mean_pool = ops.mean(features, axis=1)
    # The original flattens (753, 2) [max, mean] pairs: the dense weights expect them interleaved.
    pooled = ops.reshape(ops.stack([max_pool, mean_pool], axis=-1), (-1, 2 * features.shape[-1]))
    pooled = layers.BatchNormalization(name="pool_bn")(pooled)
    penultimate = layers.Dense(backend_units, activation="relu", name="penultimate")(pooled)
    penultimate = layers.BatchNormalization(name="penultimate_bn")(penultimate)
    logits = layers.Dense(n_tags, name="logits")(penultimate)
    outputs = {"taggram": ops.sigmoid(logits), "penultimate": penultimate,
               "mean_pool": mean_pool, "max_pool": max_pool}
    return keras.Model(inputs, outputs, name="musicnn")


def weights_folder() -> Path:
    """The installed musicnn wheel's package folder (holding one checkpoint folder per model).

    Located with ``importlib.util.find_spec``, which does not import the package.
    Raises :class:`GenreLabError` when the wheel is not installed.
    """
    spec = importlib.util.find_spec("musicnn")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise GenreLabError(f"musicnn: weights not installed (run `make setup`, or "
                            f"`pip install --no-deps {WHEEL}`)")
    return Path(locations[0])


def checkpoint_prefix(model: str, folder: str | os.PathLike | None = None) -> str:
    """Checkpoint prefix of ``model`` inside ``folder`` (default: :func:`weights_folder`).

    The wheel's files are ``<folder>/<model>/.index`` and ``.data-00000-of-00001`` (an empty base
    name), so the prefix is the model folder with a trailing separator (a string: ``Path`` would
    drop it). The folder's ``checkpoint`` file names the author's own machine and is never used.
    """
    folder = weights_folder() if folder is None else Path(folder)
    return str(folder / model) + os.sep


def _read_checkpoint(prefix: str) -> dict[str, np.ndarray]:
    """Every inference variable of a musicnn checkpoint, by TF1 name; one-line error naming the file."""
    import tensorflow as tf

    index = Path(f"{prefix}.index")
    data = Path(f"{prefix}.data-00000-of-00001")
    for path in (index, data):
        if not path.is_file():
            raise GenreLabError(f"{path}: musicnn checkpoint file missing (reinstall: pip install "
                                f"--force-reinstall --no-deps {WHEEL})")
    try:
        reader = tf.compat.v1.train.NewCheckpointReader(prefix)
        shapes = reader.get_variable_to_shape_map()
    except Exception as err:  # the reader's errors are OpError, ValueError, IndexError, ...
        raise GenreLabError(f"{index}: unreadable musicnn checkpoint ({first_line(err)})") from None
    names = [f"{scope}/{var}" for layer, scope in _CHECKPOINT_SCOPES.items()
             for var in (_BN_VARIABLES if layer.endswith("bn") else _DENSE_VARIABLES)]
    values = {}
    for name in names:
        if name not in shapes:
            raise GenreLabError(f"{index}: musicnn checkpoint lacks variable {name}")
        try:
            value = np.asarray(reader.get_tensor(name), dtype=np.float32)
        except Exception as err:  # OpError, IndexError ("Read less bytes than requested"), ...
            raise GenreLabError(f"{data}: corrupt musicnn checkpoint, variable {name} "
                                f"({first_line(err)})") from None
        if not np.isfinite(value).all():
            raise GenreLabError(f"{data}: corrupt musicnn checkpoint, variable {name} is not finite")
        values[name] = value
    return values


def _assign(network, values: dict[str, np.ndarray], prefix: str) -> None:
    index = f"{prefix}.index"
    for layer_name, scope in _CHECKPOINT_SCOPES.items():
        layer = network.get_layer(layer_name)
        names = _BN_VARIABLES if layer_name.endswith("bn") else _DENSE_VARIABLES
        weights = []
        for var, target in zip(names, layer.get_weights(), strict=True):
            value = values[f"{scope}/{var}"]
            if value.size != target.size:
                raise GenreLabError(f"{index}: variable {scope}/{var} has shape {list(value.shape)}, "
                                    f"the musicnn network needs {list(target.shape)}")
            # Mid-end (7, C, 1, F) Conv2D kernels over the full width are Conv1D (7, C, F) kernels.
            weights.append(value.reshape(target.shape))
        layer.set_weights(weights)


_NETWORKS: dict[str, object] = {}
_LOCK = threading.Lock()


def _network(model: str, prefix: str):
    """The Keras network with ``prefix``'s weights, built once per process and checkpoint."""
    with _LOCK:
        if prefix not in _NETWORKS:
            values = _read_checkpoint(prefix)
            network = build_network(n_tags=len(_TAGS[model]))
            _assign(network, values, prefix)
            _NETWORKS[prefix] = network
        return _NETWORKS[prefix]


# ------------------------------------------------------------------------------------- public


class MusicnnTagger:
    """A pretrained musicnn network: tags and embeddings for 3 s patches of music.

    Parameters
    ----------
    model : {"MSD_musicnn", "MTT_musicnn"}
        Which checkpoint: Million Song Dataset (last.fm tags) or MagnaTagATune tags.
    weights_dir : str or path, optional
        Folder holding ``<model>/.index`` and ``<model>/.data-00000-of-00001``; default: the
        installed musicnn wheel's package folder.
    batch_size : int, optional
        Patches per forward pass in :meth:`predict` (bounds memory: about 25 MB of activations
        per patch).

    Attributes
    ----------
    model : str
    tags : tuple of str
        The 50 tag names, in the order of the ``taggram`` columns.
    checkpoint : str
        The checkpoint prefix the weights were read from (the model folder plus a separator).
    network : keras.Model
        The Keras 3 network (shared by every tagger of the same checkpoint in the process).

    Raises
    ------
    GenreLabError
        One line naming the file when the checkpoint is missing, unreadable, damaged or lacks a
        variable (never random weights); or when ``model`` is unknown.

    Examples
    --------
    >>> tagger = MusicnnTagger("MSD_musicnn")                      # doctest: +SKIP
    >>> out = tagger.predict(patches(y, sr))                       # doctest: +SKIP
    >>> vector = track_embedding(out, "penultimate")               # (400,): mean then std
    """

    def __init__(self, model: str = "MSD_musicnn", *, weights_dir: str | os.PathLike | None = None,
                 batch_size: int = 16):
        if model not in MODELS:
            hint = " (the vgg models are not supported)" if "vgg" in str(model) else ""
            raise GenreLabError(f"musicnn: unknown model {model!r}{hint}; choose one of {', '.join(MODELS)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.tags = _TAGS[model]
        self.batch_size = int(batch_size)
        self.checkpoint = checkpoint_prefix(model, weights_dir)
        self.network = _network(model, self.checkpoint)

    def __repr__(self) -> str:
        return f"MusicnnTagger(model={self.model!r})"

    def predict(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        """Run the network on input patches.

        Parameters
        ----------
        patches : ndarray, shape (n_patches, 187, 96)
            From :func:`patches` (log-compressed mel power, float32).

        Returns
        -------
        dict of str to ndarray, float32, one row per patch
            ``taggram`` (n, 50): tag probabilities (sigmoid), columns in :attr:`tags` order;
            ``penultimate`` (n, 200): the back end's last hidden layer (ReLU then batch norm);
            ``mean_pool`` and ``max_pool`` (n, 753): mean and max over the patch's 187 frames of
            the front-end (561) and mid-end (3 x 64) features.
        """
        x = np.asarray(patches, dtype=np.float32)
        if x.ndim != 3 or x.shape[1:] != (PATCH_FRAMES, N_MELS) or len(x) == 0:
            raise ValueError(f"predict: expected patches of shape (n >= 1, {PATCH_FRAMES}, {N_MELS}), "
                             f"got {x.shape}")
        # predict_on_batch runs Keras' compiled predict function (a tf.function on TensorFlow):
        # about twice as fast as calling the network eagerly. It traces once or twice per process.
        parts = [self.network.predict_on_batch(x[i:i + self.batch_size])
                 for i in range(0, len(x), self.batch_size)]
        return {name: np.concatenate([np.asarray(p[name]) for p in parts]).astype(np.float32, copy=False)
                for name in OUTPUTS}

    def warm_up(self) -> None:
        """Trace the network now for every batch size: Keras traces it for the first input shape and
        once more, with the batch dimension left open, for the next (about a second each on a CPU), so
        without this the first real file after a one-patch warm-up pays a second trace."""
        for n in (1, 2):
            self.predict(np.zeros((n, PATCH_FRAMES, N_MELS), dtype=np.float32))

    def predict_file(self, path: str | os.PathLike, *, min_seconds: float = MIN_SECONDS) -> dict[str, np.ndarray]:
        """Decode an audio file (mono, 16 kHz) and :meth:`predict` its patches.

        Raises :class:`core.audio.AudioError` (one line naming the file) for a missing, unreadable,
        corrupt, empty, silent or too short file.
        """
        y, sr = load_audio(path, sr=SR, min_seconds=min_seconds)
        return self.predict(patches(y, sr, source=path, min_seconds=min_seconds))

    def embedding_names(self, layer: str = "penultimate") -> list[str]:
        """Names of :func:`track_embedding`'s entries: ``<layer>_mean_<i>`` then ``<layer>_std_<i>``
        (``taggram_mean_<tag>`` / ``taggram_std_<tag>`` for the taggram)."""
        if layer not in OUTPUTS:
            raise ValueError(f"layer must be one of {', '.join(OUTPUTS)}, got {layer!r}")
        keys = list(self.tags) if layer == "taggram" else [f"{i:03d}" for i in range(OUTPUTS[layer])]
        return [f"{layer}_{stat}_{key}" for stat in ("mean", "std") for key in keys]


def track_embedding(outputs: dict[str, np.ndarray], layer: str = "penultimate") -> np.ndarray:
    """One vector per track: mean and standard deviation over its patches of one output.

    Parameters
    ----------
    outputs : dict
        :meth:`MusicnnTagger.predict`'s result for one track's patches.
    layer : {"penultimate", "taggram", "mean_pool", "max_pool"}

    Returns
    -------
    ndarray, shape (2 * d,), float32
        The mean over patches (d values), then the population standard deviation (ddof 0; zeros
        for a single patch), where d is the layer's width (200, 50 or 753).
    """
    if layer not in OUTPUTS:
        raise ValueError(f"layer must be one of {', '.join(OUTPUTS)}, got {layer!r}")
    values = np.asarray(outputs[layer], dtype=np.float32)
    if values.ndim != 2 or len(values) == 0:
        raise ValueError(f"track_embedding: {layer} must have shape (n_patches >= 1, d), got {values.shape}")
    return np.concatenate([values.mean(axis=0), values.std(axis=0)]).astype(np.float32)
