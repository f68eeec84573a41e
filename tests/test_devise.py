"""The DeViSE-style head (ml.devise) on synthetic features: no database, a few seconds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ml.devise import (
    HeadConfig,
    fold,
    joint_vectors,
    load_weights,
    project,
    save_weights,
    stratified_split,
    train_head,
    unit_rows,
)


def clusters(n: int = 240, dims: int = 64, words: int = 16, labels: int = 4, seed: int = 0):
    """Non-negative features around one centre per label (like post-ReLU CNN features), and a
    random unit word vector per label."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(labels, dims)).astype(np.float32)
    y = np.arange(n) % labels
    features = np.maximum(centres[y] + rng.normal(scale=1.5, size=(n, dims)).astype(np.float32), 0)
    label_vectors = unit_rows(rng.normal(size=(labels, words)))
    return features, y, label_vectors


SMALL = HeadConfig(hidden=32, max_epochs=30, patience=30, batch_size=64)


@pytest.mark.parametrize("loss", ["cosine", "hinge"])
def test_training_lowers_the_loss_and_learns_the_labels(loss: str) -> None:
    features, y, label_vectors = clusters()
    validation = stratified_split(y, 0.2, seed=1)
    head = train_head(
        features,
        label_vectors[y],
        y,
        label_vectors,
        dataclasses.replace(SMALL, loss=loss),
        validation=validation,
    )
    losses = [record["train_loss"] for record in head.history]
    assert losses[-1] < 0.5 * losses[0]
    predicted = project(features[validation], head.weights)
    accuracy = (np.argmax(predicted @ label_vectors.T, axis=1) == y[validation]).mean()
    assert accuracy > 0.9
    assert 1 <= head.best_epoch <= len(head.history)


def test_training_is_deterministic() -> None:
    features, y, label_vectors = clusters()
    first = train_head(features, label_vectors[y], y, label_vectors, SMALL)
    second = train_head(features, label_vectors[y], y, label_vectors, SMALL)
    assert [r["train_loss"] for r in first.history] == [r["train_loss"] for r in second.history]
    for name, value in first.weights.items():
        np.testing.assert_array_equal(value, second.weights[name])


def test_early_stopping_stops_when_validation_stops_improving() -> None:
    features, y, label_vectors = clusters()
    config = HeadConfig(hidden=32, max_epochs=200, patience=3, batch_size=64)
    head = train_head(features, label_vectors[y], y, label_vectors, config, validation=stratified_split(y, 0.2, 1))
    assert len(head.history) < 200 and len(head.history) - head.best_epoch == 3


def test_numpy_projection_equals_the_torch_eval_forward() -> None:
    """The input standardisation and an eval-mode BatchNorm (non-trivial running statistics)
    folded into the first layer: `project` in numpy gives torch's eval forward pass."""
    from torch import nn

    features, _, _ = clusters()
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 16))
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.uniform_(-0.5, 0.5)
    model.eval()
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-6
    with torch.no_grad():
        expected = nn.functional.normalize(model(torch.from_numpy((features - mean) / std)), dim=1).numpy()
    np.testing.assert_allclose(project(features, fold(model, mean, std)), expected, atol=1e-5)


def test_weights_round_trip_and_blend() -> None:
    features, y, label_vectors = clusters()
    head = train_head(features, label_vectors[y], y, label_vectors, SMALL)
    weights = load_weights(save_weights(head.weights))
    np.testing.assert_array_equal(project(features, weights), project(features, head.weights))
    conse = unit_rows(np.random.default_rng(5).normal(size=(len(features), 16)))
    np.testing.assert_allclose(joint_vectors(features, weights, conse=conse, blend=1.0), conse, atol=1e-6)
    blended = joint_vectors(features, weights, conse=conse, blend=0.3)
    np.testing.assert_allclose(np.linalg.norm(blended, axis=1), 1.0, atol=1e-5)


def test_stratified_split_rounds_per_label() -> None:
    labels = np.array([0] * 10 + [1] * 3 + [2])
    test = stratified_split(labels, 0.5, seed=0, round_up=True)
    assert [int(test[labels == label].sum()) for label in (0, 1, 2)] == [5, 2, 1]
    validation = stratified_split(labels, 0.15, seed=0)
    assert [int(validation[labels == label].sum()) for label in (0, 1, 2)] == [1, 0, 0]


def test_hinge_needs_two_labels() -> None:
    features, y, label_vectors = clusters(labels=1)
    with pytest.raises(ValueError, match="two labels"):
        train_head(features, label_vectors[y], y, label_vectors, HeadConfig(loss="hinge", hidden=8, max_epochs=1))
