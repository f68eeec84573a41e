"""Training benchmark: the word model's head on the stored features of --items catalogue items.

Uses the real items of trainable categories when there are enough; otherwise the rest are
synthetic: a random real labelled item's features plus Gaussian noise (0.3 of each feature's
spread, clipped at 0 like post-ReLU features), with that item's label. Nothing is stored.
"""

from __future__ import annotations

import os
import time

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bench.report import write_section
from learning import datasets, training
from ml.devise import stratified_split, train_head
from spaces import selectors as spaces_selectors
from spaces.models import EmbeddingSpace

REPORT = settings.BASE_DIR / "docs" / "benchmarks.md"
Kind = EmbeddingSpace.Kind


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--items", type=int, default=1000)
        parser.add_argument("--no-report", action="store_true", help="Do not write docs/benchmarks.md.")

    def handle(self, *args, items: int, no_report: bool, **options) -> None:
        image_space, joint_space = spaces_selectors.active_space(Kind.IMAGE), spaces_selectors.active_space(Kind.JOINT)
        if image_space is None or joint_space is None:
            raise CommandError("No processed items yet: import some labelled images first.")
        real = datasets.labelled_items(image_space, joint_space.word_space, text_words=False)
        if len(real.image_ids) < 2:
            raise CommandError("Fewer than two labelled items with known label words: nothing to start from.")
        rng = np.random.default_rng(0)
        count = min(items, len(real.image_ids))
        rows = rng.choice(len(real.image_ids), size=items - count)
        synthetic = real.features[rows] + rng.normal(size=(len(rows), image_space.dims)) * 0.3 * real.features.std(0)
        features = np.concatenate([real.features[:count], np.maximum(synthetic, 0)]).astype(np.float32)
        labels = np.concatenate([real.labels[:count], real.labels[rows]])
        config = training.TrainingOptions().head_config()
        started = time.perf_counter()
        head = train_head(
            features,
            real.label_vectors[labels],
            labels,
            real.label_vectors,
            config,
            validation=stratified_split(labels, training.VALIDATION_FRACTION, config.seed + 1),
        )
        seconds = time.perf_counter() - started
        line = (
            f"{items} items ({count} real, {items - count} synthetic around them), {image_space.dims}-d features → "
            f"{real.label_vectors.shape[1]}-d words, {len(real.label_names)} labels; head {config.hidden} hidden, "
            f"{config.loss} loss, {config.threads} threads: **{seconds:.1f} s** for {len(head.history)} epochs "
            f"(early stop; best {head.best_epoch}), {seconds / len(head.history):.2f} s per epoch."
        )
        self.stdout.write(line)
        if not no_report:
            body = (
                f"`manage.py benchmark_training --items {items}` on {os.cpu_count()} CPU cores "
                f"(the machine shared with other work):\n\n- {line}\n\n"
                "The features are stored, so no CNN runs: the time is the head's alone (the tutorial re-ran "
                "VGG16 on every image in every epoch, 6-7 hours on a laptop CPU)."
            )
            write_section(REPORT, "Training a word model", body)
