"""Calibration measures on predictions whose calibration is known by construction."""
from __future__ import annotations

import numpy as np
import pytest

from core import calibration as cal


def calibrated_predictions(n: int, n_classes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and labels drawn from those probabilities: calibrated by construction."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, size=(n, n_classes))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(n_classes, p=row) for row in proba])
    return proba, labels


def test_a_model_right_as_often_as_it_says_has_almost_no_calibration_error():
    proba, labels = calibrated_predictions(20_000)
    assert cal.expected_calibration_error(proba, labels) < 0.02
    bins = cal.reliability(proba, labels)
    assert sum(b["count"] for b in bins) == 20_000
    for b in bins:
        assert b["low"] <= b["confidence"] <= b["high"]
        if b["count"] > 500:
            assert b["accuracy"] == pytest.approx(b["confidence"], abs=0.05)


def test_ece_by_hand():
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 1])
    # bin [0.9, 1.0): 2 predictions at 0.9, 1 right -> gap 0.4; [0.6, 0.7): 0.6, right -> 0.4; [0.7, 0.8): 0.7 right -> 0.3
    assert cal.expected_calibration_error(proba, labels) == pytest.approx(0.5 * 0.4 + 0.25 * 0.4 + 0.25 * 0.3)
    assert [(b["low"], b["count"]) for b in cal.reliability(proba, labels)] == \
        [(pytest.approx(0.6), 1), (pytest.approx(0.7), 1), (pytest.approx(0.9), 2)]


def test_temperature_scaling_undoes_overconfidence_without_changing_a_single_answer():
    proba, labels = calibrated_predictions(8_000, seed=1)
    sharp = cal.apply_temperature(proba, 1 / 2.5)  # as a model 2.5x too sure of itself
    held_out, test = slice(0, 4_000), slice(4_000, None)
    t = cal.fit_temperature(sharp[held_out], labels[held_out])
    assert t == pytest.approx(2.5, rel=0.1)
    fixed = cal.apply_temperature(sharp[test], t)
    assert (fixed.argmax(axis=1) == sharp[test].argmax(axis=1)).all()
    assert np.allclose(fixed.sum(axis=1), 1.0)
    before, after = cal.expected_calibration_error(sharp[test], labels[test]), cal.expected_calibration_error(fixed, labels[test])
    assert before > 0.1 and after < 0.03
    assert cal.negative_log_likelihood(fixed, labels[test]) < cal.negative_log_likelihood(sharp[test], labels[test])


def test_timid_models_get_a_temperature_below_one_and_one_is_a_no_op():
    proba, labels = calibrated_predictions(6_000, seed=2)
    soft = cal.apply_temperature(proba, 3.0)
    assert cal.fit_temperature(soft, labels) == pytest.approx(1 / 3.0, rel=0.1)
    assert cal.apply_temperature(proba, 1.0) is not None and np.array_equal(cal.apply_temperature(proba, 1.0), proba)


def test_a_label_the_model_does_not_know_is_always_wrong():
    proba = np.array([[0.8, 0.2], [0.8, 0.2]])
    assert cal.expected_calibration_error(proba, np.array([0, -1])) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="class indices"):
        cal.reliability(proba, np.array([0, 2]))


def test_the_summary_travels_as_json_and_reads_back():
    import json

    proba, labels = calibrated_predictions(500, seed=3)
    summary = cal.calibration_summary(proba, labels, "test split", temperature=1.7)
    back = cal.read_summary(json.dumps(summary))
    assert back == summary and back["n"] == 500 and back["temperature"] == 1.7
    low, high = summary["ece_if_calibrated"]
    assert cal.format_ece(back) == (f"ECE {summary['ece']:.3f} on the test split (n=500; a perfectly calibrated "
                                    f"model: {low:.3f}-{high:.3f})")
    older = {k: v for k, v in summary.items() if k != "ece_if_calibrated"}  # a card from before the range
    assert cal.format_ece(older) == f"ECE {summary['ece']:.3f} on the test split (n=500)"
    assert cal.read_summary("") is None and cal.format_ece(None) == "ECE not measured"


@pytest.mark.parametrize("n", [30, 300, 3_000])
def test_a_calibrated_model_scores_inside_the_calibrated_range_and_an_overconfident_one_above_it(n):
    """ECE is biased upward on few predictions: the range says how far, and it narrows as n grows."""
    inside = above = 0
    for seed in range(20):
        proba, labels = calibrated_predictions(n, seed=100 + seed)
        low, high = cal.ece_if_calibrated(proba)
        inside += low <= cal.expected_calibration_error(proba, labels) <= high
        sharp = cal.apply_temperature(proba, 1 / 3)  # 3x too sure of itself
        above += cal.expected_calibration_error(sharp, labels) > cal.ece_if_calibrated(sharp)[1]
    assert inside >= 17  # a 95 % range: 19 of 20 expected
    assert above >= (10 if n == 30 else 20)
    low, high = cal.ece_if_calibrated(calibrated_predictions(n)[0])
    assert 0 < low < high < {30: 0.35, 300: 0.1, 3_000: 0.03}[n]
    assert cal.ece_if_calibrated(calibrated_predictions(n)[0]) == (low, high)  # seeded: the same every run


def test_a_temperature_for_tracks_is_fitted_on_the_mean_of_their_clips():
    rng = np.random.default_rng(4)
    track_proba, labels = calibrated_predictions(3_000, seed=4)
    # Each track's 6 clips: noisy, over-confident versions of the track's probabilities.
    clips = np.repeat(np.log(track_proba), 6, axis=0) + rng.normal(0, 0.3, size=(18_000, 4))
    clips = cal.apply_temperature(np.exp(clips) / np.exp(clips).sum(axis=1, keepdims=True), 0.4)
    groups, clip_labels = np.repeat(np.arange(3_000), 6), np.repeat(labels, 6)
    t = cal.fit_temperature(clips, clip_labels, groups)
    ids, tracks = cal.group_means(cal.apply_temperature(clips, t), groups)
    assert list(ids) == list(range(3_000))
    untempered = cal.group_means(clips, groups)[1]
    assert cal.expected_calibration_error(tracks, labels) < 0.5 * cal.expected_calibration_error(untempered, labels)
    assert cal.expected_calibration_error(tracks, labels) < 0.04


def test_a_few_held_out_tracks_cannot_push_the_temperature_to_an_extreme():
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.95, 0.05]])
    wrong = np.array([1, 1, 1])  # three confident mistakes: without a prior T would run to its bound
    assert cal.fit_temperature(proba, wrong) < 10
    assert cal.fit_temperature(proba, np.array([0, 0, 0])) > 0.15
