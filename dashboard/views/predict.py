"""Predict: upload or record a clip, hear it, see it, and ask one or several registered models its genre.

The work is :mod:`core.predict.predictor`'s: this page saves the clip to a temporary file, lists the
registry, and draws what ``predict_file`` returns. Models stay loaded across reruns and sessions
(``st.cache_resource`` around the predictor's own cache).
"""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core.errors import GenreLabError
from core.predict import predictor
from dashboard import charts, common

#: Largest upload, in MB: a 10-minute MP3 at 320 kb/s is 24 MB, a 5-minute 16-bit stereo WAV 53 MB.
MAX_UPLOAD_MB = 100
AUDIO_TYPES = ["mp3", "wav", "flac", "ogg", "opus", "aiff", "aif"]
#: Recording rate: full-band music, not the 16 kHz speech default.
RECORD_SAMPLE_RATE = 44100
#: Seconds shown as waveform and log-mel (the prediction itself reads the whole file).
PREVIEW_SECONDS = 30.0
PREVIEW_SAMPLE_RATE = 22050
UPLOAD_DIR = Path(tempfile.gettempdir()) / "genrelab-predict"


@st.cache_data(ttl=common.RUNS_TTL_SECONDS, show_spinner=False, max_entries=4)
def registered_models(uri: str) -> list[predictor.ModelInfo]:  # noqa: ARG001 - the store is the cache key
    return predictor.list_models()


@st.cache_resource(show_spinner="Loading the model...", max_entries=8)
def loaded_model(uri: str, info: predictor.ModelInfo) -> predictor.LoadedModel:  # noqa: ARG001
    return predictor.load(info)


@st.cache_data(show_spinner=False, max_entries=16)
def preview(path: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(waveform at PREVIEW_SAMPLE_RATE, log-mel dB (n_mels, frames), hop length) of the first seconds."""
    from core.audio import load_audio
    from core.features.mels import DEFAULT_HOP_LENGTH, log_mel

    y, sr = load_audio(path, sr=PREVIEW_SAMPLE_RATE, duration=PREVIEW_SECONDS)
    return y, log_mel(y, sr, hop_length=DEFAULT_HOP_LENGTH), DEFAULT_HOP_LENGTH


def save_clip(name: str, data: bytes) -> Path:
    """The clip as a file named by its content (reruns reuse it and the predictor's feature cache)."""
    UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
    suffix = Path(name).suffix.lower() or ".wav"
    path = UPLOAD_DIR / f"{hashlib.sha256(data).hexdigest()[:20]}{suffix}"
    if not path.exists():
        path.write_bytes(data)
    return path


def probability_bars(probabilities: dict[str, float], title: str) -> go.Figure:
    ranked = sorted(probabilities.items(), key=lambda kv: kv[1])
    fig = go.Figure(go.Bar(x=[p for _, p in ranked], y=[g for g, _ in ranked], orientation="h",
                           text=[f"{p:.0%}" for _, p in ranked], textposition="auto",
                           hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title_text="probability")
    fig.update_layout(title=title, height=max(220, 28 * len(ranked) + 90), margin=dict(l=10, r=10, t=50, b=10))
    return fig


def segment_timeline(segments: list[dict], title: str) -> go.Figure:
    """Genre probabilities of each segment along the clip, stacked to 1."""
    rows = [{"time (s)": (s["start"] + s["end"]) / 2, "genre": genre, "probability": p}
            for s in segments for genre, p in s["probabilities"].items()]
    fig = px.area(pd.DataFrame(rows), x="time (s)", y="probability", color="genre", line_shape="hv")
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    fig.update_layout(title=title, height=300, margin=dict(l=10, r=10, t=50, b=10), legend_title_text="")
    return fig


def show_result(info: predictor.ModelInfo, result: dict, key: str) -> None:
    st.subheader(info.ref)
    accuracy = "n/a" if info.test_accuracy is None else f"{info.test_accuracy:.1%}"
    st.caption(f"test accuracy {accuracy} · trained on {info.dataset or 'unknown data'}"
               + (f" · {info.clip_seconds:g} s clips" if info.clip_seconds else ""))
    if "error" in result:
        st.error(result["error"], icon=":material/error:")
        return
    top = result["top"]
    st.metric("Top genre", top, f"{result['probabilities'][top]:.0%}", delta_color="off")
    st.plotly_chart(probability_bars(result["probabilities"], "Probabilities"), key=f"bars-{key}",
                    config=charts.TOOLBAR)
    if result["segments"]:
        st.plotly_chart(segment_timeline(result["segments"], f"Along the clip ({len(result['segments'])} segments)"),
                        key=f"timeline-{key}", config=charts.TOOLBAR)
    st.caption(f"answered in {result['seconds']:.2f} s")


st.title("Predict")
uri = common.store_uri()
try:
    models = registered_models(uri)
except GenreLabError as err:
    st.error(str(err), icon=":material/error:")
    st.stop()
if not models:
    st.info("No model is registered yet. Train the demo models first: `make demo`, or "
            "`python -m core run experiments/demo_mlp.toml` (and `experiments/demo_cnn.toml` for the CNN); "
            "they appear here when their runs finish.", icon=":material/info:")
    st.stop()

by_ref = {m.ref: m for m in models}
chosen = st.multiselect("Models", list(by_ref), default=[m.ref for m in predictor.default_models(models)],
                        format_func=lambda ref: by_ref[ref].label,
                        help="Registered versions; by default the best of each registered model. "
                             "Name, version, aliases, test accuracy and training data are shown.")

upload_tab, record_tab = st.tabs(["Upload a file", "Record"])
with upload_tab:
    uploaded = st.file_uploader(f"Audio file ({', '.join(AUDIO_TYPES[:-1])}; at most {MAX_UPLOAD_MB} MB)",
                                type=AUDIO_TYPES, max_upload_size=MAX_UPLOAD_MB, key="upload")
with record_tab:
    recorded = st.audio_input("Record a clip (44.1 kHz)", sample_rate=RECORD_SAMPLE_RATE, key="record")

clip = uploaded or recorded
if clip is None:
    st.caption("Upload or record a clip to see what the models make of it.")
    st.stop()

data = clip.getvalue()
path = save_clip(clip.name or "recording.wav", data)
st.audio(data)
try:
    y, db, hop = preview(str(path))
except GenreLabError as err:
    st.error(str(err).replace(str(path), clip.name or "the clip"), icon=":material/error:")
    st.stop()
left, right = st.columns(2)
left.plotly_chart(charts.waveform(y, PREVIEW_SAMPLE_RATE), key="waveform", config=charts.TOOLBAR)
right.plotly_chart(charts.spectrogram(db, PREVIEW_SAMPLE_RATE, hop), key="log_mel", config=charts.TOOLBAR)

if not chosen:
    st.info("Choose at least one model above.")
    st.stop()
for column, ref in zip(st.columns(len(chosen)), chosen):
    info = by_ref[ref]
    with column:
        try:
            loaded_model(uri, info)
            with st.spinner(f"{ref} is listening..."):
                result = predictor.predict_file(path, info)
        except GenreLabError as err:
            result = {"error": str(err)}
        if "error" in result:
            result["error"] = result["error"].replace(str(path), clip.name or "the clip")
        show_result(info, result, key=ref)
