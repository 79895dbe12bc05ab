"""Reference classifiers from the FMA paper (Defferrard et al., 2017), on standardized features.

Each is a scikit-learn pipeline (StandardScaler → classifier) so the scaler is fitted on the training
rows only: ``logistic_regression``, ``svm_rbf`` and ``knn``.

kNN sized to the data
---------------------
The paper's kNN uses k = 200, chosen for fma_medium's ~20,000 training tracks. A fixed k = 200 on a
128-track training set votes over (almost) every track: it degenerates to the majority class and
says nothing about the features. So by default k follows the training-set size:

    k = min(200, n_train, odd(round(sqrt(2 * n_train))))

where ``odd`` rounds an even number up to the next odd one. Why this rule:

* k ∝ sqrt(n) is the usual rule of thumb and the classical consistency condition (k → ∞ while
  k / n → 0; Devroye, Györfi & Lugosi, 1996) — the neighbourhood grows, but ever more slowly than
  the data.
* The constant sqrt(2) calibrates it to the paper: sqrt(2 × 20,000) = 200 exactly, so at FMA size
  (fma_medium's 19,922 training tracks → 199.6 → 200) the baseline *is* the paper's. Plain
  sqrt(n) would give 141 there.
* Odd k avoids ties in two-genre votes (with more genres ties remain possible; scikit-learn then
  picks the first class in sorted order). The cap at 200 keeps the paper's value for larger tables
  and is applied after the odd step, so 20,000 rows give 200, not 201.
* k never exceeds ``n_train`` (scikit-learn cannot ask for more neighbours than rows).

=================  ====  ====  ====  =====  ======  ======  ======
training rows       128   1k    6.4k   8k    20k     36k     45k
=================  ====  ====  ====  =====  ======  ======  ======
sqrt(2 n)          16.0  44.7  113.1  126.5  200.0   268.3   300.0
k (this rule)        17    45    113    127    200     200     200
=================  ====  ====  ====  =====  ======  ======  ======

(The study's sizes 8k / 25k / 45k train on their non-test rows: about 6.4k, 20k and 36k.)
Tiny tables: 1 row → k = 1, 2 → 2, 3-5 → 3, 10 → 5, 50 → 11. An explicit ``knn_k`` overrides the
rule (still capped at ``n_train``); :func:`baseline_label` writes the k actually used.
"""
from __future__ import annotations

import math
import operator

from core.errors import GenreLabError

__all__ = ["BASELINES", "FMA_KNN_K", "knn_neighbors", "make_baseline", "baseline_label"]

#: Names accepted by :func:`make_baseline`, in the order the study runs them.
BASELINES = ("logistic_regression", "svm_rbf", "knn")

#: The FMA paper's k, reached at ~20,000 training rows and never exceeded by the default rule.
FMA_KNN_K = 200


def _count(value, what: str) -> int:
    try:
        value = operator.index(value)
    except TypeError:
        raise GenreLabError(f"{what} must be a whole number, got {value!r}") from None
    if value < 1:
        raise GenreLabError(f"{what} must be at least 1, got {value}")
    return value


def knn_neighbors(n_train: int, knn_k: int | None = None) -> int:
    """The number of neighbours the ``knn`` baseline uses on ``n_train`` training rows.

    Parameters
    ----------
    n_train : int
        Number of training rows (>= 1).
    knn_k : int, optional
        An explicit k (>= 1); overrides the size rule but is still capped at ``n_train``.

    Returns
    -------
    int
        ``min(knn_k, n_train)`` if ``knn_k`` is given, else
        ``min(200, n_train, odd(round(sqrt(2 * n_train))))`` (see the module docstring).

    Raises
    ------
    GenreLabError
        If ``n_train`` or ``knn_k`` is not a whole number >= 1.

    Examples
    --------
    >>> knn_neighbors(128), knn_neighbors(20_000), knn_neighbors(128, knn_k=500)
    (17, 200, 128)
    """
    n_train = _count(n_train, "n_train")
    if knn_k is not None:
        return min(_count(knn_k, "knn_k"), n_train)
    k = round(math.sqrt(2 * n_train))
    if k % 2 == 0:
        k += 1
    return min(FMA_KNN_K, n_train, k)


def make_baseline(name: str, n_train: int, seed: int = 0, knn_k: int | None = None):
    """An unfitted baseline pipeline (StandardScaler → classifier).

    Parameters
    ----------
    name : str
        One of :data:`BASELINES`.
    n_train : int
        Number of rows the pipeline will be fitted on; sets kNN's k (see :func:`knn_neighbors`).
    seed : int
        ``random_state`` of the logistic regression and the SVM.
    knn_k : int, optional
        Explicit k for ``knn``; ignored by the other baselines.

    Returns
    -------
    sklearn.pipeline.Pipeline

    Raises
    ------
    GenreLabError
        For an unknown name, or an ``n_train`` / ``knn_k`` below 1.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if name == "logistic_regression":
        clf = LogisticRegression(max_iter=1000, random_state=seed)
    elif name == "svm_rbf":
        clf = SVC(kernel="rbf", random_state=seed)
    elif name == "knn":
        clf = KNeighborsClassifier(n_neighbors=knn_neighbors(n_train, knn_k))
    else:
        raise GenreLabError(f"unknown baseline {name!r} (choose {', '.join(BASELINES)})")
    return make_pipeline(StandardScaler(), clf)


def baseline_label(name: str, n_train: int, knn_k: int | None = None) -> str:
    """A legend label naming the baseline as fitted: ``"knn (k=17)"``, ``"svm_rbf"``.

    Parameters
    ----------
    name : str
        One of :data:`BASELINES`.
    n_train, knn_k
        As for :func:`make_baseline`; only ``knn`` uses them.

    Returns
    -------
    str

    Raises
    ------
    GenreLabError
        For an unknown name, or an ``n_train`` / ``knn_k`` below 1.

    Examples
    --------
    >>> baseline_label("knn", 128), baseline_label("logistic_regression", 128)
    ('knn (k=17)', 'logistic_regression')
    """
    if name not in BASELINES:
        raise GenreLabError(f"unknown baseline {name!r} (choose {', '.join(BASELINES)})")
    if name == "knn":
        return f"knn (k={knn_neighbors(n_train, knn_k)})"
    return name
