"""Cross-validation folds: stratified by genre, and grouped so that what must not straddle a fold
(a track's clips, an artist's tracks) sits on one side only.

FMA's split keeps every artist in one split, and the FMA paper calls anything else over-optimistic:
an artist's tracks resemble each other more than their genre, so a model that saw the artist in
training scores their other tracks too well. Folds grouped by artist keep CV as honest as the test.
"""
from __future__ import annotations

import numpy as np

from core.errors import GenreLabError


def grouped_folds(labels: np.ndarray, groups: np.ndarray, n_splits: int = 5,
                  seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds in which every group (track id, or artist id) sits on one side only.

    labels, groups: shape (n_tracks,). Returns ``n_splits`` pairs (train_index, validation_index) of
    positions into those arrays, sorted ascending.
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    if labels.shape != groups.shape or labels.ndim != 1:
        raise GenreLabError(f"folds: labels {labels.shape} and groups {groups.shape} must be 1-D of one length")
    n_groups = len(np.unique(groups))
    if n_splits < 2 or n_groups < n_splits:
        raise GenreLabError(f"folds: {n_splits} folds need at least {max(n_splits, 2)} groups, have {n_groups}")
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    try:
        return [(np.sort(train), np.sort(valid))
                for train, valid in splitter.split(np.zeros(len(labels)), labels, groups)]
    except ValueError as err:
        raise GenreLabError(f"folds: {err}") from None
