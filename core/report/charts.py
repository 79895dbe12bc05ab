"""Plotly figure builders shared by the pages. Each takes plain data (dicts, DataFrames, arrays) and
returns a ``plotly.graph_objects.Figure``; none reads files or talks to MLflow."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.calibration import calibrated_range
from core.study import runtree as rt

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
# Scores are drawn with their uncertainty: test accuracy as a marker with its 95% interval, CV as the
# dots of its folds and their mean ± std. Points at different settings are not joined by trend lines
# (a faint dotted line at most): with intervals this wide a line would suggest a trend the data do not show.

def _faint(color: str, alpha: float = 0.35) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _ci(frame: pd.DataFrame, color: str) -> dict:
    """Asymmetric error bars from test accuracy to its interval bounds."""
    acc = frame[rt.TEST_ACCURACY].to_numpy(dtype=float)
    return dict(type="data", symmetric=False, visible=True, color=color, thickness=1.5, width=5,
                array=frame[rt.TEST_CI_HIGH].to_numpy(dtype=float) - acc,
                arrayminus=acc - frame[rt.TEST_CI_LOW].to_numpy(dtype=float))


def _cv_traces(fig: go.Figure, x: list, values: list[list[float]], name: str, color: str, group: str) -> None:
    """Every fold as a dot, and the folds' mean ± std (ddof=0, as the studies log it) as a bar."""
    xs = [p for p, v in zip(x, values) for _ in v]
    folds = [k + 1 for v in values for k in range(len(v))]
    fig.add_scatter(x=xs, y=[a for v in values for a in v], mode="markers", name=f"{name}: CV folds",
                    marker=dict(color=color, symbol="circle-open", size=7), offsetgroup=group, customdata=folds,
                    hovertemplate="%{x} fold %{customdata}: %{y:.1%}<extra>" + name + "</extra>")
    kept = [(p, v) for p, v in zip(x, values) if len(v)]
    means = [float(np.mean(v)) for _, v in kept]
    stds = [float(np.std(v)) for _, v in kept]
    fig.add_scatter(x=[p for p, _ in kept], y=means, mode="markers", name=f"{name}: CV mean ± std",
                    marker=dict(color=color, symbol="line-ew-open", size=18, line=dict(width=2)),
                    error_y=dict(type="data", array=stds, visible=True, color=color, thickness=1, width=8),
                    offsetgroup=group, customdata=[[len(v)] for _, v in kept],
                    hovertemplate="%{x}: CV %{y:.1%} ± %{error_y.array:.1%} over %{customdata[0]} folds<extra>"
                                  + name + "</extra>")


def _test_trace(fig: go.Figure, frame: pd.DataFrame, x, name: str, color: str, group: str, symbol: str = "circle",
                line: bool = True) -> None:
    fig.add_scatter(x=x, y=frame[rt.TEST_ACCURACY], mode="lines+markers" if line and len(frame) > 1 else "markers",
                    name=f"{name}: test (95% CI)", offsetgroup=group, error_y=_ci(frame, color),
                    line=dict(color=_faint(color), width=1, dash="dot"),
                    marker=dict(color=color, size=10, symbol=symbol, line=dict(color="black", width=1)),
                    customdata=frame[["test"]], hovertemplate="%{x}: test %{customdata[0]}<extra>" + name + "</extra>")


#: More inputs than this at a single dataset size are drawn side by side (:func:`inputs_study`), not as panels.
MAX_PANELS = 4


def side_by_side(points: pd.DataFrame) -> bool:
    """Whether :func:`size_study` draws ``points`` as :func:`inputs_study` (one size, many inputs)."""
    return points["size"].nunique() == 1 and points["input"].nunique() > MAX_PANELS


def size_study(points: pd.DataFrame, baselines: pd.DataFrame, references: pd.DataFrame,
               show_baselines: bool = True) -> go.Figure:
    """Accuracy against dataset size of one study as small multiples, one panel per input: the test
    accuracy with its 95% interval, the CV folds and their mean ± std; the best baseline at each size as a
    quiet grey band (its 95% interval); the best input at each size ringed; the original study's reported
    figures as stars. Every panel draws the same encodings, so the legend names them once (at most six
    entries, whatever the number of panels). A single size with more than :data:`MAX_PANELS` inputs (which
    embedding) is drawn by :func:`inputs_study` instead.

    points: input, size, fold_values (list per row), test_accuracy, its interval and ``test`` (text);
    baselines: size, model (label with the k used), the test columns; references: size, test_accuracy,
    label. ``size`` values in axis order. Each trace's ``meta`` names its panel (the input).
    """
    inputs = list(dict.fromkeys(points["input"]))
    sizes = list(dict.fromkeys([*points["size"], *baselines["size"]]))
    if side_by_side(points):
        return inputs_study(points, baselines if show_baselines else baselines.iloc[0:0], references)
    fig = make_subplots(rows=1, cols=len(inputs), shared_yaxes=True, horizontal_spacing=0.03, column_titles=inputs)
    shown: set[str] = set()

    def add(trace: go.Scatter, col: int) -> None:
        trace.update(legendgroup=trace.name, showlegend=trace.name not in shown)
        shown.add(trace.name)
        fig.add_trace(trace, row=1, col=col)

    tested = points.dropna(subset=[rt.TEST_ACCURACY])
    best = (tested.loc[tested.groupby("size", sort=False)[rt.TEST_ACCURACY].idxmax()]
            if len(inputs) > 1 and len(tested) else tested.iloc[0:0])
    floor = _best_baselines(baselines) if show_baselines else baselines.iloc[0:0]
    for col, name in enumerate(inputs, start=1):
        if len(floor):
            _baseline_band(fig, lambda trace, c=col: add(trace, c), floor, sizes, col, name)
        for trace in _test_and_cv(points[points["input"] == name], "#636EFA", name):
            add(trace, col)
        ringed = best[best["input"] == name]
        if len(ringed):
            add(go.Scatter(x=ringed["size"], y=ringed[rt.TEST_ACCURACY], mode="markers", meta=name,
                           name="best input at this size (test)", offsetgroup="test", hoverinfo="skip",
                           marker=dict(symbol="circle-open", size=22, color="#d4a017", line=dict(width=2.5))), col)
        if len(references):
            add(go.Scatter(x=references["size"], y=references["test_accuracy"], mode="markers", meta=name,
                           name="original study (reported)", text=references["label"],
                           marker=dict(symbol="star", size=13, color="black"),
                           hovertemplate="%{text}<extra></extra>"), col)
    fig.update_layout(scattermode="group", scattergap=0.5,
                      legend=dict(orientation="h", yanchor="top", y=-0.22, x=0, xanchor="left"))
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    fig.update_yaxes(title_text="accuracy", col=1)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=sizes, title_text="dataset size")
    return _layout(fig, "Accuracy against dataset size, one panel per input", height=500)


def inputs_study(points: pd.DataFrame, baselines: pd.DataFrame, references: pd.DataFrame) -> go.Figure:
    """One dataset size, several inputs side by side (which embedding), one row each: the MLP's test
    accuracy with its 95% interval, its CV folds and their mean ± std, and the best of the baseline
    classifiers on the same table (grey, with its interval), so a head's and an input's effects read apart;
    the original study's reported figure at that size as a dotted line. Rows read across (long names fit).

    points, baselines, references: as :func:`size_study`'s, with ``input`` naming each baseline's table too.
    """
    blue, grey = "#636EFA", "#9a9a9a"
    inputs = list(dict.fromkeys(points["input"]))
    fig = go.Figure()
    folds = points["fold_values"].tolist()
    fig.add_scatter(x=[a for v in folds for a in v], y=[i for i, v in zip(points["input"], folds) for _ in v],
                    mode="markers", name="CV folds", orientation="h", offsetgroup="cv",
                    marker=dict(color=blue, symbol="circle-open", size=7), hovertemplate="fold: %{x:.1%}<extra>%{y}</extra>")
    kept = points[[len(v) > 0 for v in folds]]
    fig.add_scatter(x=[float(np.mean(v)) for v in kept["fold_values"]], y=kept["input"], mode="markers",
                    name="CV mean ± std", orientation="h", offsetgroup="cv",
                    error_x=dict(type="data", array=[float(np.std(v)) for v in kept["fold_values"]], color=blue, width=6),
                    marker=dict(color=blue, symbol="line-ns-open", size=16, line=dict(width=2)),
                    hovertemplate="CV %{x:.1%} ± %{error_x.array:.1%}<extra>%{y}</extra>")
    tested = points.dropna(subset=[rt.TEST_ACCURACY])
    fig.add_scatter(x=tested[rt.TEST_ACCURACY], y=tested["input"], mode="markers", name="test accuracy (95% CI)",
                    orientation="h", offsetgroup="test", error_x=_ci(tested, blue), customdata=tested[["test"]],
                    marker=dict(color=blue, size=10, line=dict(color="black", width=1)),
                    hovertemplate="test %{customdata[0]}<extra>%{y}</extra>")
    scored = baselines.dropna(subset=[rt.TEST_ACCURACY])
    scored = scored[scored["input"].isin(inputs)]
    if len(scored):
        best = scored.loc[scored.groupby("input", sort=False)[rt.TEST_ACCURACY].idxmax()]
        fig.add_scatter(x=best[rt.TEST_ACCURACY], y=best["input"], mode="markers", orientation="h",
                        offsetgroup="baseline", name="best baseline on the same table (test, 95% CI)",
                        error_x=_ci(best, grey), customdata=best[["model", "test"]].to_numpy(),
                        marker=dict(symbol="diamond", size=10, color=grey, line=dict(color="black", width=1)),
                        hovertemplate="%{customdata[0]}: test %{customdata[1]}<extra>%{y}</extra>")
    size = points["size"].iloc[0]
    for _, mark in references[references["size"] == size].iterrows():
        fig.add_scatter(x=[mark["test_accuracy"]] * 2, y=[inputs[0], inputs[-1]], mode="lines",
                        name="original study (reported)", line=dict(color="black", dash="dot", width=1),
                        hovertemplate=f"{mark['label']}<extra></extra>")
    fig.update_layout(scattermode="group", scattergap=0.3,
                      legend=dict(orientation="h", yanchor="top", y=-0.08 - 1.6 / len(inputs), x=0, xanchor="left"))
    fig.update_xaxes(tickformat=".0%", range=[0, 1.05], title_text="accuracy")
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=inputs[::-1], automargin=True)
    return _layout(fig, f"Accuracy by input, dataset size {size}", height=200 + 40 * len(inputs))


def _test_and_cv(group: pd.DataFrame, color: str, panel: str, x: str = "size", line: bool = True) -> list[go.Scatter]:
    """One panel's test accuracy (with its 95% interval) and CV traces (folds, mean ± std), over column ``x``."""
    fig = go.Figure()
    _test_trace(fig, group, group[x], "", color, "test", line=line)
    _cv_traces(fig, group[x].tolist(), group["fold_values"].tolist(), "", color, "cv")
    for trace, name in zip(fig.data, ["test accuracy (95% CI)", "CV folds", "CV mean ± std"]):
        trace.update(name=name, meta=panel, hovertemplate=trace.hovertemplate.replace("<extra></extra>",
                                                                                      f"<extra>{panel}</extra>"))
    return list(fig.data)


def _best_baselines(baselines: pd.DataFrame) -> pd.DataFrame:
    """The baseline with the highest test accuracy at each size."""
    scored = baselines.dropna(subset=[rt.TEST_ACCURACY])
    if scored.empty:
        return scored
    return scored.loc[scored.groupby("size", sort=False)[rt.TEST_ACCURACY].idxmax()]


def _baseline_band(fig: go.Figure, add, floor: pd.DataFrame, sizes: list, col: int, panel: str) -> None:
    """The best baseline at each size as a grey band over its 95% interval and a line at its accuracy."""
    grey = "#9a9a9a"
    for _, base in floor.iterrows():
        i = sizes.index(base["size"])
        fig.add_shape(type="rect", x0=i - 0.45, x1=i + 0.45, y0=base[rt.TEST_CI_LOW], y1=base[rt.TEST_CI_HIGH],
                      fillcolor=_faint(grey, 0.25), line_width=0, layer="below", row=1, col=col)
    add(go.Scatter(x=floor["size"], y=floor[rt.TEST_ACCURACY], mode="markers", name="best baseline (95% CI band)",
                   meta=panel, customdata=floor[["model", "test"]].to_numpy(),
                   marker=dict(symbol="line-ew-open", size=34, color=grey, line=dict(width=2, color=grey)),
                   hovertemplate="%{x}: %{customdata[0]}, test %{customdata[1]}<extra>best baseline</extra>"))


def clip_study(searches: pd.DataFrame, folds: pd.DataFrame) -> go.Figure:
    """Track- and clip-level accuracy against clip length: CV folds with their mean ± std, and the final
    model on the test split (track level with its 95% interval; clip level without one, since the clips
    of a track are not independent).

    searches: clip_seconds, test_accuracy (track level), its interval, ``test`` (text), clip_test;
    folds: clip_seconds, level ('track' | 'clip'), fold, accuracy.
    """
    fig = go.Figure()
    colors = {"track": "#EF553B", "clip": "#636EFA"}
    order = sorted(set(searches["clip_seconds"]) | set(folds["clip_seconds"]))
    for level, color in colors.items():
        values = [folds[(folds["level"] == level) & (folds["clip_seconds"] == s)].sort_values("fold")["accuracy"]
                  .tolist() for s in order]
        _cv_traces(fig, [_seconds(s) for s in order], values, f"{level} level", color, f"{level} cv")
    _test_trace(fig, searches, searches["clip_seconds"].map(_seconds), "track level", colors["track"],
                "track test", "diamond", line=False)
    if "clip_test" in searches:
        fig.add_scatter(x=searches["clip_seconds"].map(_seconds), y=searches["clip_test"], mode="markers",
                        name="clip level: test (no interval)", offsetgroup="clip test",
                        marker=dict(symbol="diamond-open", size=11, color=colors["clip"]),
                        hovertemplate="%{x}: clip-level test %{y:.1%} (no interval: the clips of a track are "
                                      "not independent)<extra></extra>")
    fig.update_layout(scattermode="group", scattergap=0.4)
    fig.update_xaxes(title_text="clip length", type="category", categoryorder="array",
                     categoryarray=[_seconds(s) for s in order])
    fig.update_yaxes(title_text="accuracy", tickformat=".0%", range=[0, 1.05])
    return _layout(fig, "Accuracy against clip length", height=460)


def _seconds(value: float) -> str:
    return f"{float(value):g} s"


def fold_spread(scores: pd.DataFrame) -> go.Figure:
    """Validation accuracy of every CV fold behind each run, with their mean ± std (columns run, fold, accuracy)."""
    fig = go.Figure()
    palette = px.colors.qualitative.Plotly
    for i, (run, group) in enumerate(scores.groupby("run", sort=False)):
        _cv_traces(fig, [run], [group.sort_values("fold")["accuracy"].tolist()], run, palette[i % len(palette)], run)
    fig.update_layout(showlegend=False, scattermode="group")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05], title_text="validation accuracy")
    fig.update_xaxes(title_text="", type="category")
    return _layout(fig, "Per-fold validation accuracy (dots) and their mean ± std")


def paired_differences(comparisons: pd.DataFrame) -> go.Figure:
    """Paired differences A − B over the same folds with their 95% interval, in points (columns a, b,
    mean_diff, ci_low, ci_high, verdict); intervals beyond ±100 points are cut at the axis."""
    names = [f"{a} − {b}" if len(a) + len(b) < 40 else f"{a} −<br>{b}"  # long names: two lines, so the plot keeps its width
             for a, b in zip(comparisons["a"], comparisons["b"])]
    mean = 100 * comparisons["mean_diff"].to_numpy(dtype=float)
    fig = go.Figure(go.Scatter(
        x=mean, y=names, mode="markers", marker=dict(size=10, color="#636EFA"), customdata=comparisons[["verdict"]],
        error_x=dict(type="data", symmetric=False, array=100 * comparisons["ci_high"].to_numpy(dtype=float) - mean,
                     arrayminus=mean - 100 * comparisons["ci_low"].to_numpy(dtype=float), visible=True),
        hovertemplate="%{customdata[0]}<extra></extra>"))
    fig.add_vline(x=0, line=dict(color="gray", dash="dot"))
    fig.update_xaxes(title_text="difference in accuracy (points, A − B)", range=[-100, 100], zeroline=False)
    fig.update_yaxes(autorange="reversed", title_text="")
    return _layout(fig, "Paired comparisons<br>on the same folds (95% CI)", height=max(220, 60 * len(names) + 120))


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
    """Per-genre test F1 bars, one colour per run (columns run, genre, value)."""
    fig = px.bar(scores, x="genre", y="value", color="run", barmode="group")
    fig.update_yaxes(title_text="test F1", range=[0, 1])
    fig.update_xaxes(title_text="", tickangle=-45)
    fig.update_layout(legend=dict(orientation="h", y=-0.35))
    return _layout(fig, "Per-genre F1 on the test split", height=460)


def reliability_diagram(summary: Mapping, title: str = "Reliability") -> go.Figure:
    """A calibration summary (:func:`core.calibration.calibration_summary`) as a reliability diagram: per
    confidence bin, how often the top genre was right against how sure the model was (the diagonal is
    perfect calibration); marker areas follow the bins' counts."""
    bins = list(summary["bins"])
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line=dict(color="#9aa0a6", dash="dash"), hoverinfo="skip"))
    counts = np.array([b["count"] for b in bins], dtype=float)
    fig.add_trace(go.Scatter(
        x=[b["confidence"] for b in bins], y=[b["accuracy"] for b in bins], mode="lines+markers",
        name="top genre right (per bin)", line=dict(color="#1f77b4"),
        marker=dict(size=6 + 18 * np.sqrt(counts / counts.max()) if len(counts) else 6),
        customdata=[[b["count"], b["low"], b["high"]] for b in bins],
        hovertemplate="said %{x:.0%}, right %{y:.0%}<br>%{customdata[0]} predictions "
                      "(confidence %{customdata[1]:.0%}-%{customdata[2]:.0%})<extra></extra>"))
    fig.update_xaxes(title="confidence in the top genre", range=[0, 1], tickformat=".0%")
    fig.update_yaxes(title="share right", range=[0, 1], tickformat=".0%")
    # Short lines under the title: the diagram may sit in a third of a 1280 px page.
    calibrated = calibrated_range(summary)
    lines = [f"ECE {summary['ece']:.3f}, n={summary['n']}, temperature {summary.get('temperature', 1.0):.2f}",
             f"on the {summary.get('scored_on', '?')}"] + ([f"perfectly calibrated: {calibrated}"] if calibrated else [])
    # Plotly sets the title's first line on the middle of the top margin: a third line takes 40 px more.
    extra = 40 * (len(lines) - 2)
    _layout(fig, f"{title}<br><sup>{'<br>'.join(lines)}</sup>", height=400 + extra)
    fig.update_layout(margin=dict(l=10, r=10, t=90 + extra, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.22))
    return fig
