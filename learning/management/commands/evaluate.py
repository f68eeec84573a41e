from __future__ import annotations

from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from rich.console import Console
from rich.table import Table

from learning import evaluation, report
from spaces import selectors
from spaces.models import EmbeddingSpace

Kind = EmbeddingSpace.Kind


class Command(BaseCommand):
    help = (
        "Evaluate embedding spaces side by side on the catalogue, or on a labelled folder of photos "
        "(--dataset DIR --labels FILE --column NAME), and write a self-contained HTML report."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--space", action="append", help="A space to compare (repeat; default: every joint space).")
        parser.add_argument("--dataset", type=Path, help="A folder of photos (not added to the catalogue).")
        parser.add_argument("--labels", type=Path, help="CSV naming each photo's label (with --dataset).")
        parser.add_argument("--column", default="category", help="CSV column holding the label.")
        parser.add_argument("--file-column", default="file", help="CSV column holding the file name.")
        parser.add_argument("--output", type=Path, help="Write the report here (default: media storage, reports/).")

    def handle(self, *args, space, dataset, labels, column, file_column, output, **options) -> None:
        spaces = self.spaces(space)
        if dataset:
            if not (dataset.is_dir() and labels and labels.is_file()):
                raise CommandError("--dataset needs a folder and --labels a CSV file.")
            eval_set = evaluation.folder_set(spaces, dataset, labels, column, file_column)
        else:
            eval_set = evaluation.catalogue_set(spaces)
        result = evaluation.evaluate(eval_set, spaces)
        self.print_table(result)
        page = report.render_report(result, eval_set, spaces)
        if output:
            output.write_text(page)
            where = str(output)
        else:
            name = default_storage.save(f"reports/evaluation-{timezone.now():%Y%m%d-%H%M%S}.html", ContentFile(page))
            where = f"{name} (in media storage)"
        self.stdout.write(self.style.SUCCESS(f"Report: {where}"))

    def spaces(self, names: list[str] | None) -> list[EmbeddingSpace]:
        if names:
            found = {space.name: space for space in EmbeddingSpace.objects.filter(name__in=names)}
            missing = sorted(set(names) - set(found))
            if missing:
                raise CommandError(f"No embedding space named {', '.join(missing)}.")
            spaces = [found[name] for name in names]
        else:
            spaces = list(
                EmbeddingSpace.objects.filter(kind=Kind.JOINT)
                .exclude(state=EmbeddingSpace.State.BUILDING)
                .order_by("created_at")
            )
        image_space = selectors.active_space(Kind.IMAGE)
        if image_space is not None and all(space.kind != Kind.IMAGE for space in spaces):
            spaces.append(image_space)  # the baseline for image -> image precision
        if not any(space.kind == Kind.JOINT for space in spaces):
            raise CommandError("No joint space to evaluate: process some images first.")
        return spaces

    def print_table(self, result: dict) -> None:
        table = Table(title=f"{result['source']}: {result['labelled']} labelled, {len(result['labels'])} label words")
        headings = ("space", "P@10", "R-prec", "R-prec trained", "R-prec zero-shot", "text words P@10 / R-prec")
        for heading in (*headings, "tag hits", "image P@10"):
            table.add_column(heading)
        for name, entry in result["spaces"].items():
            values = [
                entry.get("all", {}).get("p10"),
                entry.get("all", {}).get("r_precision"),
                entry.get("trained", {}).get("r_precision"),
                entry.get("zero-shot", {}).get("r_precision"),
                None,
                entry.get("tag_hit_rate"),
                entry["image_p10"],
            ]
            cells = ["—" if value is None else f"{value:.3f}" for value in values]
            text = entry.get("text") or {}
            cells[4] = f"{text['p10']:.3f} / {text['r_precision']:.3f}" if text.get("words") else "—"
            table.add_row(name, *cells)
        console = Console()
        console.print(table)
        if result.get("text"):
            words = ", ".join(result["text"]["words"])
            console.print(f"Text words (from {result['text']['described']} held-out described items): {words}")
        for note in result["notes"]:
            console.print(note)
