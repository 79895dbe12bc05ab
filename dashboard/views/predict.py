"""Predict: upload or record a clip, hear it, see it, and ask registered models its genre; choose champions.

The work is :mod:`core.predict.predictor`'s: this page lists the registry, hands the clip to
``predict_file`` and draws what it returns. By default each registered model answers with its
``champion`` (its newest version, with a note, while it has none); the Champions section shows a
version beside the champion, scores and data, and promotes it on request.

A clip is written to this browser session's private folder (``tempfile.mkdtemp``: mode 0700, the
file 0600) only while it is read, and deleted as soon as its predictions are done; the folder goes
with the session's state (best effort: when Streamlit drops the session, at the latest at exit).
Answers are kept in the session per clip content, store and model, so reruns do not predict again;
models stay loaded across reruns and sessions (``st.cache_resource`` around the predictor's own cache).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core.errors import GenreLabError
from core.predict import predictor
from core.registry import Version, champion, fallback_note, is_comparable, promote
from core.report import charts
from dashboard import common

#: Largest upload, in MB (``server.maxUploadSize`` in .streamlit/config.toml says the same): a 10-minute
#: MP3 at 320 kb/s is 24 MB, a 5-minute 16-bit stereo WAV 53 MB.
MAX_UPLOAD_MB = 100
AUDIO_TYPES = ["mp3", "wav", "flac", "ogg", "opus", "aiff", "aif"]
#: Recording rate: full-band music, not the 16 kHz speech default.
RECORD_SAMPLE_RATE = 44100
#: Seconds shown as waveform and log-mel (the prediction itself reads the whole file).
PREVIEW_SECONDS = 30.0
PREVIEW_SAMPLE_RATE = 22050
#: Tags shown in a zero-shot answer's tag timeline (the clip's strongest, per tagger).
TIMELINE_TAGS = 15


@st.cache_data(ttl=common.RUNS_TTL_SECONDS, show_spinner=False, max_entries=4)
def registered_models(uri: str) -> list[Version]:  # the store is the cache key
    return predictor.list_models()


@st.cache_resource(show_spinner="Loading the model...", max_entries=8)
def loaded_model(uri: str, ref: str, _info: Version) -> predictor.LoadedModel:  # keyed by store and ref
    return predictor.load(_info)


@st.cache_data(show_spinner=False, max_entries=16)
def preview(digest: str, _path: str) -> tuple[np.ndarray, np.ndarray, int]:  # keyed by the content
    """(waveform at PREVIEW_SAMPLE_RATE, log-mel dB (n_mels, frames), hop length) of the first seconds."""
    from core.audio import load_audio
    from core.features.mels import DEFAULT_HOP_LENGTH, log_mel

    y, sr = load_audio(_path, sr=PREVIEW_SAMPLE_RATE, duration=PREVIEW_SECONDS)
    return y, log_mel(y, sr, hop_length=DEFAULT_HOP_LENGTH), DEFAULT_HOP_LENGTH


def session_folder() -> Path:
    """This session's private folder (0700); removed when the session's state is dropped."""
    if "clip_folder" not in st.session_state:
        st.session_state.clip_folder = tempfile.TemporaryDirectory(prefix="genrelab-predict-")
    return Path(st.session_state.clip_folder.name)


@contextlib.contextmanager
def clip_file(data: bytes, suffix: str) -> Iterator[Path]:
    """``data`` as a file (mode 0600) in the session folder for the duration of the block, then deleted."""
    fd, name = tempfile.mkstemp(suffix=suffix, dir=session_folder())
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


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


def training_label(card) -> str:
    """What a model has heard, in a few words: real music (pretrained), the synthetic demo, or a dataset."""
    if card.extra.get("pretrained") == "true":
        return "pretrained on real music (not trained on your data)"
    ears = " on musicnn embeddings (pretrained on real music)" if card.input_kind == "embeddings" else ""
    if card.synthetic:
        return f"trained on synthetic demo data{ears}"
    return f"trained on {card.dataset or 'unknown data'}{ears}"


def unknown_genres(card) -> list[str]:
    """The genres a zero-shot model cannot answer (its card's ``unknown_genres``), else []."""
    try:
        return [str(g) for g in json.loads(card.extra.get("unknown_genres", "[]"))]
    except (ValueError, TypeError):
        return []


def model_label(info: Version) -> str:
    """The picker's line: name/version, aliases, input, score, and what the model has heard."""
    card = info.card
    aliases = f" @{', @'.join(info.aliases)}" if info.aliases else ""
    score = "no test score" if card.extra.get("pretrained") == "true" else f"test accuracy {card.accuracy_text}"
    return f"{info.ref}{aliases}  ·  {card.input_kind}, {card.window}  ·  {score}  ·  {training_label(card)}"


def tag_timeline(taggram: dict, segments: list[dict], title: str, top: int = TIMELINE_TAGS) -> go.Figure:
    """Heatmap of a tagger's taggram: segments along x (seconds), the clip's ``top`` strongest tags on y."""
    values = np.asarray(taggram["values"], dtype=float).reshape(-1, len(taggram["tags"]))
    order = np.argsort(-values.mean(axis=0), kind="stable")[:top]
    times = ([(s["start"] + s["end"]) / 2 for s in segments] if len(segments) == len(values)
             else list(range(len(values))))
    fig = go.Figure(go.Heatmap(z=values[:, order].T, x=times, y=[taggram["tags"][i] for i in order],
                               zmin=0, zmax=max(float(values.max(initial=0)), 1e-6), colorscale="Viridis",
                               colorbar=dict(tickformat=".0%", thickness=12),
                               hovertemplate="%{y} at %{x:.1f} s: %{z:.0%}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")  # the clip's strongest tag on top
    fig.update_xaxes(title_text="time (s)")
    fig.update_layout(title=title, height=22 * len(order) + 120, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def show_tags(result: dict, key: str) -> None:
    """A zero-shot answer's raw tags: the clip's top tags and the tag timeline, one tab per tagger."""
    st.markdown("**Raw tags** (what the pretrained tagger hears, before its tags are mapped to genres)")
    taggers = list(result["tags"])
    for tab, tagger in zip(st.tabs(taggers), taggers):
        with tab:
            st.plotly_chart(probability_bars(result["tags"][tagger], f"Top tags of the clip ({tagger})"),
                            key=f"tags-{key}-{tagger}", config=charts.TOOLBAR)
            taggram = result.get("taggram", {}).get(tagger)
            if taggram and taggram["values"]:
                st.plotly_chart(tag_timeline(taggram, result["segments"], f"Tag timeline ({tagger})"),
                                key=f"taggram-{key}-{tagger}", config=charts.TOOLBAR)


def show_result(info: Version, result: dict, key: str) -> None:
    st.subheader(info.ref)
    card = info.card
    clip = f" · {float(card.extra['clip_seconds']):g} s segments" if "clip_seconds" in card.extra else ""
    score = "" if card.extra.get("pretrained") == "true" else f"test accuracy {card.accuracy_text} · "
    st.caption(f"{training_label(card)} · {score}{card.input_kind} of the {card.window} window{clip}")
    unknown = unknown_genres(card)
    if unknown:
        st.caption(f"Cannot know {', '.join(unknown)}: no tag it hears maps to "
                   f"{'this genre' if len(unknown) == 1 else 'these genres'}, so it never answers them.")
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
    if result.get("tags"):
        show_tags(result, key)
    st.caption(f"answered in {result['seconds']:.2f} s")


def card_facts(version: Version) -> dict[str, str]:
    """What the comparison table shows of a version, one line per fact."""
    card = version.card
    return {"aliases": ", ".join(version.aliases) or "-", "test accuracy [95% CI]": card.accuracy_text,
            "input": f"{card.input_kind} ({card.window} window)", "family": card.family,
            "trained on": f"{card.dataset or '?'}{' (synthetic)' if card.synthetic else ''}",
            "data fingerprint": card.fingerprint[:16] or "-", "run": card.run_id or "-"}


def champions(models: list[Version]) -> None:
    """Show a version beside its model's champion, and make it the champion on request."""
    names = sorted({m.name for m in models})
    name = st.selectbox("Registered model", names, key="champion_name")
    versions = [m for m in models if m.name == name]
    current = champion(name, versions)
    others = [v for v in versions if v is not current] or versions
    chosen_version = st.selectbox("Version", [v.version for v in others], index=len(others) - 1, key="champion_version",
                                  format_func=lambda number: f"{name}/{number}")
    chosen = next(v for v in versions if v.version == chosen_version)
    shown = [chosen] if current is None or current is chosen else [current, chosen]
    st.dataframe(pd.DataFrame({("champion " if v is current else "") + v.ref: card_facts(v) for v in shown}),
                 width="stretch")
    if current is None:
        st.caption(f"{name} has no champion yet: predictions use its newest version.")
    elif current is not chosen and is_comparable(chosen.card, current.card):
        delta = chosen.card.test_accuracy - current.card.test_accuracy
        st.caption(f"Same test split: {chosen.ref} scores {100 * delta:+.1f} points against the champion.")
    elif current is not chosen:
        st.caption("Scored on different test data (fingerprints differ): the two accuracies do not compare.")
    if st.button(f"Make {chosen.ref} the champion", key="promote", disabled=current is chosen,
                 icon=":material/trophy:"):
        promote(name, chosen.version)
        registered_models.clear()
        st.toast(f"{chosen.ref} is the champion of {name}")
        st.rerun()


def predict_all(data: bytes, name: str, chosen: list[Version], uri: str) -> dict[str, dict]:
    """Draw the clip's waveform and log-mel; return every chosen model's answer (kept in the session)."""
    digest = hashlib.sha256(data).hexdigest()
    answers = st.session_state.setdefault("answers", {})
    if answers.get("clip") != (digest, uri):
        answers.clear()
        answers["clip"] = (digest, uri)
    with clip_file(data, Path(name).suffix.lower() or ".wav") as path:
        try:
            y, db, hop = preview(digest, str(path))
        except GenreLabError as err:
            st.error(str(err).replace(str(path), name), icon=":material/error:")
            st.stop()
        for info in chosen:
            if info.ref in answers:
                continue
            try:
                loaded_model(uri, info.ref, info)
                with st.spinner(f"{info.ref} is listening..."):
                    result = predictor.predict_file(path, info)
            except GenreLabError as err:
                result = {"error": str(err)}
            if "error" in result:
                result["error"] = result["error"].replace(str(path), name)
            answers[info.ref] = result
    left, right = st.columns(2)
    left.plotly_chart(charts.waveform(y, PREVIEW_SAMPLE_RATE), key="waveform", config=charts.TOOLBAR)
    right.plotly_chart(charts.spectrogram(db, PREVIEW_SAMPLE_RATE, hop), key="log_mel", config=charts.TOOLBAR)
    return answers


st.title("Predict")
uri = common.store_uri()
try:
    models = [m for m in registered_models(uri) if m.card is not None]
except GenreLabError as err:
    st.error(str(err), icon=":material/error:")
    st.stop()
if not models:
    st.info("No model is registered yet. Train the demo models first: `make demo`, or "
            "`python -m core run experiments/demo_mlp.toml` (and `experiments/demo_cnn.toml` for the CNN); "
            "they appear here when their runs finish.", icon=":material/info:")
    st.stop()

by_ref = {m.ref: m for m in models}
defaults = predictor.default_models(models)
chosen = st.multiselect("Models", list(by_ref), default=[m.ref for m in defaults],
                        format_func=lambda ref: model_label(by_ref[ref]),
                        help="Registered versions; by default the champion of each registered model. "
                             "Input, window, test accuracy with its 95% interval and what the model has heard "
                             "(real music, or only the synthetic demo) are shown.")
for note in filter(None, map(fallback_note, defaults)):
    st.caption(note)
with st.expander("Champions: the versions predictions and `make serve` use by default"):
    champions(models)

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
st.audio(data)
answers = predict_all(data, clip.name or "recording.wav", [by_ref[ref] for ref in chosen], uri)
if not chosen:
    st.info("Choose at least one model above.")
    st.stop()
for column, ref in zip(st.columns(len(chosen)), chosen):
    with column:
        show_result(by_ref[ref], answers[ref], key=ref)
