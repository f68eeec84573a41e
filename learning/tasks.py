"""Celery tasks of learning. Tasks carry ids only."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from learning import training
from spaces.models import JointModel

logger = logging.getLogger(__name__)


@shared_task(acks_late=False)
def train_joint_model(model_id: int, activate_if_better: bool = False) -> None:
    """Train a head, fill its space and evaluate it (progress on the JointModel row).
    Not retried: a failure is recorded on the model for the admin."""
    model = JointModel.objects.select_related("space", "image_space").get(pk=model_id)
    training.run_training(model, activate_if_better=activate_if_better)


@shared_task(acks_late=False)
def train_when_due() -> int | None:
    """Beat: with JOINT_AUTO_TRAIN, start a model when enough described items exist or enough new
    ones arrived since the last model; it becomes active only if it beats the active one."""
    if not settings.JOINT_AUTO_TRAIN:
        return None
    reason = training.training_due()
    if reason is None:
        return None
    model = training.start_training(training.TrainingOptions())
    logger.info("Training %s on its own: %s", model.space.name, reason)
    train_joint_model.delay(model.pk, activate_if_better=True)
    return model.pk
