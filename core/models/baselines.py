"""Reference classifiers from the FMA paper (Defferrard et al., 2017), on standardized features.

Each is a scikit-learn pipeline (StandardScaler → classifier) so the scaler is fitted on the training
rows only. kNN uses k=200 as in the paper, capped by the number of training rows on small data.
"""
from __future__ import annotations

from core.errors import GenreLabError

BASELINES = ("logistic_regression", "svm_rbf", "knn_200")


def make_baseline(name: str, n_train: int, seed: int = 0):
    """An unfitted sklearn Pipeline for baseline ``name`` (one of BASELINES) given ``n_train`` rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if name == "logistic_regression":
        clf = LogisticRegression(max_iter=1000, random_state=seed)
    elif name == "svm_rbf":
        clf = SVC(kernel="rbf", random_state=seed)
    elif name == "knn_200":
        clf = KNeighborsClassifier(n_neighbors=max(1, min(200, n_train)))
    else:
        raise GenreLabError(f"unknown baseline {name!r} (choose {', '.join(BASELINES)})")
    return make_pipeline(StandardScaler(), clf)
