"""Plotly figure builders shared by the pages. Each takes plain data (dicts, DataFrames, arrays) and
returns a ``plotly.graph_objects.Figure``; none reads files or talks to MLflow."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

#: Plotly's toolbar "download as PNG" keeps the chart's title as the file name.
TOOLBAR = {"toImageButtonOptions": {"format": "png", "scale": 2}, "displaylogo": False}


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=50, b=10), legend_title_text="")
    return fig


def count_bars(counts: Mapping[str, int], title: str, name: str, horizontal: bool = False) -> go.Figure:
    """Bars of ``counts`` (label → number), in the mapping's order."""
    labels, values = list(counts), list(counts.values())
    if horizontal:
        fig = go.Figure(go.Bar(y=labels[::-1], x=values[::-1], orientation="h", text=values[::-1],
                               hovertemplate=f"{name}=%{{y}}<br>tracks=%{{x}}<extra></extra>"))
    else:
        fig = go.Figure(go.Bar(x=labels, y=values, text=values,
                               hovertemplate=f"{name}=%{{x}}<br>tracks=%{{y}}<extra></extra>"))
    return _layout(fig, title, height=max(300, 22 * len(labels) + 90) if horizontal else 300)


def genre_distribution(tracks: pd.DataFrame) -> go.Figure:
    """Tracks per genre_top, one bar group per subset, one panel per split.

    ``tracks`` has columns genre_top, subset, split (one row per track).
    """
    counts = (tracks.dropna(subset=["genre_top"])
              .groupby(["split", "subset", "genre_top"], observed=True).size().rename("tracks").reset_index())
    fig = px.bar(counts, x="genre_top", y="tracks", color="subset", facet_col="split", barmode="group",
                 category_orders={"subset": ["small", "medium", "large"],
                                  "split": ["training", "validation", "test"]})
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_xaxes(title_text="", tickangle=-45)
    return _layout(fig, "Genre distribution per subset and split", height=420)


def waveform(y: np.ndarray, sr: int, max_points: int = 4000) -> go.Figure:
    """Waveform of ``y`` (float, shape (n,)) at ``sr`` Hz, drawn as min/max envelope of ``max_points`` bins."""
    bins = max(1, len(y) // max_points)
    usable = len(y) // bins * bins
    frames = y[:usable].reshape(-1, bins)
    t = np.arange(len(frames)) * bins / sr
    fig = go.Figure([
        go.Scatter(x=t, y=frames.max(axis=1), line=dict(width=0.8), name="max", hoverinfo="skip"),
        go.Scatter(x=t, y=frames.min(axis=1), line=dict(width=0.8), name="min", fill="tonexty", hoverinfo="skip"),
    ])
    fig.update_layout(showlegend=False, xaxis_title="time (s)", yaxis_title="amplitude")
    return _layout(fig, "Waveform", height=240)


def spectrogram(db: np.ndarray, sr: int, hop_length: int, title: str = "Log-mel spectrogram") -> go.Figure:
    """A (n_mels, frames) dB array as a heatmap; time in seconds from ``hop_length`` samples per frame."""
    t = np.arange(db.shape[1]) * hop_length / sr
    fig = go.Figure(go.Heatmap(z=db, x=t, y=np.arange(db.shape[0]), colorscale="Magma",
                               colorbar=dict(title="dB"), hovertemplate="t=%{x:.2f}s mel=%{y} %{z:.1f} dB<extra></extra>"))
    fig.update_layout(xaxis_title="time (s)", yaxis_title="mel band")
    return _layout(fig, title, height=300)


# --- study comparisons ----------------------------------------------------------------------------

def size_study(points: pd.DataFrame, baselines: pd.DataFrame, references: pd.DataFrame) -> go.Figure:
    """Accuracy against dataset size: per input a test-accuracy line and CV mean ± std error bars,
    baselines as dotted lines, the original study's reported figures as labelled stars.

    points: size, series, cv_mean, cv_std, test_accuracy, n_tracks; baselines: size, series,
    test_accuracy; references: size, test_accuracy, label. ``size`` values in axis order.
    """
    fig = go.Figure()
    palette = px.colors.qualitative.Plotly
    for i, (series, group) in enumerate(points.groupby("series", sort=False)):
        color = palette[i % len(palette)]
        fig.add_scatter(x=group["size"], y=group["test_accuracy"], mode="lines+markers", name=f"{series}: test",
                        line=dict(color=color), customdata=group[["n_tracks"]],
                        hovertemplate="%{x} (%{customdata[0]} tracks)<br>test %{y:.1%}<extra></extra>")
        fig.add_scatter(x=group["size"], y=group["cv_mean"], mode="markers", name=f"{series}: CV mean ± std",
                        marker=dict(color=color, symbol="circle-open", size=10),
                        error_y=dict(type="data", array=group["cv_std"], visible=True),
                        hovertemplate="%{x}<br>CV %{y:.1%} ± %{error_y.array:.1%}<extra></extra>")
    styles = [("dot", "square"), ("dash", "diamond"), ("dashdot", "triangle-up"), ("longdash", "cross")]
    for i, (series, group) in enumerate(baselines.groupby("series", sort=False)):
        dash, symbol = styles[i % len(styles)]
        fig.add_scatter(x=group["size"], y=group["test_accuracy"], mode="lines+markers", name=f"{series}: test",
                        line=dict(dash=dash, color="gray", width=1), marker=dict(color="gray", size=7, symbol=symbol),
                        hovertemplate=f"{series}<br>%{{x}}: test %{{y:.1%}}<extra></extra>")
    if len(references):
        fig.add_scatter(x=references["size"], y=references["test_accuracy"], mode="markers+text",
                        name="original study (reported)", text=references["label"], textposition="top center",
                        marker=dict(symbol="star", size=14, color="black"),
                        hovertemplate="%{text}<extra></extra>")
    fig.update_yaxes(title_text="accuracy", tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(title_text="dataset size", type="category")
    return _layout(fig, "Accuracy against dataset size", height=440)


def clip_study(folds: pd.DataFrame, tests: pd.DataFrame) -> go.Figure:
    """Clip- and track-level accuracy against clip length: a box with every fold, test as diamonds.

    folds: clip_seconds, level, accuracy (one row per fold); tests: clip_seconds, level, accuracy.
    """
    fig = go.Figure()
    colors = {"clip": "#636EFA", "track": "#EF553B"}
    for level, color in colors.items():
        group = folds[folds["level"] == level]
        fig.add_box(x=group["clip_seconds"].map(_seconds), y=group["accuracy"], name=f"{level} level: CV folds",
                    boxpoints="all", jitter=0.3, pointpos=0, marker=dict(color=color), line=dict(color=color),
                    offsetgroup=level)
        test = tests[tests["level"] == level]
        fig.add_scatter(x=test["clip_seconds"].map(_seconds), y=test["accuracy"], mode="markers",
                        name=f"{level} level: test", offsetgroup=level,
                        marker=dict(symbol="diamond", size=13, color=color, line=dict(color="black", width=1)),
                        hovertemplate="%{x}: test %{y:.1%}<extra></extra>")
    order = [_seconds(s) for s in sorted(set(folds["clip_seconds"]) | set(tests["clip_seconds"]))]
    fig.update_layout(boxmode="group", scattermode="group")
    fig.update_xaxes(title_text="clip length", type="category", categoryorder="array", categoryarray=order)
    fig.update_yaxes(title_text="accuracy", tickformat=".0%")
    return _layout(fig, "Accuracy against clip length", height=440)


def _seconds(value: float) -> str:
    return f"{float(value):g} s"


def fold_spread(scores: pd.DataFrame) -> go.Figure:
    """Validation accuracy of every CV fold behind each run (columns run, fold, accuracy)."""
    fig = px.box(scores, x="run", y="accuracy", points=False).update_traces(
        marker_color="gray", line_color="gray", fillcolor="rgba(128,128,128,0.15)")
    fig.add_traces(px.strip(scores, x="run", y="accuracy", color="run", hover_data=["fold"]).data)
    fig.update_layout(showlegend=False)
    fig.update_yaxes(tickformat=".0%")
    fig.update_xaxes(title_text="")
    return _layout(fig, "Per-fold validation accuracy")


def parallel_coordinates(frame: pd.DataFrame) -> go.Figure:
    """One line per candidate through its hyper-parameters, coloured by ``score``; text columns become
    evenly spaced ticks."""
    dimensions = []
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values):
            dimensions.append(dict(label=name, values=values.to_numpy(dtype=float)))
        else:
            levels = sorted(values.dropna().unique().tolist())
            codes = values.map({v: i for i, v in enumerate(levels)}).to_numpy(dtype=float)
            dimensions.append(dict(label=name, values=codes, tickvals=list(range(len(levels))), ticktext=levels))
    fig = go.Figure(go.Parcoords(dimensions=dimensions,
                                 line=dict(color=frame["score"].to_numpy(dtype=float), colorscale="Viridis",
                                           showscale=True, colorbar=dict(title="CV acc."))))
    return _layout(fig, "Hyper-parameters against CV accuracy (one line per candidate)", height=420)


def learning_curves(history: pd.DataFrame) -> go.Figure:
    """Per-epoch curves, one panel per metric, one line per fold (columns fold, key, step, value)."""
    fig = px.line(history, x="step", y="value", color="fold", facet_col="key", facet_col_wrap=2,
                  facet_row_spacing=0.12, category_orders={"key": ["loss", "val_loss", "accuracy", "val_accuracy"],
                                                           "fold": sorted(history["fold"].unique())})
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_yaxes(matches=None, showticklabels=True, title_text="")
    fig.update_xaxes(title_text="epoch")
    return _layout(fig, "Learning curves per fold", height=520)


def confusion_heatmap(labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str,
                      normalize: bool = True) -> go.Figure:
    """Confusion matrix (rows true genre, columns predicted), optionally as row fractions."""
    counts = np.asarray(matrix, dtype=float)
    values = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    text = [[f"{v:.0%}" if normalize else f"{int(v)}" for v in row] for row in values]
    fig = go.Figure(go.Heatmap(z=values, x=list(labels), y=list(labels), colorscale="Blues", text=text,
                               texttemplate="%{text}", customdata=counts,
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata:.0f} tracks<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title_text="true genre")
    fig.update_xaxes(title_text="predicted genre", tickangle=-45)
    return _layout(fig, title, height=460)


def genre_f1(scores: pd.DataFrame) -> go.Figure:
    """Per-genre test F1 bars, one colour per run (columns run, genre, f1)."""
    fig = px.bar(scores, x="genre", y="f1", color="run", barmode="group")
    fig.update_yaxes(title_text="test F1", range=[0, 1])
    fig.update_xaxes(title_text="", tickangle=-45)
    fig.update_layout(legend=dict(orientation="h", y=-0.35))
    return _layout(fig, "Per-genre F1 on the test split", height=460)
