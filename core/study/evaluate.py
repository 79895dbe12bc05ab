"""Test-set metrics shared by every study, under the names :mod:`core.study.runtree` owns.

``classification_metrics`` gives ``test_accuracy`` with its 95% Wilson interval and the number of test
tracks (and of their artists, where the data names them: the interval then counts artists, not tracks,
as independent; :func:`core.stats.accuracy_interval`), ``test_f1_macro`` and per-genre precision/recall/F1 (``test_f1/<genre>``); ``confusion`` gives
the ``confusion_matrix.json`` payload ``{"labels": [...], "matrix": [[...]]}`` (rows: true genre,
columns: predicted genre); ``log_calibration`` the test probabilities' calibration (``test_ece`` and
``calibration.json``, :func:`core.calibration.calibration_summary`).
"""
from __future__ import annotations

import numpy as np

from core.calibration import calibration_summary
from core.stats import accuracy_interval
from core.study import runtree


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str],
                           artists: np.ndarray | None = None) -> dict[str, float]:
    """Accuracy (with interval and n), macro F1 and per-genre precision/recall/F1 of string labels.

    ``labels`` are all genres of the study; a genre absent from both y_true and y_pred scores 0.
    ``artists`` (one per track, optional) makes the interval count artists (``n_test_artists``).
    """
    from sklearn.metrics import f1_score, precision_recall_fscore_support


    y_true, y_pred = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    labels = [str(g) for g in labels]
    accuracy = accuracy_interval(y_true, y_pred, artists=artists)
    metrics = {
        runtree.TEST_ACCURACY: accuracy["accuracy"], runtree.TEST_CI_LOW: accuracy["ci_low"],
        runtree.TEST_CI_HIGH: accuracy["ci_high"], runtree.N_TEST: float(accuracy["n"]),
        runtree.TEST_F1: float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
    }
    if artists is not None:
        metrics[runtree.N_TEST_ARTISTS] = float(accuracy["n_artists"])
    scores = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)[:3]
    for metric, values in zip(runtree.GENRE_METRICS, scores):
        metrics.update({runtree.genre_metric(metric, genre): float(v) for genre, v in zip(labels, values)})
    return metrics


def confusion(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """``{"labels": labels, "matrix": counts}``, rows true genre, columns predicted genre."""
    from sklearn.metrics import confusion_matrix

    labels = [str(g) for g in labels]
    matrix = confusion_matrix(np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str), labels=labels)
    return {"labels": labels, "matrix": matrix.astype(int).tolist()}


def log_test_evaluation(log, y_true: np.ndarray, y_pred: np.ndarray, labels: list[str],
                        artists: np.ndarray | None = None) -> dict[str, float]:
    """Log the test metrics and ``confusion_matrix.json`` through ``log`` (a
    :class:`core.study.contract.RunLog`); return the metrics."""
    metrics = classification_metrics(y_true, y_pred, labels, artists)
    log.metrics(metrics)
    log.dict(confusion(y_true, y_pred, labels), "confusion_matrix.json")
    return metrics


def log_calibration(log, y_true: np.ndarray, proba: np.ndarray, classes: list[str], temperature: float) -> dict:
    """Log how calibrated the test probabilities ``proba`` (rows as ``y_true``, columns ``classes``) are:
    metric ``test_ece``, param ``temperature``, artifact ``calibration.json``; return the summary."""
    position = {str(c): i for i, c in enumerate(classes)}
    labels = np.array([position.get(str(g), -1) for g in y_true], dtype=np.int64)  # -1: a genre it never saw
    summary = calibration_summary(proba, labels, "test split", temperature)
    log.metrics({runtree.TEST_ECE: summary["ece"]})
    log.params({runtree.TEMPERATURE: round(float(temperature), 4)})
    log.dict(summary, "calibration.json")
    return summary
