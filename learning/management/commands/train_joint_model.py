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
        parser.add_argument(
            "--head",
            choices=("auto", *training.HEADS),
            default=settings.JOINT_HEAD,
            help="auto: ridge on the items' texts in a sentence space, the DeViSE head in a word-vector space.",
        )
        parser.add_argument("--loss", choices=LOSSES, default=settings.JOINT_LOSS, help="DeViSE head only.")
        parser.add_argument("--hidden", type=int, default=settings.JOINT_HIDDEN, help="Hidden layer size.")
        parser.add_argument(
            "--blend", type=float, help="Share of the zero-shot (ConSE) vector, 0-1 (default: as measured per head)."
        )
        parser.add_argument(
            "--holdout",
            type=float,
            default=settings.JOINT_HOLDOUT,
            help="Share of the described items (per category) whose text is kept out of training, for evaluate.",
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
        if not 0 <= (options["blend"] or 0) <= 1 or not 0 <= options["holdout"] < 1:
            raise CommandError("--blend must be within 0-1 and --holdout within 0-1 (excluded).")
        training_options = TrainingOptions(
            head=options["head"],
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
        if "epochs" in metrics:
            done = f"{metrics['epochs']} epochs (kept {metrics['best_epoch']}); "
            done += f"validation accuracy {metrics['val_accuracy']:.3f}"
        else:
            done = f"{metrics['head']} head, regularisation {metrics['regularisation']:g}, "
            done += f"{metrics['held_out_items']} described items held out for evaluate"
        self.stdout.write(
            f"{model.space.name}: trained on {model.training_size} items ({len(model.labels)} labels) in "
            f"{metrics['seconds']} s, {done}."
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
