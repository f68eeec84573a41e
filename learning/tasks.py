"""Celery tasks of learning. Tasks carry ids only."""

from __future__ import annotations

from celery import shared_task

from learning import training
from spaces.models import JointModel


@shared_task(acks_late=False)
def train_joint_model(model_id: int) -> None:
    """Train a head, fill its space and evaluate it (progress on the JointModel row).
    Not retried: a failure is recorded on the model for the admin."""
    model = JointModel.objects.select_related("space", "image_space").get(pk=model_id)
    training.run_training(model)
