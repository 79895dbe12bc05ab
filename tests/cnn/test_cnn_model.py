import numpy as np
import pytest

from core.errors import GenreLabError
from core.models.clip_batches import MelBatches, band_statistics, expand_clips
from core.models.cnn import CNNClassifier, build_cnn


def batches_of(source, labels, track_ids, **kwargs):
    row_tracks, row_clips = expand_clips(track_ids, np.full(len(track_ids), 2))
    row_labels = np.array([labels[t] for t in row_tracks])
    mean, std = band_statistics(source, track_ids, 3.0)
    return MelBatches(source, row_tracks, row_clips, row_labels, clip_seconds=3.0, mean=mean, std=std,
                      n_classes=3, batch_size=8, **kwargs)


@pytest.mark.parametrize("architecture", ["study", "compact"])
def test_fit_predict_proba_both_architectures(array_source, architecture):
    source, labels = array_source
    train = batches_of(source, labels, np.arange(1, 10), shuffle=True)
    valid = batches_of(source, labels, np.arange(10, 13))
    model = CNNClassifier(architecture=architecture, epochs=3, patience=2, seed=0).fit(train, valid)
    probs = model.predict_proba(valid)
    assert probs.shape == (6, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert set(model.history_) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(model.history_["loss"]) == model.epochs_trained_ <= 3


def test_study_network_shape():
    model = build_cnn((128, 129, 1), 3, "study")
    conv_filters = [layer.filters for layer in model.layers if hasattr(layer, "filters")]
    assert conv_filters == [8, 16, 32, 64, 128]
    assert model.output_shape == (None, 3)
    # five halvings: 128 x 129 mel frames → 4 x 5 x 128 flattened
    assert model.get_layer(index=-3).output.shape[1] == 4 * 5 * 128
    compact = build_cnn((128, 129, 1), 3, "compact")
    assert compact.count_params() < model.count_params()


def test_bad_parameters_are_one_line_errors():
    with pytest.raises(GenreLabError, match="architecture: must be one of study, compact"):
        CNNClassifier(architecture="vgg")
    with pytest.raises(GenreLabError, match="unknown parameter"):
        CNNClassifier(kernel=5)
    with pytest.raises(GenreLabError, match="before fit"):
        CNNClassifier().predict_proba(np.zeros((1, 8, 8, 1)))
