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
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile

from learning import filling, text_training
from learning.datasets import labelled_items
from learning.services import evaluate_model, switch_to
from ml.devise import CODE_VERSION, HeadConfig, save_weights, stratified_split, train_head
from spaces import selectors
from spaces import services as spaces
from spaces.models import EmbeddingSpace, JointModel

logger = logging.getLogger(__name__)

Kind = EmbeddingSpace.Kind
VALIDATION_FRACTION = 0.15  # of the training items, for early stopping
# Progress (percent) at the end of each phase: training, filling, evaluating.
TRAINED, FILLED = 70, 90


class TrainingError(ValueError):
    """Training cannot start or finish; the message says why."""


HEADS = ("devise", *text_training.LINEAR_HEADS)
FINISHED = (JointModel.State.READY, JointModel.State.FAILED)


@dataclass(frozen=True)
class TrainingOptions:
    head: str = field(default_factory=lambda: settings.JOINT_HEAD)  # auto: ridge in a sentence space, else devise
    loss: str = field(default_factory=lambda: settings.JOINT_LOSS)
    hidden: int = field(default_factory=lambda: settings.JOINT_HIDDEN)
    blend: float | None = None  # None: JOINT_TEXT_BLEND for a linear head, JOINT_BLEND for DeViSE
    holdout: float = field(default_factory=lambda: settings.JOINT_HOLDOUT)
    text_words: bool = False
    exclude_labels: tuple[str, ...] = ()  # categories left out of training: zero-shot words for `evaluate`
    max_epochs: int = 100
    seed: int = 0

    def resolved(self, word_space: EmbeddingSpace) -> TrainingOptions:
        """The head and blend that `auto` and None stand for in this word space."""
        head = self.head
        if head == "auto":
            head = "ridge" if word_space.encodes_sentences else "devise"
        if head not in HEADS:
            raise TrainingError(f"Unknown head {head!r}; valid heads are: auto, {', '.join(HEADS)}.")
        if head != "devise" and not word_space.encodes_sentences:
            raise TrainingError(f"The {head} head learns a sentence space; {word_space.name} is not one.")
        if self.blend is None:
            blend = settings.JOINT_BLEND if head == "devise" else settings.JOINT_TEXT_BLEND
        else:
            blend = self.blend
        return replace(self, head=head, blend=blend)

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


def _next_name(image_space: EmbeddingSpace, head: str) -> str:
    number = JointModel.objects.count() + 1
    while EmbeddingSpace.objects.filter(name=f"{head}/{image_space.name}/v{number}").exists():
        number += 1
    return f"{head}/{image_space.name}/v{number}"


def start_training(options: TrainingOptions) -> JointModel:
    """Register a new joint space (building, empty) and its model row; `run_training` does the work."""
    image_space, joint_space = selectors.active_space(Kind.IMAGE), selectors.active_space(Kind.JOINT)
    if image_space is None or joint_space is None:
        raise TrainingError("No processed items yet: there are no stored features to train on.")
    word_space = joint_space.word_space
    options = options.resolved(word_space)
    if options.head == "devise":
        described = f"DeViSE head ({options.loss} loss, {options.hidden} hidden, blend {options.blend:g})"
    else:
        described = f"{options.head} head on the items' texts (blend {options.blend:g})"
    space = spaces.register_space(
        name=_next_name(image_space, options.head),
        kind=Kind.JOINT,
        model=f"{described} over {image_space.name}",
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


def training_due() -> str | None:
    """Why a new model is due (enough described items, none trained yet, or enough new ones since
    the last model), or None: not due, or a model is training."""
    if JointModel.objects.filter(state__in=[s for s in JointModel.State if s not in FINISHED]).exists():
        return None
    image_space = selectors.active_space(Kind.IMAGE)
    if image_space is None:
        return None
    described = text_training.described_count(image_space)
    last = JointModel.objects.filter(image_space=image_space, state=JointModel.State.READY).first()
    if last is None:
        minimum = settings.JOINT_AUTO_TRAIN_MIN
        return f"{described} described items, no model yet" if described >= minimum else None
    new = described - last.metrics.get("described_items", 0)
    return f"{new} new described items since {last.space.name}" if new >= settings.JOINT_AUTO_TRAIN_NEW else None


def _update(model: JointModel, **fields) -> None:
    """Progress for the admin: written at once, outside any transaction."""
    for name, value in fields.items():
        setattr(model, name, value)
    JointModel.objects.filter(pk=model.pk).update(**fields)


def run_training(model: JointModel, *, report: bool = True, activate_if_better: bool = False) -> JointModel:
    """Train, fill, evaluate; on any error the model is marked failed with the reason. A model
    that beats the active one is activated with JOINT_AUTO_ACTIVATE or `activate_if_better`."""
    try:
        _train(model)
        filling.fill_space(model, progress=_fill_progress(model))
        if report:
            _evaluate(model)
        _update(model, state=JointModel.State.READY, progress=100, message=_ready_message(model))
    except Exception as exc:
        logger.exception("Training %s failed", model.space.name)
        _update(model, state=JointModel.State.FAILED, message=f"Failed: {exc}"[:300])
        raise
    if report and (settings.JOINT_AUTO_ACTIVATE or activate_if_better) and model.metrics.get("better"):
        switch_to(model.space)
    return model


def _fill_progress(model: JointModel) -> Callable[[int, int], None]:
    def progress(done: int, total: int) -> None:
        share = TRAINED + (FILLED - TRAINED) * done // max(total, 1)
        _update(model, state=JointModel.State.FILLING, progress=share, message=f"Filling: {done} of {total} items.")

    return progress


def _ready_message(model: JointModel) -> str:
    verdict = model.metrics.get("verdict")
    return f"Ready: {verdict}" if verdict else "Ready to activate."


def _options(model: JointModel) -> TrainingOptions:
    return TrainingOptions(**{**model.config, "exclude_labels": tuple(model.config.get("exclude_labels", ()))})


def _train(model: JointModel) -> None:
    options = _options(model)
    _update(model, state=JointModel.State.TRAINING, progress=0, message="Reading stored features.")
    if options.head != "devise":
        _train_linear(model, options)
        return
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


def _train_linear(model: JointModel, options: TrainingOptions) -> None:
    _update(model, message="Embedding the items' texts and fitting the head.")
    try:
        trained = text_training.train_linear(model.image_space, options)
    except text_training.TooLittleText as exc:
        raise TrainingError(str(exc)) from None
    name = f"{model.space.name.replace('/', '-')}.npz"
    model.weights.save(name, ContentFile(trained["weights"]), save=False)
    model.training_size = len(trained["train_ids"])
    model.labels, model.train_ids, model.metrics = trained["labels"], trained["train_ids"], trained["metrics"]
    model.save(update_fields=["weights", "training_size", "labels", "train_ids", "metrics"])
    seconds = trained["metrics"]["seconds"]
    _update(model, progress=TRAINED, message=f"Trained on {model.training_size} items in {seconds:.1f} s.")


def _evaluate(model: JointModel) -> None:
    """Evaluate the new space against the active one (and the zero-shot one) and keep the report."""
    _update(model, state=JointModel.State.EVALUATING, message="Evaluating against the active space.")
    evaluate_model(model)
