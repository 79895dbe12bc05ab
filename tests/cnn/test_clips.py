import numpy as np
import pytest

from core.errors import GenreLabError
from core.models.clip_batches import MelBatches, band_statistics, expand_clips, track_vote
from core.study.folds import grouped_folds


def test_grouped_folds_keep_every_track_on_one_side():
    rng = np.random.default_rng(1)
    track_ids = np.arange(100, 160)
    labels = np.array(["Pop", "Rock", "Electronic"])[track_ids % 3]
    row_tracks, _ = expand_clips(track_ids, rng.integers(1, 11, size=len(track_ids)))
    row_labels = labels[np.searchsorted(track_ids, row_tracks)]
    folds = grouped_folds(row_labels, row_tracks, n_splits=5, seed=3)
    assert len(folds) == 5
    seen = np.concatenate([valid for _, valid in folds])
    assert np.array_equal(np.sort(seen), np.arange(len(row_tracks)))  # each row validated exactly once
    for train, valid in folds:
        assert not set(row_tracks[train]) & set(row_tracks[valid])
        assert set(row_labels[valid]) == {"Pop", "Rock", "Electronic"}


def test_grouped_folds_by_artist_and_determinism():
    labels = np.array(["a", "b"] * 20)
    artists = np.arange(40) // 4  # 4 tracks per artist, 10 artists
    first = grouped_folds(labels, artists, n_splits=5, seed=7)
    again = grouped_folds(labels, artists, n_splits=5, seed=7)
    for (train, valid), (_, valid2) in zip(first, again):
        assert np.array_equal(valid, valid2)
        assert not set(artists[train]) & set(artists[valid])


def test_grouped_folds_refuses_too_few_groups():
    with pytest.raises(GenreLabError, match="5 folds need at least 5 groups"):
        grouped_folds(np.array(["a", "b", "a"]), np.array([1, 2, 3]), n_splits=5)


def test_expand_clips():
    tracks, clips = expand_clips(np.array([7, 9, 4]), np.array([2, 0, 3]))
    assert tracks.tolist() == [7, 7, 4, 4, 4]
    assert clips.tolist() == [0, 1, 0, 1, 2]


def test_track_vote_is_mean_probability_per_track():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    track_ids, track_probs = track_vote(probs, np.array([5, 3, 5, 5]))
    assert track_ids.tolist() == [3, 5]
    np.testing.assert_allclose(track_probs, [[0.2, 0.8], [0.6, 0.4]])
    # the majority of clips says class 1, their mean says class 0: mean probability decides
    assert track_probs.argmax(axis=1).tolist() == [1, 0]


def test_band_statistics_match_numpy(array_source):
    source, _ = array_source
    train = [1, 2, 5]
    stacked = np.concatenate([source.clips(t, 3.0) for t in train])  # (clips, mels, frames)
    mean, std = band_statistics(source, np.array(train), 3.0)
    np.testing.assert_allclose(mean, stacked.mean(axis=(0, 2)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std, stacked.std(axis=(0, 2)), rtol=1e-4)


def test_mel_batches_standardize_shape_and_cover_rows_once(array_source):
    source, labels = array_source
    track_ids = np.array(sorted(labels))
    row_tracks, row_clips = expand_clips(track_ids, np.full(len(track_ids), 2))
    row_labels = np.array([labels[t] for t in row_tracks])
    mean, std = band_statistics(source, track_ids, 3.0)
    batches = MelBatches(source, row_tracks, row_clips, row_labels, clip_seconds=3.0, mean=mean, std=std,
                         n_classes=3, batch_size=5, shuffle=True, seed=1)
    assert len(batches) == 5  # 24 rows in batches of 5
    xs, ys = zip(*(batches[i] for i in range(len(batches))))
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert x.shape == (24, 8, 12, 1) and y.shape == (24, 3)
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0.0, atol=1e-4)
    np.testing.assert_allclose(x.std(axis=(0, 2, 3)), 1.0, atol=1e-3)
    # the shuffled rows are a permutation and every label travels with its clip
    assert np.array_equal(np.sort(batches.order), np.arange(24))
    assert np.array_equal(y.argmax(axis=1), row_labels[batches.order])
    first_epoch = batches.order.copy()
    batches.on_epoch_end()
    assert not np.array_equal(first_epoch, batches.order)


def test_mel_batches_load_each_track_once_per_batch(array_source):
    source, labels = array_source
    row_tracks, row_clips = expand_clips(np.array([1, 2]), np.array([2, 2]))
    batches = MelBatches(source, row_tracks, row_clips, None, clip_seconds=3.0, mean=np.zeros(8),
                         std=np.ones(8), n_classes=3, batch_size=4)
    source.loads = 0
    (x,) = batches[0]
    assert source.loads == 2
    np.testing.assert_array_equal(x[3, :, :, 0], source.clips(2, 3.0)[1])


def test_augmentation_keeps_labels_and_changes_clips(array_source):
    source, labels = array_source
    track_ids = np.array(sorted(labels))
    row_tracks, row_clips = expand_clips(track_ids, np.full(len(track_ids), 2))
    row_labels = np.array([labels[t] for t in row_tracks])
    common = dict(clip_seconds=3.0, mean=np.zeros(8), std=np.ones(8), n_classes=3, batch_size=24)
    plain_x, plain_y = MelBatches(source, row_tracks, row_clips, row_labels, **common)[0]
    aug_x, aug_y = MelBatches(source, row_tracks, row_clips, row_labels, time_shift=0.3,
                              mix_within_genre=1.0, **common)[0]
    assert np.array_equal(plain_y, aug_y)
    assert not np.allclose(plain_x, aug_x)
    # the time shift is a roll along time: each band's values are preserved before mixing
    shifted_x, _ = MelBatches(source, row_tracks, row_clips, row_labels, time_shift=0.3, **common)[0]
    np.testing.assert_allclose(np.sort(shifted_x, axis=2), np.sort(plain_x, axis=2))
