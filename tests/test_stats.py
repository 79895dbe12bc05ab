"""core.stats: Wilson intervals against scipy's binomtest, CV summaries and formatting, paired
comparisons against scipy.stats.ttest_rel and hand-worked numbers."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from core.errors import GenreLabError
from core.stats import (
    PairedResult,
    accuracy_interval,
    clustered_interval,
    cv_summary,
    format_cv,
    format_test,
    paired_difference,
    wilson_interval,
)


@pytest.mark.parametrize("correct, n", [(6, 16), (10, 16), (0, 10), (10, 10), (81, 263), (1, 1), (500, 1000)])
@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99])
def test_wilson_matches_scipy(correct, n, confidence):
    oracle = sps.binomtest(correct, n).proportion_ci(confidence_level=confidence, method="wilson")
    low, high = wilson_interval(correct, n, confidence)
    assert low == pytest.approx(oracle.low, abs=1e-12) and high == pytest.approx(oracle.high, abs=1e-12)


def test_wilson_hand_worked_6_of_16():
    # p = 0.375, z = 1.959964, z²/n = 0.240094: centre 0.399201, half-width 0.214389
    z = 1.959963984540054
    p, n = 6 / 16, 16
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    assert (centre, half) == pytest.approx((0.399201, 0.214389), abs=1e-6)
    assert wilson_interval(6, 16) == pytest.approx((0.184812, 0.613590), abs=1e-6)


def test_wilson_edges_are_exact():
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 10)[1] == pytest.approx(0.277533, abs=1e-6)  # z²/(n+z²)
    assert wilson_interval(np.int64(3), np.int64(7)) == wilson_interval(3, 7)


@pytest.mark.parametrize("args, match", [
    ((0, 0), "no test tracks"), ((5, 4), "between 0 and n"), ((-1, 4), "between 0 and n"),
    ((2.0, 4), "integer"), ((2, 4, 1.0), "confidence"), ((2, 4, 0), "confidence"),
])
def test_wilson_rejects_bad_input_in_one_line(args, match):
    with pytest.raises(GenreLabError, match=match) as err:
        wilson_interval(*args)
    assert "\n" not in str(err.value)


def test_accuracy_interval():
    y_true = np.array(["Pop"] * 10 + ["Rock"] * 6)
    y_pred = y_true.copy()
    y_pred[:6] = "Rock"  # 10 of 16 right
    result = accuracy_interval(y_true, y_pred)
    assert result == {"accuracy": 0.625, "ci_low": pytest.approx(0.386410, abs=1e-6),
                      "ci_high": pytest.approx(0.815188, abs=1e-6), "n": 16}
    assert isinstance(result["n"], int)
    with pytest.raises(GenreLabError, match="no test tracks"):
        accuracy_interval([], [])
    with pytest.raises(GenreLabError, match="one length"):
        accuracy_interval([1, 2], [1])


def test_clustered_interval_hand_worked():
    # 3 artists of 4 tracks: 4, 2 and 0 right; p = 0.5, v = 3/2 * (2² + 0² + 2²) / 12² = 1/12, n_e = 3
    hits = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    result = clustered_interval(hits, [7, 7, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9])
    t = sps.t.ppf(0.975, 2)
    centre, half = 0.5, t * math.sqrt(0.25 / 3 + t**2 / 36) / (1 + t**2 / 3)
    assert result == {"ci_low": pytest.approx(centre - half), "ci_high": pytest.approx(centre + half),
                      "n_groups": 3, "n_effective": pytest.approx(3.0)}


def test_clustered_interval_covers_where_the_track_interval_does_not():
    """Thirty tracks by six artists whose own accuracies vary (Beta, mean 0.6): the interval by artist
    keeps its 95 % coverage of the mean accuracy, the one that takes tracks as independent does not.
    Tracks that are each their own artist get the same coverage from both."""
    rng, truth, reps = np.random.default_rng(0), 0.6, 1000
    artists = np.repeat(np.arange(6), 5)
    covered = {"artists": 0, "tracks": 0, "independent": 0}
    for _ in range(reps):
        hits = (rng.random((6, 5)) < rng.beta(1.2, 0.8, size=6)[:, None]).ravel()
        by_artist = clustered_interval(hits, artists)
        low, high = wilson_interval(int(hits.sum()), 30)
        covered["artists"] += by_artist["ci_low"] <= truth <= by_artist["ci_high"]
        covered["tracks"] += low <= truth <= high
        alone = clustered_interval(rng.random(30) < truth, np.arange(30))
        covered["independent"] += alone["ci_low"] <= truth <= alone["ci_high"]
    assert covered["artists"] / reps >= 0.93
    assert covered["tracks"] / reps <= 0.85
    assert covered["independent"] / reps >= 0.93


def test_clustered_interval_edges():
    assert clustered_interval([1, 0, 1], [4, 4, 4]) == {"ci_low": 0.0, "ci_high": 1.0, "n_groups": 1,
                                                         "n_effective": 1.0}
    perfect = clustered_interval([1] * 12, np.repeat([1, 2, 3], 4))
    assert perfect["ci_high"] == 1.0 and perfect["n_effective"] == 12.0  # all right: no spread between artists
    assert perfect["ci_low"] == pytest.approx(1 / (1 + sps.t.ppf(0.975, 2) ** 2 / 12))  # Wilson's 1/(1 + t²/n)
    independent = clustered_interval(np.arange(400) % 5 < 3, np.arange(400))  # 240 of 400, each its own artist
    assert (independent["ci_low"], independent["ci_high"]) == pytest.approx(wilson_interval(240, 400), abs=2e-3)


def test_accuracy_interval_by_artist():
    y_true = np.array(["Pop"] * 10 + ["Rock"] * 6)
    y_pred = y_true.copy()
    y_pred[:6] = "Rock"  # 10 of 16 right; artist 1's six tracks all wrong
    artists = np.array([1] * 6 + [2] * 4 + [3] * 3 + [4] * 3)
    result = accuracy_interval(y_true, y_pred, artists=artists)
    expected = clustered_interval(y_true == y_pred, artists)
    assert result == {"accuracy": 0.625, "ci_low": expected["ci_low"], "ci_high": expected["ci_high"], "n": 16,
                      "n_artists": 4, "n_effective": expected["n_effective"]}
    plain = accuracy_interval(y_true, y_pred)
    assert result["ci_low"] < plain["ci_low"] and result["ci_high"] > plain["ci_high"]
    with pytest.raises(GenreLabError, match="one artist per track"):
        accuracy_interval(y_true, y_pred, artists=artists[:-1])


def test_cv_summary_uses_population_std_like_the_runner():
    folds = [0.6, 0.7, 0.8]
    summary = cv_summary(folds)
    assert summary["mean"] == pytest.approx(0.7)
    assert summary["std"] == pytest.approx(float(np.std(folds))) == pytest.approx(math.sqrt(2 / 300))
    assert summary["values"] == folds and all(type(v) is float for v in summary["values"])
    assert cv_summary(np.array([0.5]))["std"] == 0.0
    for bad in ([], [0.5, float("nan")], [[0.5, 0.6]]):
        with pytest.raises(GenreLabError):
            cv_summary(bad)


def test_formatters():
    assert format_cv(0.612, 0.034, 5) == "61.2 ± 3.4 % (CV mean ± std over 5 folds)"
    assert format_cv(0.5, 0.0, 1) == "50.0 ± 0.0 % (CV mean ± std over 1 fold)"
    assert format_cv(0.5, 0.0, 5, "artist") == "50.0 ± 0.0 % (CV mean ± std over 5 folds grouped by artist)"
    low, high = wilson_interval(10, 16)
    assert format_test(0.625, low, high, 16) == "62.5 % (95% CI 38.6-81.5, n=16 test tracks)"
    assert format_test(1.0, 0.2066, 1.0, 1, confidence=0.9) == "100.0 % (90% CI 20.7-100.0, n=1 test track)"
    assert format_test(0.5, 0.2, 0.8, 30, n_artists=5) == "50.0 % (95% CI 20.0-80.0, n=30 test tracks by 5 artists)"
    assert format_test(0.5, 0.2, 0.8, 30, n_artists=1, compact=True) == "50.0 % (20.0-80.0, n=30 by 1 artist)"


def test_paired_plain_matches_ttest_rel():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 0.7, size=5)
    b = a - 0.02 + rng.normal(scale=0.01, size=5)
    result = paired_difference(a, b, corrected=False)
    oracle = sps.ttest_rel(a, b)
    ci = oracle.confidence_interval(confidence_level=0.95)
    assert result.mean_diff == pytest.approx(np.mean(a - b), abs=1e-15)
    assert (result.ci_low, result.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert result.p_value == pytest.approx(oracle.pvalue, rel=1e-10)
    assert result.n_folds == 5 and result.corrected is False


def test_paired_hand_worked_plain_and_corrected():
    # d = 0.05, 0.05, 0.04, 0.06, 0.05: mean 0.05, s² = 2e-4 / 4 = 5e-5, t(0.975, 4) = 2.776445
    a = np.array([0.62, 0.60, 0.65, 0.61, 0.63])
    b = np.array([0.57, 0.55, 0.61, 0.55, 0.58])
    t4 = 2.7764451051977987
    plain = paired_difference(a, b, corrected=False)
    assert plain.ci_high - plain.mean_diff == pytest.approx(t4 * math.sqrt(5e-5 / 5), rel=1e-9)
    # Nadeau-Bengio for 5-fold CV: (1/k + n_test/n_train) = 1/5 + 1/4 = 0.45
    corrected = paired_difference(a, b)
    assert corrected.corrected is True
    assert corrected.ci_high - corrected.mean_diff == pytest.approx(t4 * math.sqrt(0.45 * 5e-5), rel=1e-9)
    assert corrected.p_value == pytest.approx(2 * sps.t.sf(0.05 / math.sqrt(0.45 * 5e-5), 4), rel=1e-9)
    assert corrected.p_value > plain.p_value
    # an explicit test fraction (e.g. repeated CV: 10 folds = 2 x 5-fold) is used as given
    wide = paired_difference(np.tile(a, 2), np.tile(b, 2), test_fraction=0.2, corrected=True)
    s2 = np.var(np.tile(a - b, 2), ddof=1)
    assert wide.ci_high - wide.mean_diff == pytest.approx(sps.t.ppf(0.975, 9) * math.sqrt((0.1 + 0.25) * s2))


def test_paired_verdicts():
    rng = np.random.default_rng(1)
    a = rng.uniform(0.55, 0.65, size=5)
    b = a + 0.05 + rng.normal(scale=1e-4, size=5)
    result = paired_difference(a, b, name_a="MLP", name_b="kNN")
    assert isinstance(result, PairedResult)
    assert result.mean_diff == pytest.approx(-0.05, abs=1e-3) and result.ci_high < 0 and result.p_value < 1e-6
    assert result.verdict.startswith("kNN beats MLP by 5.0 points (95% CI 5.0 to 5.0")
    assert result.verdict.endswith("paired over 5 folds)")

    flipped = paired_difference(b, a, name_a="kNN", name_b="MLP")
    assert flipped.verdict.startswith("kNN beats MLP by 5.0 points")
    assert flipped.mean_diff == pytest.approx(-result.mean_diff)

    same = paired_difference(a, a.copy())
    assert (same.mean_diff, same.ci_low, same.ci_high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert same.verdict == ("no difference between A and B beyond fold noise "
                            "(95% CI +0.0 to +0.0 points, A - B, paired over 5 folds)")

    noisy = paired_difference([0.60, 0.55, 0.62], [0.58, 0.59, 0.60], name_a="raw", name_b="autoencoder")
    assert noisy.ci_low < 0 < noisy.ci_high
    assert noisy.verdict.startswith("no difference between raw and autoencoder beyond fold noise (95% CI -")


def test_paired_exact_constant_shift_has_zero_width():
    a = np.array([0.5, 0.25, 0.75])
    result = paired_difference(a + 0.125, a)  # exactly representable: every difference is 0.125
    assert (result.ci_low, result.ci_high, result.p_value) == (0.125, 0.125, 0.0)
    assert result.verdict == "A beats B by 12.5 points (95% CI 12.5 to 12.5, paired over 3 folds)"


@pytest.mark.parametrize("a, b, kwargs, match", [
    ([0.5], [0.4], {}, "at least 2 folds"),
    ([0.5, 0.6], [0.4], {}, "one length"),
    ([0.5, float("nan")], [0.4, 0.5], {}, "non-finite"),
    ([0.5, 0.6], [0.4, 0.5], {"confidence": 1.0}, "confidence"),
    ([0.5, 0.6], [0.4, 0.5], {"test_fraction": 1.0}, "test_fraction"),
])
def test_paired_rejects_bad_input(a, b, kwargs, match):
    with pytest.raises(GenreLabError, match=match):
        paired_difference(a, b, **kwargs)


def test_compact_forms_keep_every_number_for_a_table_whose_header_names_them():
    from core.stats import format_cv, format_test

    assert format_cv(0.612, 0.034, 5, "artist", compact=True) == "61.2 ± 3.4 % (5 folds by artist)"
    assert format_cv(0.612, 0.034, 1, compact=True) == "61.2 ± 3.4 % (1 fold)"
    assert format_test(0.625, 0.386, 0.815, 16, compact=True) == "62.5 % (38.6-81.5, n=16)"

