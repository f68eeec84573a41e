"""Learning the catalogue's own words: train an image-to-word head (ml.devise) on the stored
features of ready items and their categories' label words, then fill its joint space.

Nothing here runs the CNN: features are read from the active image space. A trained space
registers as *building*, fills in batches while the active joint space keeps serving, is
evaluated against it, and then waits (state *retired*, ready) for `learning.services.switch_to`.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile

from catalog.models import Image
from learning.datasets import labelled_items
from learning.services import evaluate_model, switch_to
from ml.devise import CODE_VERSION, HeadConfig, joint_vectors, save_weights, stratified_split, train_head
from spaces import selectors
from spaces import services as spaces
from spaces.models import EmbeddingSpace, ImageEmbedding, JointModel

logger = logging.getLogger(__name__)

Kind = EmbeddingSpace.Kind
VALIDATION_FRACTION = 0.15  # of the training items, for early stopping
FILL_BATCH_SIZE = 500
# Progress (percent) at the end of each phase: training, filling, evaluating.
TRAINED, FILLED = 70, 90


class TrainingError(ValueError):
    """Training cannot start or finish; the message says why."""


@dataclass(frozen=True)
class TrainingOptions:
    loss: str = field(default_factory=lambda: settings.JOINT_LOSS)
    hidden: int = field(default_factory=lambda: settings.JOINT_HIDDEN)
    blend: float = field(default_factory=lambda: settings.JOINT_BLEND)
    holdout: float = field(default_factory=lambda: settings.JOINT_HOLDOUT)
    text_words: bool = False
    exclude_labels: tuple[str, ...] = ()  # categories left out of training: zero-shot words for `evaluate`
    max_epochs: int = 100
    seed: int = 0

    def head_config(self) -> HeadConfig:
        return HeadConfig(
            hidden=self.hidden,
            loss=self.loss,
            max_epochs=self.max_epochs,
            seed=self.seed,
            threads=settings.TRAINING_THREADS,
        )


def code_version() -> str:
    """The head's code version and, where the source is a git checkout, its commit."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return CODE_VERSION
    return f"{CODE_VERSION} ({described})"


def _next_name(image_space: EmbeddingSpace) -> str:
    number = JointModel.objects.count() + 1
    while EmbeddingSpace.objects.filter(name=f"devise/{image_space.name}/v{number}").exists():
        number += 1
    return f"devise/{image_space.name}/v{number}"


def start_training(options: TrainingOptions) -> JointModel:
    """Register a new joint space (building, empty) and its model row; `run_training` does the work."""
    image_space, joint_space = selectors.active_space(Kind.IMAGE), selectors.active_space(Kind.JOINT)
    if image_space is None or joint_space is None:
        raise TrainingError("No processed items yet: there are no stored features to train on.")
    word_space = joint_space.word_space
    space = spaces.register_space(
        name=_next_name(image_space),
        kind=Kind.JOINT,
        model=f"DeViSE head ({options.loss} loss, {options.hidden} hidden, blend {options.blend:g}) "
        f"over {image_space.name}",
        dims=word_space.dims,
        word_space=word_space,
    )
    return JointModel.objects.create(
        space=space,
        image_space=image_space,
        blend=options.blend,
        config=asdict(options),
        code_version=code_version(),
        message="Waiting for a worker.",
    )


def _update(model: JointModel, **fields) -> None:
    """Progress for the admin: written at once, outside any transaction."""
    for name, value in fields.items():
        setattr(model, name, value)
    JointModel.objects.filter(pk=model.pk).update(**fields)


def run_training(model: JointModel, *, report: bool = True) -> JointModel:
    """Train, fill, evaluate; on any error the model is marked failed with the reason."""
    try:
        _train(model)
        fill_space(model)
        if report:
            _evaluate(model)
        _update(model, state=JointModel.State.READY, progress=100, message=_ready_message(model))
    except Exception as exc:
        logger.exception("Training %s failed", model.space.name)
        _update(model, state=JointModel.State.FAILED, message=f"Failed: {exc}"[:300])
        raise
    if report and settings.JOINT_AUTO_ACTIVATE and model.metrics.get("better"):
        switch_to(model.space)
    return model


def _ready_message(model: JointModel) -> str:
    verdict = model.metrics.get("verdict")
    return f"Ready: {verdict}" if verdict else "Ready to activate."


def _train(model: JointModel) -> None:
    options = TrainingOptions(**{**model.config, "exclude_labels": tuple(model.config.get("exclude_labels", ()))})
    _update(model, state=JointModel.State.TRAINING, progress=0, message="Reading stored features.")
    data = labelled_items(model.image_space, model.space.word_space, text_words=options.text_words)
    excluded = {name.lower() for name in options.exclude_labels}
    trainable = np.array([data.label_names[label].lower() not in excluded for label in data.labels], dtype=bool)
    held_out = stratified_split(data.labels, options.holdout, options.seed, round_up=True)
    training = data.subset(trainable & ~held_out)
    if len(training.image_ids) < 4 or len(training.label_names) < 2:
        raise TrainingError(
            f"Too little to learn from: {len(training.image_ids)} labelled items in "
            f"{len(training.label_names)} categories (at least 4 items in 2 categories, with known label words)."
        )
    validation = stratified_split(training.labels, VALIDATION_FRACTION, options.seed + 1)
    config = options.head_config()
    last_update = [0.0]

    def progress(epoch: int, record: dict[str, float]) -> None:
        if time.monotonic() - last_update[0] > 0.5:
            last_update[0] = time.monotonic()
            message = f"Training: epoch {epoch}, validation loss {record['val_loss']:.4f}"
            _update(model, progress=int(TRAINED * epoch / config.max_epochs), message=message)

    _update(model, message=f"Training on {len(training.image_ids)} items.")
    head = train_head(
        training.features,
        training.targets,
        training.labels,
        training.label_vectors,
        config,
        validation=validation,
        progress=progress,
    )
    best = head.history[head.best_epoch - 1] if head.best_epoch else head.history[-1]
    model.weights.save(f"{model.space.name.replace('/', '-')}.npz", ContentFile(save_weights(head.weights)), save=False)
    model.training_size = len(training.image_ids)
    model.labels = [
        {"name": name, "words": words, "items": int((training.labels == index).sum())}
        for index, (name, words) in enumerate(zip(training.label_names, training.label_words, strict=True))
    ]
    model.train_ids = training.image_ids.tolist()
    model.history = head.history
    model.metrics = {
        "seconds": round(head.seconds, 2),
        "epochs": len(head.history),
        "best_epoch": head.best_epoch,
        "val_loss": round(best["val_loss"], 5),
        "val_accuracy": round(best["val_accuracy"], 4),
        "validation_items": int(validation.sum()),
        "held_out_items": int((held_out & trainable).sum()),
        "excluded_labels": sorted(options.exclude_labels),
        "skipped_labels": data.skipped,
    }
    model.save(update_fields=["weights", "training_size", "labels", "train_ids", "history", "metrics"])
    _update(model, progress=TRAINED, message=f"Trained in {head.seconds:.1f} s ({len(head.history)} epochs).")


def fill_space(model: JointModel, progress: Callable[[int, int], None] | None = None) -> int:
    """Give every ready item a vector in the model's space, projected from its stored features
    (and blended with its stored zero-shot vector); new uploads meanwhile get theirs from
    the worker (`ingest.pipeline`). Then the space is filled: it waits for a switch (or serves, if
    nothing else of its kind does). Returns the number of items."""
    space, image_space = model.space, model.image_space
    weights = selectors.head_weights(model)
    conse_name = EmbeddingSpace.conse_name(image_space.name, space.word_space)
    conse_space = EmbeddingSpace.objects.filter(name=conse_name).first() if model.blend > 0 else None
    ids = list(
        ImageEmbedding.objects.filter(space=image_space, image__status=Image.Status.READY)
        .order_by("image_id")
        .values_list("image_id", flat=True)
    )
    _update(model, state=JointModel.State.FILLING, message=f"Filling: 0 of {len(ids)} items.")
    ImageEmbedding.objects.filter(space=space).delete()
    for start in range(0, len(ids), FILL_BATCH_SIZE):
        batch = ids[start : start + FILL_BATCH_SIZE]
        features = dict(
            ImageEmbedding.objects.filter(space=image_space, image_id__in=batch).values_list("image_id", "embedding")
        )
        batch = [image_id for image_id in batch if image_id in features]
        conse = None
        if conse_space is not None:
            stored = dict(
                ImageEmbedding.objects.filter(space=conse_space, image_id__in=batch).values_list(
                    "image_id", "embedding"
                )
            )
            conse = np.array([stored.get(image_id, np.zeros(space.dims)) for image_id in batch], dtype=np.float32)
        matrix = np.array([features[image_id] for image_id in batch], dtype=np.float32).reshape(-1, image_space.dims)
        projected = joint_vectors(matrix, weights, conse=conse, blend=model.blend)
        # An item indexed meanwhile already has its vector (the same one): keep it.
        ImageEmbedding.objects.bulk_create(
            [ImageEmbedding(image_id=i, space=space, embedding=v) for i, v in zip(batch, projected, strict=True)],
            ignore_conflicts=True,
        )
        done = min(start + FILL_BATCH_SIZE, len(ids))
        share = TRAINED + (FILLED - TRAINED) * done // max(len(ids), 1)
        _update(model, progress=share, message=f"Filling: {done} of {len(ids)} items.")
        if progress:
            progress(done, len(ids))
    spaces.finish_building(space)
    space.refresh_from_db()
    _update(model, progress=FILLED)
    return len(ids)


def _evaluate(model: JointModel) -> None:
    """Evaluate the new space against the active one (and the zero-shot one) and keep the report."""
    _update(model, state=JointModel.State.EVALUATING, message="Evaluating against the active space.")
    evaluate_model(model)
