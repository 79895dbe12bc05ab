"""Test-set metrics shared by every study, under the names the dashboard reads.

``classification_metrics`` gives ``test_accuracy``, ``test_f1_macro`` and per-genre
``test_precision_<genre>``, ``test_recall_<genre>``, ``test_f1_<genre>``; ``confusion`` gives the
``confusion_matrix.json`` payload ``{"labels": [...], "matrix": [[...]]}`` (rows: true, columns: predicted).
"""
from __future__ import annotations

import re

import numpy as np


def metric_key(genre: str) -> str:
    """A genre name as it appears in metric names: non-alphanumerics become ``_`` ("Hip-Hop" → "Hip_Hop")."""
    return re.sub(r"[^0-9A-Za-z]", "_", str(genre))


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str],
                           prefix: str = "test_") -> dict[str, float]:
    """Accuracy, macro F1 and per-genre precision/recall/F1 of string labels, keyed ``<prefix>...``.

    ``labels`` are all genres of the study; a genre absent from both y_true and y_pred scores 0.
    """
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    y_true, y_pred = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    labels = [str(g) for g in labels]
    metrics = {
        f"{prefix}accuracy": float(accuracy_score(y_true, y_pred)),
        f"{prefix}f1_macro": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
    }
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    for genre, p, r, f in zip(labels, precision, recall, f1):
        key = metric_key(genre)
        metrics[f"{prefix}precision_{key}"] = float(p)
        metrics[f"{prefix}recall_{key}"] = float(r)
        metrics[f"{prefix}f1_{key}"] = float(f)
    return metrics


def confusion(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """``{"labels": labels, "matrix": counts}``, rows true genre, columns predicted genre."""
    from sklearn.metrics import confusion_matrix

    labels = [str(g) for g in labels]
    matrix = confusion_matrix(np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str), labels=labels)
    return {"labels": labels, "matrix": matrix.astype(int).tolist()}


def log_test_evaluation(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict[str, float]:
    """Log the test metrics and ``confusion_matrix.json`` on the active MLflow run; return the metrics."""
    import mlflow

    metrics = classification_metrics(y_true, y_pred, labels)
    mlflow.log_metrics(metrics)
    mlflow.log_dict(confusion(y_true, y_pred, labels), "confusion_matrix.json")
    return metrics
