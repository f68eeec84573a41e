from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ingest import tasks
from learning import services as learning_services
from learning import training
from learning.training import TrainingError, TrainingOptions
from ml.devise import LOSSES
from spaces import services as spaces_services


class Command(BaseCommand):
    help = (
        "Train an image-to-word head on the stored features of the catalogue's labelled items and "
        "register it as a new joint space, filled while the active one serves; then evaluate it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--loss", choices=LOSSES, default=settings.JOINT_LOSS)
        parser.add_argument("--hidden", type=int, default=settings.JOINT_HIDDEN, help="Hidden layer size.")
        parser.add_argument(
            "--blend", type=float, default=settings.JOINT_BLEND, help="Share of the zero-shot (ConSE) vector, 0-1."
        )
        parser.add_argument(
            "--holdout",
            type=float,
            default=settings.JOINT_HOLDOUT,
            help="Share of each category's items kept out of training (evaluated on instead).",
        )
        parser.add_argument("--text-words", action="store_true", help="Also learn the items' title/description words.")
        parser.add_argument(
            "--exclude", default="", help="Comma-separated categories not to train on (zero-shot words for evaluate)."
        )
        parser.add_argument("--max-epochs", type=int, default=100)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--queue", action="store_true", help="Leave the work to a Celery worker.")
        parser.add_argument("--activate", action="store_true", help="Switch searches to the new space when filled.")

    def handle(self, *args, queue: bool, activate: bool, exclude: str, **options) -> None:
        if not 0 <= options["blend"] <= 1 or not 0 <= options["holdout"] < 1:
            raise CommandError("--blend must be within 0-1 and --holdout within 0-1 (excluded).")
        training_options = TrainingOptions(
            loss=options["loss"],
            hidden=options["hidden"],
            blend=options["blend"],
            holdout=options["holdout"],
            text_words=options["text_words"],
            exclude_labels=tuple(name.strip() for name in exclude.split(",") if name.strip()),
            max_epochs=options["max_epochs"],
            seed=options["seed"],
        )
        try:
            model = training.start_training(training_options)
        except TrainingError as exc:
            raise CommandError(str(exc)) from None
        if queue:
            tasks.train_joint_model.delay(model.pk)
            self.stdout.write(self.style.SUCCESS(f"Queued training of {model.space.name}; follow it in the admin."))
            return
        try:
            training.run_training(model)
        except TrainingError as exc:
            raise CommandError(str(exc)) from None
        metrics = model.metrics
        self.stdout.write(
            f"{model.space.name}: trained on {model.training_size} items ({len(model.labels)} labels) in "
            f"{metrics['seconds']} s, {metrics['epochs']} epochs (kept {metrics['best_epoch']}); "
            f"validation accuracy {metrics['val_accuracy']:.3f}."
        )
        if metrics.get("skipped_labels"):
            self.stdout.write(f"No known words, not trained on: {', '.join(metrics['skipped_labels'])}.")
        for name, entry in metrics.get("evaluation", {}).items():
            if "all" in entry:
                self.stdout.write(
                    f"  {name}: P@10 {entry['all']['p10']}, R-precision {entry['all']['r_precision']}, "
                    f"tag hit rate {entry['tag_hit_rate']}, image P@10 {entry['image_p10']}"
                )
        if metrics.get("verdict"):
            self.stdout.write(f"Compared with the active space: {metrics['verdict']}.")
        self.stdout.write(f"Report: {model.report.name or '—'} (in media storage)")
        if activate:
            try:
                learning_services.switch_to(model.space)
            except spaces_services.SpaceRefused as exc:
                raise CommandError(str(exc)) from None
        model.space.refresh_from_db()
        self.stdout.write(self.style.SUCCESS(f"{model.space.name} is {model.space.state}."))
