"""Predict: upload or record a clip and read one answer first; every other model below; choose champions.

The work is :mod:`core.serving.predictor`'s: this page lists the registry, hands the clip to
``predict_file`` and draws what it returns. One model leads (``core.registry.lead_version``: the best
one that has heard real music), large: its top genre, its bars, its genres along the clip, its tags.
The other registered models (each one's ``champion``; its newest version, with one line, while it has
none) answer in one table, each row's charts in an expander. The Champions section shows a version
beside the champion, scores and data, and promotes it on request.

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

from core.calibration import calibrated_range
from core.errors import GenreLabError
from core.registry import Version, champion, fallback_note, is_comparable, lead_version, promote
from core.report import charts
from core.serving import predictor
from dashboard import common

#: Largest upload, in MB (``server.maxUploadSize`` in .streamlit/config.toml says the same): a 10-minute
#: MP3 at 320 kb/s is 24 MB, a 5-minute 16-bit stereo WAV 53 MB.
MAX_UPLOAD_MB = 100
AUDIO_TYPES = ["mp3", "wav", "flac", "ogg", "opus", "aiff", "aif"]
#: Recording rate: full-band music, not the 16 kHz speech default.
RECORD_SAMPLE_RATE = 44100
#: Tags shown in a zero-shot answer's tag timeline (the clip's strongest, per tagger).
TIMELINE_TAGS = 15
#: Genres drawn along the clip (the rest summed as "other genres").
TIMELINE_GENRES = 6


@st.cache_data(ttl=common.RUNS_TTL_SECONDS, show_spinner=False, max_entries=4)
def registered_models(uri: str) -> list[Version]:  # the store is the cache key
    return predictor.list_models()


@st.cache_resource(show_spinner="Loading the model...", max_entries=8)
def loaded_model(uri: str, ref: str, _info: Version) -> predictor.LoadedModel:  # keyed by store and ref
    return predictor.load(_info)


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
    """Horizontal bars, the strongest on top."""
    ranked = sorted(probabilities.items(), key=lambda kv: kv[1])
    fig = go.Figure(go.Bar(x=[p for _, p in ranked], y=[g for g, _ in ranked], orientation="h",
                           text=[f"{p:.0%}" for _, p in ranked], textposition="auto",
                           hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title_text="probability")
    fig.update_layout(title=title, height=max(220, 26 * len(ranked) + 90), margin=dict(l=10, r=10, t=50, b=10))
    return fig


def segment_timeline(segments: list[dict], title: str, top: int = TIMELINE_GENRES) -> go.Figure:
    """Genre probabilities of each segment along the clip, stacked to 1: the clip's ``top`` strongest
    genres, the rest summed as "other genres" (a legend of 16 genres would not fit beside the chart)."""
    genres = list(segments[0]["probabilities"])
    mean = {g: np.mean([s["probabilities"][g] for s in segments]) for g in genres}
    shown = sorted(genres, key=mean.get, reverse=True)[:top]
    rows = []
    for s in segments:
        middle, p = (s["start"] + s["end"]) / 2, s["probabilities"]
        rows += [{"time (s)": middle, "genre": g, "probability": p[g]} for g in shown]
        if len(genres) > len(shown):
            rows.append({"time (s)": middle, "genre": "other genres",
                         "probability": sum(p[g] for g in genres if g not in shown)})
    fig = px.area(pd.DataFrame(rows), x="time (s)", y="probability", color="genre", line_shape="hv")
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    fig.update_layout(title=title, height=320, margin=dict(l=10, r=10, t=50, b=10), legend_title_text="")
    return fig


def training_label(card) -> str:
    """What a model has heard, in a few words: real music (pretrained), the synthetic demo, or a dataset."""
    if card.pretrained:
        return "pretrained on real music (not trained on your data)"
    ears = " on musicnn embeddings (pretrained on real music)" if card.input_kind == "embeddings" else ""
    if card.synthetic:
        return f"trained on synthetic demo data{ears}"
    return f"trained on {card.dataset or 'unknown data'}{ears}"


def heard(card) -> str:
    """The picker's few words on what a model learnt its genres from."""
    if card.pretrained:
        return "real music, pretrained"
    return "synthetic demo" if card.synthetic else (card.dataset or "unknown data")


def calibration(card) -> str:
    """How far its probabilities can be taken at their word: its expected calibration error when measured,
    and what a perfectly calibrated model would score on as many tracks."""
    summary = card.calibration
    if not summary:
        return "not measured"
    calibrated = calibrated_range(summary)
    return (f"ECE {summary['ece']:.3f} ({summary.get('scored_on', '?')}"
            + (f"; a perfectly calibrated model: {calibrated}" if calibrated else "") + ")")


def unknown_genres(card) -> list[str]:
    """The genres a zero-shot model cannot answer (its card's ``unknown_genres``), else []."""
    try:
        return [str(g) for g in json.loads(card.extra.get("unknown_genres", "[]"))]
    except (ValueError, TypeError):
        return []


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
            left, right = st.columns([2, 3])
            left.plotly_chart(probability_bars(result["tags"][tagger], f"Top tags of the clip ({tagger})"),
                              key=f"tags-{key}-{tagger}", config=charts.TOOLBAR)
            taggram = result.get("taggram", {}).get(tagger)
            if taggram and taggram["values"]:
                right.plotly_chart(tag_timeline(taggram, result["segments"], f"Tag timeline ({tagger})"),
                                   key=f"taggram-{key}-{tagger}", config=charts.TOOLBAR)


def describe(info: Version) -> None:
    """One caption on what the model is: what it heard, its score, its input, its calibration."""
    card = info.card
    clip = f" · {float(card.extra['clip_seconds']):g} s segments" if "clip_seconds" in card.extra else ""
    score = "" if card.pretrained else f"test accuracy {card.accuracy_text} · "
    st.caption(f"{training_label(card)} · {score}{card.input_kind} of the {card.window} window{clip} · "
               f"calibration {calibration(card)}")
    unknown = unknown_genres(card)
    if unknown:
        st.caption(f"Cannot know {', '.join(unknown)}: no tag it hears maps to "
                   f"{'this genre' if len(unknown) == 1 else 'these genres'}, so it never answers them.")


def timeline(result: dict, key: str, where=st) -> None:
    """The genres along the clip, when it has more than one segment (one says no more than the bars)."""
    if len(result["segments"]) > 1:
        where.plotly_chart(segment_timeline(result["segments"], f"Genres along the clip ({len(result['segments'])} "
                                                                "segments)"),
                           key=f"timeline-{key}", config=charts.TOOLBAR)


def show_charts(result: dict, key: str) -> None:
    """A model's probabilities and its genres along the clip side by side, then (zero-shot) its raw tags."""
    left, right = st.columns([2, 3]) if len(result["segments"]) > 1 else (st, st)
    left.plotly_chart(probability_bars(result["probabilities"], "Probability per genre"), key=f"bars-{key}",
                      config=charts.TOOLBAR)
    timeline(result, key, right)
    if result.get("tags"):
        show_tags(result, key)


def show_lead(info: Version, result: dict) -> None:
    """The lead answer, large: the top genre with its probability beside its bars, its genres along the
    clip across the page, then its raw tags."""
    st.subheader(info.ref, anchor="lead")
    if "error" in result:
        describe(info)
        st.error(result["error"], icon=":material/error:")
        return
    top = result["top"]
    left, right = st.columns([1, 2])
    with left:
        st.metric("Top genre", top, f"{result['probabilities'][top]:.0%} probability", delta_color="off",
                  delta_arrow="off", border=True)
        describe(info)
        st.caption(f"answered in {result['seconds']:.2f} s")
        if info.card.calibration:
            st.plotly_chart(charts.reliability_diagram(info.card.calibration, "Calibration"),
                            key=f"reliability-{info.ref}", config=charts.TOOLBAR)
    right.plotly_chart(probability_bars(result["probabilities"], "Probability per genre"), key=f"bars-{info.ref}",
                       config=charts.TOOLBAR)
    timeline(result, info.ref)
    if result.get("tags"):
        show_tags(result, info.ref)


def others_table(versions: list[Version], answers: dict[str, dict]) -> pd.DataFrame:
    """One row per other model: what it heard, what it answered, how sure it may be, how fast."""
    rows = []
    for info in versions:
        result, card = answers[info.ref], info.card
        top = result.get("top")
        summary = card.calibration or {}
        rows.append({"model": info.ref, "trained on": heard(card), "top genre": top or "error",
                     "probability": result["probabilities"][top] if top else None,
                     # text, not a number column: a version that never measured it says so instead of "None"
                     "ECE": f"{summary['ece']:.3f}" if "ece" in summary else "not measured",
                     "ECE if calibrated": calibrated_range(summary) or "-",
                     "answered in (s)": result.get("seconds")})
    return pd.DataFrame(rows)


def show_others(versions: list[Version], answers: dict[str, dict]) -> None:
    st.subheader("Other models")
    st.dataframe(others_table(versions, answers), hide_index=True, width="stretch",
                 column_config={"probability": st.column_config.ProgressColumn(format="percent", min_value=0,
                                                                                max_value=1),
                                "ECE": st.column_config.TextColumn(
                                    help="expected calibration error of its probabilities, on its test split "
                                         "(pretrained: its development set)"),
                                "ECE if calibrated": st.column_config.TextColumn(
                                    help="what a perfectly calibrated model would score on as many tracks (95 %): "
                                         "an ECE inside it is no evidence of miscalibration"),
                                "answered in (s)": st.column_config.NumberColumn(format="%.2f")})
    for info in versions:
        result = answers[info.ref]
        label = f"{info.ref}: {result['top']} ({result['probabilities'][result['top']]:.0%})" if "top" in result \
            else f"{info.ref}: error"
        with st.expander(label):
            describe(info)
            if "error" in result:
                st.error(result["error"], icon=":material/error:")
            else:
                show_charts(result, key=info.ref)


def card_facts(version: Version) -> dict[str, str]:
    """What the comparison table shows of a version, one line per fact."""
    card = version.card
    return {"aliases": ", ".join(version.aliases) or "-", "test accuracy [95% CI]": card.accuracy_text,
            "calibration": card.ece_text,
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
    headers = {v.ref: ("champion " if v is current else "") + v.ref for v in shown}
    if current is None:  # the page's one line about champions says that predictions use the newest
        headers[chosen.ref] += " (no champion yet)"
    st.dataframe(pd.DataFrame({headers[v.ref]: card_facts(v) for v in shown}), width="stretch")
    if current is not None and current is not chosen and is_comparable(chosen.card, current.card):
        delta = chosen.card.test_accuracy - current.card.test_accuracy
        st.caption(f"Same test split: {chosen.ref} scores {100 * delta:+.1f} points against the champion.")
    elif current is not None and current is not chosen:
        st.caption("Scored on different test data (fingerprints differ): the two accuracies do not compare.")
    if st.button(f"Make {chosen.ref} the champion", key="promote", disabled=current is chosen,
                 icon=":material/trophy:"):
        promote(name, chosen.version)
        registered_models.clear()
        st.toast(f"{chosen.ref} is the champion of {name}")
        st.rerun()


def predict_all(data: bytes, name: str, chosen: list[Version], uri: str) -> dict[str, dict]:
    """Every chosen model's answer (kept in the session per clip content and store), and the clip's
    preview under ``"preview"``: (waveform, log-mel dB, hop length)."""
    digest = hashlib.sha256(data).hexdigest()
    answers = st.session_state.setdefault("answers", {})
    if answers.get("clip") != (digest, uri):
        answers.clear()
        answers["clip"] = (digest, uri)
    with clip_file(data, Path(name).suffix.lower() or ".wav") as path:
        try:
            answers["preview"] = common.clip_preview(digest, str(path))
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
    return answers


def champion_note(defaults: list[Version]) -> str | None:
    """One line naming every model that answers with its newest version for want of a champion."""
    names = [v.name for v in defaults if fallback_note(v)]
    if not names:
        return None
    return (f"No champion yet for {', '.join(names)}: {'its' if len(names) == 1 else 'their'} newest version "
            "answers (choose one under Champions, or `python -m core models promote NAME VERSION`).")


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
lead_default = lead_version(defaults)
if st.session_state.get("default_refs") != [m.ref for m in defaults]:  # first visit, a promotion, a new model
    st.session_state.default_refs = [m.ref for m in defaults]
    st.session_state.lead = lead_default.ref
    st.session_state.others = [m.ref for m in defaults if m is not lead_default]
if st.session_state.lead not in by_ref:  # a chosen version was deleted from the registry
    st.session_state.lead = lead_default.ref
st.session_state.others = [ref for ref in st.session_state.others if ref in by_ref]
pick_lead, pick_others = st.columns([2, 3])
lead_ref = pick_lead.selectbox(
    "Lead answer", list(by_ref), key="lead", format_func=lambda ref: f"{ref} ({heard(by_ref[ref].card)})",
    help="The model whose answer comes first. By default the best model that has heard real music "
         "(pretrained, or trained on real data), else the best test accuracy.")
other_refs = pick_others.pills(
    "Also ask", list(by_ref), selection_mode="multi", key="others",
    help="Registered versions answering below the lead, in one table; by default the champion of each "
         "registered model. The table says what each has heard; its row opens to its score and charts.")
note = champion_note(defaults)
if note:
    st.caption(note)

upload_tab, record_tab = st.tabs(["Upload a file", "Record"])
with upload_tab:
    uploaded = st.file_uploader(f"Audio file ({', '.join(AUDIO_TYPES[:-1])}; at most {MAX_UPLOAD_MB} MB)",
                                type=AUDIO_TYPES, max_upload_size=MAX_UPLOAD_MB, key="upload")
with record_tab:
    recorded = st.audio_input("Record a clip (44.1 kHz)", sample_rate=RECORD_SAMPLE_RATE, key="record")

clip = uploaded or recorded
if clip is None:
    st.caption("Upload or record a clip to see what the models make of it.")
else:
    data = clip.getvalue()
    st.audio(data)
    others = [by_ref[ref] for ref in other_refs if ref != lead_ref]
    answers = predict_all(data, clip.name or "recording.wav", [by_ref[lead_ref], *others], uri)
    show_lead(by_ref[lead_ref], answers[lead_ref])
    if others:
        show_others(others, answers)
    with st.expander(f"The clip: waveform and log-mel of its first {common.PREVIEW_SECONDS:g} s"):
        common.show_clip(*answers["preview"])

with st.expander("Champions: the versions predictions and `make serve` use by default"):
    champions(models)
