"""How far to trust a probability: expected calibration error, reliability bins, temperature scaling.

A model is *calibrated* when, of the tracks it gives its top genre a probability near p, a fraction p
is right. Everything here is about the top genre (the "confidence" of Guo et al. [1]): the one number a
prediction shows first.

- :func:`reliability`: equal-width confidence bins with, per bin, how many predictions fell in it, their
  mean confidence and how many of them were right (the reliability diagram's points).
- :func:`expected_calibration_error`: the bins' gaps between accuracy and confidence, weighted by the
  share of predictions in each (ECE, in [0, 1]; 0.05 means confidences are 5 points off on average).
- :func:`ece_if_calibrated`: the ECE a perfectly calibrated model would score on as many predictions
  (ECE is biased upward on few: on a test split of a few dozen tracks, by a lot).
- :func:`fit_temperature` / :func:`apply_temperature`: one scalar T that divides the log-probabilities
  before the softmax, chosen to minimise the negative log-likelihood of held-out labels [1]. T > 1 softens
  an over-confident model, T < 1 sharpens a timid one; the top genre never changes.
- :func:`calibration_summary`: all of it for one set of predictions, as the JSON a registered version
  carries (its ``calibration`` card tag).

Probabilities are (n, n_classes) arrays whose rows sum to 1; labels are class indices (n,).

References
----------
.. [1] C. Guo, G. Pleiss, Y. Sun and K. Q. Weinberger, "On calibration of modern neural networks",
   ICML 2017.
.. [2] M. P. Naeini, G. F. Cooper and M. Hauskrecht, "Obtaining well calibrated probabilities using
   Bayesian binning", AAAI 2015 (ECE).
.. [3] J. Bröcker and L. A. Smith, "Increasing the reliability of reliability diagrams", Weather and
   Forecasting 22(3), 2007 (consistency resampling).
"""
from __future__ import annotations

import json

import numpy as np

from core.errors import GenreLabError, require

#: Bins of the reliability diagram and of ECE: ten equal-width confidence bins, as in [1]'s figures
#: (15 bins leave most of them empty on a test split of a few hundred tracks).
N_BINS = 10
#: Temperatures searched (log-uniform bracket); beyond these a model's probabilities carry no information.
T_RANGE = (0.05, 20.0)
#: Spread of the prior on log T (:func:`fit_temperature`): T within [1/e, e] is unsurprising, [1/e², e²] rare.
PRIOR_SD = 1.0
#: Probabilities are clipped here before logs are taken (a hard 0 would make the NLL infinite).
_EPS = 1e-12
#: Resamples behind :func:`ece_if_calibrated`, drawn from a fixed seed: the same range every run.
N_RESAMPLES = 1000


def _checked(proba: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    proba, labels = np.asarray(proba, dtype=np.float64), np.asarray(labels)
    require(proba.ndim == 2 and len(proba) == len(labels) and len(labels) > 0,
            f"calibration: probabilities {proba.shape} and labels {labels.shape} do not match")
    require(np.issubdtype(labels.dtype, np.integer) and labels.min() >= -1 and labels.max() < proba.shape[1],
            "calibration: labels must be class indices (-1: a class the model does not know)")
    return proba, labels.astype(np.int64)


def reliability(proba: np.ndarray, labels: np.ndarray, n_bins: int = N_BINS) -> list[dict]:
    """Per confidence bin ``[low, high)`` (the last one closed): ``count``, mean ``confidence``, ``accuracy``.

    Parameters
    ----------
    proba : ndarray, shape (n, n_classes)
        Predicted probabilities, rows summing to 1.
    labels : ndarray of int, shape (n,)
        True class indices; -1 for a class the model does not know (always wrong).
    n_bins : int
        Equal-width bins over [0, 1].

    Returns
    -------
    list of dict
        One per bin holding predictions (empty bins are left out), keys ``low``, ``high``, ``count``,
        ``confidence`` and ``accuracy`` (fractions).
    """
    proba, labels = _checked(proba, labels)
    confidence, right = proba.max(axis=1), proba.argmax(axis=1) == labels
    which = _confidence_bin(confidence, n_bins)
    bins = []
    for b in range(n_bins):
        inside = which == b
        if inside.any():
            bins.append({"low": b / n_bins, "high": (b + 1) / n_bins, "count": int(inside.sum()),
                         "confidence": float(confidence[inside].mean()), "accuracy": float(right[inside].mean())})
    return bins


def _confidence_bin(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin b holds confidences in [b / n_bins, (b + 1) / n_bins); the nudge keeps 0.6 in the bin it names."""
    return np.clip(np.floor(confidence * n_bins + 1e-9).astype(int), 0, n_bins - 1)


def expected_calibration_error(proba: np.ndarray, labels: np.ndarray, n_bins: int = N_BINS) -> float:
    """ECE: sum over bins of (bin share) x |bin accuracy - bin mean confidence|, in [0, 1] ([2], top genre)."""
    bins = reliability(proba, labels, n_bins)
    n = sum(b["count"] for b in bins)
    return float(sum(b["count"] / n * abs(b["accuracy"] - b["confidence"]) for b in bins))


def ece_if_calibrated(proba: np.ndarray, n_bins: int = N_BINS, level: float = 0.95,
                      n_resamples: int = N_RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """The range of ECE a perfectly calibrated model would score with these confidences, on as many tracks.

    ECE is biased upward on few predictions: a calibrated model's top genre is right with probability
    equal to its confidence, yet on a finite set the bins' hits scatter around it, so it scores above 0
    (about ``sqrt(n_bins / n) / 2``). Consistency resampling [3]: the predictions are resampled with
    replacement ``n_resamples`` times (from ``seed``), each top genre declared right with probability
    its confidence, and the ECE of each resample taken; the middle ``level`` of them is returned. A
    measured ECE inside this range is no evidence of miscalibration; above it, it is.

    Parameters
    ----------
    proba : ndarray, shape (n, n_classes)
        Predicted probabilities, rows summing to 1.

    Returns
    -------
    (low, high) : tuple of float
        In [0, 1].
    """
    proba = np.asarray(proba, dtype=np.float64)
    require(proba.ndim == 2 and len(proba) > 0, f"calibration: probabilities {proba.shape} are not (n, n_classes)")
    confidence, n = proba.max(axis=1), len(proba)
    which = _confidence_bin(confidence, n_bins)
    rng, eces = np.random.default_rng(seed), []
    chunk = max(1, min(n_resamples, 2_000_000 // n))  # resamples drawn at once: at most ~16 MB of indices
    for start in range(0, n_resamples, chunk):
        k = min(chunk, n_resamples - start)
        rows = rng.integers(0, n, size=(k, n))
        gap = (rng.random((k, n)) < confidence[rows]) - confidence[rows]  # right or not, minus confidence
        slot = which[rows] + n_bins * np.arange(k)[:, None]  # bin b of resample r: slot r * n_bins + b
        sums = np.bincount(slot.ravel(), weights=gap.ravel(), minlength=k * n_bins).reshape(k, n_bins)
        eces.append(np.abs(sums).sum(axis=1) / n)  # ECE = sum over bins of |sum of gaps in the bin| / n
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(np.concatenate(eces), [tail, 100 - tail])
    return float(low), float(high)


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(proba) / temperature)`` row by row: (n, n_classes) -> (n, n_classes), in ``proba``'s
    float type; T = 1 returns ``proba`` as it is."""
    proba = np.asarray(proba)
    if temperature == 1.0:
        return proba
    logits = np.log(np.clip(proba.astype(np.float64), _EPS, 1.0)) / float(temperature)
    logits -= logits.max(axis=-1, keepdims=True)
    scaled = np.exp(logits)
    scaled /= scaled.sum(axis=-1, keepdims=True)
    return scaled.astype(proba.dtype if proba.dtype.kind == "f" else np.float64, copy=False)


def negative_log_likelihood(proba: np.ndarray, labels: np.ndarray) -> float:
    """Mean -log p(true class) (nats); a class the model does not know (-1) counts as probability ``_EPS``."""
    proba, labels = _checked(proba, labels)
    p = np.where(labels >= 0, proba[np.arange(len(labels)), np.maximum(labels, 0)], 0.0)
    return float(-np.mean(np.log(np.clip(p, _EPS, 1.0))))


def group_means(proba: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group ids sorted, (n_groups, n_classes) mean probability of each group's rows): a track's clips."""
    ids, position = np.unique(np.asarray(groups), return_inverse=True)
    sums = np.zeros((len(ids), proba.shape[1]))
    np.add.at(sums, position, proba)
    return ids, sums / np.bincount(position)[:, None]


def fit_temperature(proba: np.ndarray, labels: np.ndarray, groups: np.ndarray | None = None) -> float:
    """The T in :data:`T_RANGE` that minimises the NLL of ``apply_temperature(proba, T)`` on ``labels``.

    With ``groups`` (n,), rows are the parts of a larger unit (the clips of a track, which share its
    label) and the NLL is that of each unit's mean tempered probability: the probability a model that
    averages its segments answers. A golden-section search on log T, to 0.1 %. Fit it on predictions
    the model was not trained on (a validation slice), never on the test split.

    A weak prior (log T ~ Normal(0, :data:`PRIOR_SD`)) is added to the NLL, so a slice of a few tracks
    cannot push T to an extreme; with a hundred tracks or more it moves T by a few percent at most.
    """
    proba, labels = _checked(proba, labels)
    if groups is not None:
        ids, first = np.unique(np.asarray(groups), return_index=True)
        unit_labels = labels[first]

        def nll(log_t: float) -> float:
            return (negative_log_likelihood(group_means(apply_temperature(proba, float(np.exp(log_t))), groups)[1],
                                            unit_labels) + prior(log_t, len(ids)))
    else:
        def nll(log_t: float) -> float:
            return negative_log_likelihood(apply_temperature(proba, float(np.exp(log_t))), labels) + prior(log_t, len(labels))

    def prior(log_t: float, n: int) -> float:  # the negative log prior, per unit like the mean NLL
        return log_t ** 2 / (2 * PRIOR_SD ** 2 * n)
    low, high = np.log(T_RANGE[0]), np.log(T_RANGE[1])
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = nll(a), nll(b)
    while high - low > 1e-3:
        if fa <= fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = nll(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = nll(b)
    return float(np.exp((low + high) / 2.0))


def calibration_summary(proba: np.ndarray, labels: np.ndarray, scored_on: str, temperature: float = 1.0,
                        n_bins: int = N_BINS) -> dict:
    """What a registered version says about its probabilities (already temperature-scaled, if it is).

    Returns ``{"ece", "ece_if_calibrated", "n", "scored_on", "temperature", "bins"}``:
    ``ece_if_calibrated`` is :func:`ece_if_calibrated`'s 95 % range, ``scored_on`` names the predictions
    ("test split", "development set, out-of-fold"...), ``bins`` are :func:`reliability`'s.
    """
    bins = reliability(proba, labels, n_bins)
    return {"ece": round(expected_calibration_error(proba, labels, n_bins), 4),
            "ece_if_calibrated": [round(x, 4) for x in ece_if_calibrated(proba, n_bins)], "n": int(len(labels)),
            "scored_on": scored_on, "temperature": round(float(temperature), 4),
            "bins": [{k: round(v, 4) if isinstance(v, float) else v for k, v in b.items()} for b in bins]}


def read_summary(text: str | None) -> dict | None:
    """A :func:`calibration_summary` back from its JSON (a card tag); None when there is none."""
    if not text:
        return None
    try:
        summary = json.loads(text)
    except ValueError:
        raise GenreLabError("model card: the calibration tag is not JSON") from None
    if not isinstance(summary, dict) or not {"ece", "n", "bins"} <= set(summary):
        raise GenreLabError("model card: the calibration tag lacks ece, n or bins")
    return summary


def format_ece(summary: dict | None) -> str:
    """``"ECE 0.043 on the test split (n=769; a perfectly calibrated model: 0.012-0.031)"``, or
    ``"ECE not measured"``."""
    if not summary:
        return "ECE not measured"
    calibrated = calibrated_range(summary)
    return (f"ECE {summary['ece']:.3f} on the {summary.get('scored_on', '?')} (n={summary['n']}"
            + (f"; a perfectly calibrated model: {calibrated}" if calibrated else "") + ")")


def calibrated_range(summary: dict) -> str:
    """``"0.012-0.031"``: the ECE a perfectly calibrated model would score on as many tracks
    (:func:`ece_if_calibrated`, 95 %), or ``""`` for a summary older than it."""
    low_high = summary.get("ece_if_calibrated")
    return f"{low_high[0]:.3f}-{low_high[1]:.3f}" if low_high else ""
