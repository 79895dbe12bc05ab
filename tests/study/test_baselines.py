"""core.models.baselines: kNN's k follows the training-set size (200 at FMA size), names and labels."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import GenreLabError
from core.models.baselines import BASELINES, FMA_KNN_K, baseline_label, knn_neighbors, make_baseline


@pytest.mark.parametrize("n_train, k", [
    (1, 1), (2, 2), (3, 3), (4, 3), (10, 5), (50, 11), (128, 17), (1_000, 45),
    (6_400, 113), (8_000, 127), (19_922, 200), (20_000, 200), (36_000, 200), (45_000, 200), (106_574, 200),
])
def test_k_follows_training_size(n_train, k):
    assert knn_neighbors(n_train) == k
    assert make_baseline("knn", n_train)[-1].n_neighbors == k


def test_k_rule_is_odd_below_the_cap_and_never_exceeds_the_rows():
    for n in range(1, 25_000, 7):
        k = knn_neighbors(n)
        assert 1 <= k <= min(n, FMA_KNN_K)
        assert k % 2 == 1 or k in (n, FMA_KNN_K)
        if n >= 3:
            assert k >= 3


def test_explicit_k_wins_but_is_capped_at_the_rows():
    assert knn_neighbors(20_000, knn_k=5) == 5
    assert knn_neighbors(60, knn_k=200) == 60
    assert make_baseline("knn", 20_000, knn_k=7)[-1].n_neighbors == 7
    assert make_baseline("logistic_regression", 100, knn_k=7)[-1].max_iter == 1000  # ignored elsewhere
    for bad in (0, -3, 2.5):
        with pytest.raises(GenreLabError):
            knn_neighbors(100, knn_k=bad)
    with pytest.raises(GenreLabError, match="n_train"):
        knn_neighbors(0)


def test_names_and_labels():
    assert BASELINES == ("logistic_regression", "svm_rbf", "knn")
    assert baseline_label("knn", 128) == "knn (k=17)"
    assert baseline_label("knn", 20_000) == "knn (k=200)"
    assert baseline_label("knn", 128, knn_k=5) == "knn (k=5)"
    assert baseline_label("svm_rbf", 128) == "svm_rbf"
    for call in (lambda: make_baseline("knn_200", 100), lambda: baseline_label("forest", 100)):
        with pytest.raises(GenreLabError, match="unknown baseline"):
            call()


def test_baselines_fit_small_data_and_knn_is_not_the_majority_vote():
    rng = np.random.default_rng(0)
    labels = np.array(["Pop", "Rock", "Hip-Hop", "Folk"])[np.arange(160) % 4]
    centres = {g: rng.normal(scale=3, size=8) for g in set(labels)}
    X = np.stack([centres[g] for g in labels]) + rng.normal(size=(160, 8))
    train, test = slice(0, 128), slice(128, None)
    for name in BASELINES:
        model = make_baseline(name, n_train=128, seed=0).fit(X[train], labels[train])
        assert (model.predict(X[test]) == labels[test]).mean() > 0.8, name
    # the paper's k = 200 on 128 rows would vote over every row: one class for every track
    majority = make_baseline("knn", 128, knn_k=200).fit(X[train], labels[train])
    assert len(set(majority.predict(X[test]))) == 1
