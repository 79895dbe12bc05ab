"""One study as one self-contained HTML file: the question, the data, the plan, the results with their
uncertainty, the charts, the paired comparisons, calibration, the runs and the environment.

The file opens offline: Plotly's JavaScript is embedded once, nothing is fetched. Everything comes from
the MLflow store (the study run, its tree and its artifacts), so a report can be written for any study
that store holds, on any machine, after the fact.
"""
from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass

import pandas as pd
from plotly.offline import get_plotlyjs

from core.calibration import calibrated_range
from core.errors import GenreLabError
from core.mlflow_ui import run_url
from core.report import charts, results
from core.study import runtree as rt

#: Where run links point when the store is a local file: the UI ``python -m core mlflow`` starts.
LOCAL_UI = "http://127.0.0.1:5000"
VERSION_TAG, DEVICE = "tags.genrelab.version.", f"tags.{rt.DEVICE}"
SYNTHETIC_WARNING = ("Synthetic data: these tracks are generated audio, not real music, so the accuracies "
                     "below say nothing about genre recognition on FMA.")
CALIBRATION_NOTE = ("Not measured: this study's final runs logged no calibration of their test "
                    "probabilities (studies before calibration was measured), so how well calibrated they "
                    "are is unknown. Read every probability its models give as a ranking, not as a chance "
                    "of being right.")
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: .2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.lead { font-size: 1.15em; } .warn { background: #fff4d6; border-left: 4px solid #e0a800; padding: .6em 1em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .85em; }
.muted { color: #666; font-size: .9em; }
"""


@dataclass
class StudyRecord:
    """What a report needs of one study, read from the store.

    run: the study run's row of the runs frame (``params.*``, ``tags.*``, ``metrics.*``);
    tree: its run tree; runs: the runs frame of its experiment; plan, comparisons: its artifacts
    (empty when the study predates them or has not finished); ui: the base URL run links point at.
    """

    run: pd.Series
    tree: rt.StudyTree
    runs: pd.DataFrame
    plan: str
    comparisons: list[dict]
    ui: str


def read_study(experiment: str, study_id: str | None = None) -> StudyRecord:
    """The newest study of ``experiment`` (or the study run ``study_id``) from the configured store.

    Raises GenreLabError, one line, when the experiment has no study run.
    """
    import mlflow

    from core import tracking

    uri = tracking.configure()
    runs = tracking.runs_frame([experiment])
    tree, _ = results.tree(runs)
    studies = tree.studies.sort_values("start_time", ascending=False)
    if study_id is not None:
        studies = studies[studies.index.str.startswith(study_id)]
    if studies.empty:
        known = sorted(set(tracking.runs_frame()["experiment"].dropna()))
        raise GenreLabError(f"no study run {'of ' + study_id + ' ' if study_id else ''}in experiment "
                            f"{experiment!r} of {uri} (experiments: {', '.join(known) or 'none'})")
    study = studies.index[0]
    tree = results.subset(tree, lambda f: f["study"] == study)
    plan = _artifact(mlflow.artifacts.load_text, study, "plan.txt") or ""
    comparisons = _artifact(mlflow.artifacts.load_dict, study, "comparisons.json") or []
    ui = uri.rstrip("/") if uri.startswith(("http://", "https://")) else LOCAL_UI
    return StudyRecord(runs.set_index("run_id").loc[study], tree, runs, plan, comparisons, ui)


def _artifact(load, run_id: str, name: str):
    from mlflow.exceptions import MlflowException

    try:
        return load(f"runs:/{run_id}/{name}")
    except (MlflowException, OSError, ValueError):
        return None


def render(record: StudyRecord) -> str:
    """The report of ``record`` as one HTML document (Plotly's JavaScript inline)."""

    run, tree = record.run, record.tree
    title = f"{run['experiment']}: study report"
    body = [f"<h1>{_e(title)}</h1>",
            f"<p class='muted'>Study run <code>{_e(run.name)}</code>, started {_time(run['start_time'])}, "
            f"status {_e(run['status'])}; written {dt.datetime.now():%Y-%m-%d %H:%M}.</p>"]
    if results.is_synthetic(tree):
        body.append(f"<p class='warn'>{_e(SYNTHETIC_WARNING)}</p>")
    body += _question(run) + _data(run, tree) + _plan(record.plan) + _results(record) + _comparisons(record)
    body += _calibration(record)
    ours = record.runs[record.runs["run_id"].isin(results.runs_of(tree).index)]
    body += _runs(record) + _environment(run, ours)
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{_e(title)}</title><style>{STYLE}</style>"
            f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
            + "\n".join(body) + "</body></html>")


def _question(run: pd.Series) -> list[str]:
    note = run.get("tags.mlflow.note.content")  # the spec's description, which states the question
    question = str(note).split("\n\n")[0] if isinstance(note, str) and note else str(run.get("params.spec", ""))
    return ["<h2>The question</h2>", f"<p class='lead'>{_e(question)}</p>",
            f"<p class='muted'>Spec <code>{_e(run.get('params.spec', '?'))}</code>"
            + (f" with <code>{_e(run['params.overrides'])}</code>" if _given(run.get("params.overrides")) else "")
            + f"; model family {_e(run.get('params.family', '?'))}.</p>"]


def _data(run: pd.Series, tree: rt.StudyTree) -> list[str]:
    searches = tree.searches
    grouped = sorted(set(searches["grouped_by"].dropna())) or [run.get("params.group_by")]  # older studies
    rows = pd.DataFrame({"search": searches["name"], "size": searches["size"], "input": results.readable_input(searches),
                         "test tracks": [_tracks(n, k) for n, k in zip(results.metric(searches, rt.N_TEST),
                                                                       results.metric(searches, rt.N_TEST_ARTISTS))]}
                        ).dropna(axis=1, how="all")
    return ["<h2>The data</h2>",
            f"<p>Dataset <b>{_e(run.get(f'tags.{rt.DATASET}', '?'))}</b>"
            + (" (synthetic)" if results.is_synthetic(tree) else "")
            + f", fingerprint <code>{_e(run.get(f'tags.{rt.FINGERPRINT}', '?'))}</code>; "
            + f"CV folds grouped by {_e(', '.join(g for g in grouped if _given(g)) or '(not recorded)')}; the test "
              "split is scored once per "
              "search, by the refit best candidate.</p>",
            _table(rows)]


def _tracks(n: float, artists: float) -> str:
    """``"1,234"`` test tracks, ``"1,234 by 210 artists"`` where the artists were counted, "" if unknown."""
    if pd.isna(n):
        return ""
    return f"{int(n):,}" + ("" if pd.isna(artists) else f" by {int(artists):,} artists")


def _plan(plan: str) -> list[str]:
    if not plan:
        return ["<h2>The plan</h2>", "<p>Not recorded (this study ran before plans were logged).</p>"]
    return ["<h2>The plan</h2>", "<p>What the study said before it started:</p>", f"<pre>{_e(plan)}</pre>"]


def _results(record: StudyRecord) -> list[str]:
    tree = record.tree
    points, baselines = results.size_study(tree, record.runs)
    clips, clip_folds = results.clip_study(tree)
    out = ["<h2>Results</h2>",
           "<p class='muted'>CV accuracy: mean ± std over the folds, with each fold's value; test accuracy: "
           "the refit best candidate scored once on the test split, with its 95% interval (counting the test "
           "tracks' artists where the data names them) and n.</p>"]
    if len(points):
        out.append(_figure(charts.size_study(points, baselines, results.reference_marks([]))))
        out.append(_table(results.score_table(points, ["size", "input"])))
        if len(baselines):
            out += ["<p>The FMA paper's baseline classifiers, on the same data:</p>",
                    _table(results.score_table(baselines, ["size", "input", "model"]))]
        window = results.window_note(points["window"])
        if window:
            out.append(f"<p class='muted'>{_e(window[0].upper() + window[1:])}</p>")
    if len(clips):
        out.append(_figure(charts.clip_study(clips, clip_folds)))
        table = clips.assign(clip=clips["clip_seconds"].map(lambda s: f"{s:g} s"))
        out.append(_table(results.score_table(table, ["clip"])))
    if not len(points) and not len(clips):
        out.append("<p>No search of this study has finished yet.</p>")
    return out


def _comparisons(record: StudyRecord) -> list[str]:
    out = ["<h2>Paired comparisons</h2>"]
    if not record.comparisons:
        return out + ["<p>None: a study writes them when it finishes, for configurations scored on the same "
                      "folds.</p>"]
    rows = pd.DataFrame(record.comparisons)
    out.append(_table(results.paired_table(record.comparisons)))
    out.append("<ul>" + "".join(f"<li>{_e(v[0].upper() + v[1:])}</li>" for v in rows["verdict"]) + "</ul>")
    out.append(_figure(charts.paired_differences(rows)))
    out.append("<p class='muted'>Each pair was scored on the same CV folds; the interval is a paired "
               "t-interval widened for the overlap between CV training sets (Nadeau &amp; Bengio).</p>")
    return out


def _calibration(record: StudyRecord) -> list[str]:
    """Each final model's calibration on the test split (its ``calibration.json``), with its diagram."""
    import mlflow

    out = ["<h2>Calibration</h2>"]
    finals = record.tree.finals
    summaries = {name: _artifact(mlflow.artifacts.load_dict, run_id, "calibration.json")
                 for run_id, name in zip(finals.index, finals["name"])}
    summaries = {name: summary for name, summary in summaries.items() if summary}
    if not summaries:
        return out + [f"<p>{_e(CALIBRATION_NOTE)}</p>"]
    out.append("<p class='muted'>How often each final model's top genre was right against how sure it said it "
               "was, on the test split, after temperature scaling fitted on a validation slice the refit kept "
               "out of training. ECE: expected calibration error, the confidence bins' gaps weighted by their "
               "share of tracks (0 is perfect, but on few tracks even a perfectly calibrated model scores "
               "above 0: the range it would score on as many tracks is given beside it).</p>")
    rows = pd.DataFrame([{"final model": name, "ECE": f"{s['ece']:.3f}", "test tracks": s["n"],
                          "a calibrated model's ECE (95%)": calibrated_range(s) or "-",
                          "temperature": f"{s['temperature']:.2f}"} for name, s in summaries.items()])
    out.append(_table(rows))
    out += [_figure(charts.reliability_diagram(summary, name)) for name, summary in summaries.items()]
    return out


def _runs(record: StudyRecord) -> list[str]:
    tree, experiment_id = record.tree, record.run["experiment_id"]
    frame = pd.concat([tree.studies, tree.searches, tree.finals, tree.baselines])
    items = "".join(
        f"<li>{_e(kind)} <a href='{_e(run_url(record.ui, experiment_id, run_id))}'>{_e(name)}</a> "
        f"<code>{_e(run_id)}</code></li>"
        for run_id, kind, name in zip(frame.index, frame["kind"], frame["name"]))
    return ["<h2>Runs</h2>",
            f"<p class='muted'>In the MLflow store (links open its UI at {_e(record.ui)}: "
            "<code>python -m core mlflow</code> starts it for a local store).</p>", f"<ul>{items}</ul>"]


def _environment(run: pd.Series, runs: pd.DataFrame) -> list[str]:
    """The study run's versions, commit and host, and the devices its fits (``runs``) ran on."""
    versions = {k[len(VERSION_TAG):]: v for k, v in run.items() if k.startswith(VERSION_TAG) and _given(v)}
    devices = sorted(set(runs[DEVICE].dropna())) if DEVICE in runs else []
    facts = {"git commit": run.get("tags.mlflow.source.git.commit"),
             "uncommitted changes": run.get("tags.genrelab.git_dirty"), "host": run.get("tags.genrelab.host"),
             "fits ran on": run.get("params.executor"), "devices": "; ".join(devices),
             "precision": run.get("params.precision"), "seed": run.get("params.seed"), **versions}
    rows = pd.DataFrame([(k, v) for k, v in facts.items() if _given(v)], columns=["", "value"])
    return ["<h2>Environment</h2>", _table(rows)]


def _figure(fig) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config=charts.TOOLBAR)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, escape=True, na_rep="", border=0)


def _given(value) -> bool:
    return isinstance(value, str) and value != "" or (value is not None and not isinstance(value, str)
                                                      and not pd.isna(value))


def _time(value) -> str:
    stamp = pd.to_datetime(value, unit="ms", errors="coerce") if not isinstance(value, pd.Timestamp) else value
    return "?" if pd.isna(stamp) else f"{stamp:%Y-%m-%d %H:%M} UTC"


def _e(value) -> str:
    return html.escape(str(value))
