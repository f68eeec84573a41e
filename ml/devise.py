"""A DeViSE-style head (Frome et al., 2013): learn a map from stored CNN features into word space.

The tutorial's head is Dense 2000 -> BatchNorm -> ReLU -> Dropout 0.5 -> Dense(word dims), trained
with a cosine loss; DeViSE itself used a hinge rank loss against the other labels' words. Both are
here. Training needs torch (imported inside `train_head` only); using a trained head does not:
`project` runs the forward pass in numpy on weights in which the input standardisation and the
BatchNorm are folded into the first layer.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ml.vectors import blend_rows, unit_rows

CODE_VERSION = "devise-1"
LOSSES = ("cosine", "hinge")
MIN_IMPROVEMENT = 1e-4  # a smaller drop of the validation loss does not count as better


@dataclass(frozen=True)
class HeadConfig:
    hidden: int = 2000
    dropout: float = 0.5
    loss: str = "cosine"
    margin: float = 0.1  # hinge loss: DeViSE's margin
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    max_epochs: int = 100
    patience: int = 10  # epochs without a better validation loss before stopping
    seed: int = 0
    threads: int = 1


@dataclass
class TrainedHead:
    weights: dict[str, np.ndarray]  # w1 (d, h), b1 (h), w2 (h, k), b2 (k): inference-ready
    history: list[dict[str, float]] = field(default_factory=list)  # per epoch: train/val loss, val accuracy
    best_epoch: int = 0
    seconds: float = 0.0


def project(features: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
    """(n, k) unit vectors in word space: the head's eval-mode forward pass in numpy."""
    hidden = np.maximum(np.asarray(features, dtype=np.float32) @ weights["w1"] + weights["b1"], 0.0)
    return unit_rows(hidden @ weights["w2"] + weights["b2"])


def joint_vectors(
    features: np.ndarray, weights: dict[str, np.ndarray], *, conse: np.ndarray | None = None, blend: float = 0.0
) -> np.ndarray:
    """The head's vectors, blended with the zero-shot (ConSE) vectors when `blend` > 0."""
    return blend_rows(project(features, weights), conse, blend)


def save_weights(weights: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **weights)
    return buffer.getvalue()


def load_weights(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data)) as archive:
        return {name: archive[name].astype(np.float32) for name in archive.files}


def stratified_split(labels: np.ndarray, fraction: float, seed: int, *, round_up: bool = False) -> np.ndarray:
    """A boolean mask of the items held out: `fraction` of each label's items, chosen at random
    with `seed`. Rounded down (a label's only item stays in), or up (it goes out: useful for a
    test set, where such a word then measures zero-shot transfer)."""
    held = np.zeros(len(labels), dtype=bool)
    rng = np.random.default_rng(seed)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = int(np.ceil(len(members) * fraction) if round_up else np.floor(len(members) * fraction))
        held[rng.permutation(members)[:count]] = True
    return held


def train_head(
    features: np.ndarray,
    targets: np.ndarray,
    labels: np.ndarray,
    label_vectors: np.ndarray,
    config: HeadConfig = HeadConfig(),
    *,
    validation: np.ndarray | None = None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainedHead:
    """Train on (features, unit target word vectors); `labels` index `label_vectors` (the words of
    every label: the hinge loss's negatives, and validation accuracy). `validation` masks the
    items used for early stopping; without it (or with none), training loss decides.
    Deterministic on CPU for a given seed."""
    import torch
    from torch import nn

    if config.loss not in LOSSES:
        raise ValueError(f"Unknown loss {config.loss!r}; valid losses are: {', '.join(LOSSES)}.")
    if config.loss == "hinge" and len(label_vectors) < 2:
        raise ValueError("The hinge loss needs at least two labels (the other labels' words are its negatives).")
    started = time.perf_counter()
    previous = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(max(1, config.threads))
    torch.use_deterministic_algorithms(True)
    # Tiny gradients late in training turn into denormal floats, which are very slow on x86 CPUs.
    denormals = torch.set_flush_denormal(True)
    try:
        torch.manual_seed(config.seed)
        validation = np.zeros(len(features), dtype=bool) if validation is None else validation
        train_rows, val_rows = np.flatnonzero(~validation), np.flatnonzero(validation)
        x_all = np.asarray(features, dtype=np.float32)
        mean = x_all[train_rows].mean(axis=0)
        std = x_all[train_rows].std(axis=0) + 1e-6
        x = torch.from_numpy((x_all - mean) / std)
        t = torch.from_numpy(unit_rows(targets))
        y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        words = torch.from_numpy(unit_rows(label_vectors))

        model = nn.Sequential(
            nn.Linear(x.shape[1], config.hidden),
            nn.BatchNorm1d(config.hidden),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, t.shape[1]),
        )
        optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)

        def loss_of(rows: torch.Tensor) -> torch.Tensor:
            predicted = nn.functional.normalize(model(x[rows]), dim=1)
            if config.loss == "cosine":
                return (1 - (predicted * t[rows]).sum(dim=1)).mean()
            positive = (predicted * t[rows]).sum(dim=1, keepdim=True)
            margins = torch.relu(config.margin - positive + predicted @ words.T)
            own = nn.functional.one_hot(y[rows], len(words)).bool()
            return margins.masked_fill(own, 0.0).sum(dim=1).mean()

        def evaluate(rows: np.ndarray) -> tuple[float, float]:
            model.eval()
            with torch.no_grad():
                index = torch.from_numpy(rows)
                loss = float(loss_of(index))
                predicted = nn.functional.normalize(model(x[index]), dim=1)
                accuracy = float((torch.argmax(predicted @ words.T, dim=1) == y[index]).float().mean())
            return loss, accuracy

        generator = torch.Generator().manual_seed(config.seed)
        stop_rows = val_rows if len(val_rows) else train_rows
        best_loss, best_state, best_epoch, history = float("inf"), None, 0, []
        for epoch in range(1, config.max_epochs + 1):
            model.train()
            order = torch.from_numpy(train_rows)[torch.randperm(len(train_rows), generator=generator)]
            total = 0.0
            for start in range(0, len(order), config.batch_size):
                batch = order[start : start + config.batch_size]
                if len(batch) < 2:  # BatchNorm needs two items
                    continue
                optimiser.zero_grad()
                loss = loss_of(batch)
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * len(batch)
            val_loss, val_accuracy = evaluate(stop_rows)
            record = {
                "epoch": epoch,
                "train_loss": total / max(len(order), 1),
                "val_loss": val_loss,
                "val_accuracy": val_accuracy,
            }
            history.append(record)
            if progress:
                progress(epoch, record)
            if val_loss < best_loss - MIN_IMPROVEMENT:
                best_loss, best_epoch = val_loss, epoch
                best_state = {name: value.clone() for name, value in model.state_dict().items()}
            elif epoch - best_epoch >= config.patience:
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        weights = fold(model, mean, std)
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1])
        if denormals:
            torch.set_flush_denormal(False)
    return TrainedHead(weights=weights, history=history, best_epoch=best_epoch, seconds=time.perf_counter() - started)


def fold(model, mean: np.ndarray, std: np.ndarray) -> dict[str, np.ndarray]:
    """Fold the input standardisation and the eval-mode BatchNorm into the first Dense layer."""
    first, norm, _, _, last = model
    w = first.weight.detach().double().numpy()  # (h, d)
    b = first.bias.detach().double().numpy()
    scale = norm.weight.detach().double().numpy() / np.sqrt(norm.running_var.detach().double().numpy() + norm.eps)
    shift = norm.bias.detach().double().numpy() - norm.running_mean.detach().double().numpy() * scale
    w1 = (w / std[None, :]).T  # standardised input: (x - mean) / std
    b1 = b - (mean / std) @ w.T
    return {
        "w1": (w1 * scale[None, :]).astype(np.float32),
        "b1": (b1 * scale + shift).astype(np.float32),
        "w2": last.weight.detach().numpy().T.copy(),
        "b2": last.bias.detach().numpy().copy(),
    }
