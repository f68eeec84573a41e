"""A contrastive linear head (InfoNCE, as CLIP trains its projections): the same inputs and
weights as the ridge head (`ml.ridge`), trained so that each image is nearer its own text's
embedding than the other texts of its batch. Training needs torch (imported inside `fit_contrastive`);
the weights project with `ml.ridge.project_linear`.
"""

from __future__ import annotations

import time

import numpy as np

from ml.ridge import LinearHead, head_inputs, standardiser
from ml.vectors import unit_rows

TEMPERATURE = 0.05
EPOCHS = 40
BATCH_SIZE = 256


def fit_contrastive(
    features: np.ndarray,
    meaning: np.ndarray,
    targets: np.ndarray,
    validation: np.ndarray,
    *,
    weight_decay: float = 1e-3,
    seed: int = 0,
    threads: int = 1,
) -> LinearHead:
    """Train on the items not in `validation`; keep the epoch whose validation items are nearest
    their own texts relative to the others' (own cosine minus mean cosine)."""
    import torch

    started = time.perf_counter()
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        torch.manual_seed(seed)
        raw = head_inputs(features, meaning)
        mean, scale = standardiser(raw[~validation])
        x = torch.from_numpy(((raw - mean) / scale).astype(np.float32))
        t = torch.from_numpy(unit_rows(np.asarray(targets, dtype=np.float32)))
        train_rows = torch.from_numpy(np.flatnonzero(~validation))
        val_rows = torch.from_numpy(np.flatnonzero(validation) if validation.any() else np.flatnonzero(~validation))
        linear = torch.nn.Linear(x.shape[1], t.shape[1])
        optimiser = torch.optim.AdamW(linear.parameters(), lr=1e-3, weight_decay=weight_decay)
        cross_entropy = torch.nn.functional.cross_entropy
        generator = torch.Generator().manual_seed(seed)
        best, best_state, scores = -1.0, None, {}
        for epoch in range(1, EPOCHS + 1):
            order = train_rows[torch.randperm(len(train_rows), generator=generator)]
            for start in range(0, len(order), BATCH_SIZE):
                batch = order[start : start + BATCH_SIZE]
                predicted = torch.nn.functional.normalize(linear(x[batch]), dim=1)
                logits = predicted @ t[batch].T / TEMPERATURE
                labels = torch.arange(len(batch))
                loss = cross_entropy(logits, labels) + cross_entropy(logits.T, labels)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            with torch.no_grad():
                predicted = torch.nn.functional.normalize(linear(x[val_rows]), dim=1)
                similarity = predicted @ t[val_rows].T
                score = float(similarity.diagonal().mean() - similarity.mean())
            scores[epoch] = round(score, 4)
            if score > best:
                best, best_state = score, {k: v.clone() for k, v in linear.state_dict().items()}
        linear.load_state_dict(best_state)
        weights = {
            "mean": mean,
            "scale": scale,
            "w": linear.weight.detach().numpy().T.copy(),
            "b": linear.bias.detach().numpy().copy(),
        }
    finally:
        torch.set_num_threads(previous)
    return LinearHead(weights, time.perf_counter() - started, weight_decay, scores)
