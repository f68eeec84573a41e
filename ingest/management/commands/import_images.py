from __future__ import annotations

import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog import services as catalog
from catalog.models import Category
from ingest import services as ingest
from ml.images import InvalidImage

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif"}


def folder_tree(root: Path) -> list[tuple[Path, str]]:
    """DIR/<category>/<image>: the tutorial's dataset layout."""
    return [
        (path, path.parent.name)
        for path in sorted(root.glob("*/*"))
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    ]


def labelled_folder(
    root: Path, labels: Path, column: str, file_column: str, unlabelled: str | None
) -> list[tuple[Path, str]]:
    with labels.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {column, file_column} - set(reader.fieldnames or [])
        if missing:
            raise CommandError(f"{labels} has no column(s) {', '.join(sorted(missing))}; it has {reader.fieldnames}.")
        rows = [(root / row[file_column], row[column].strip() or unlabelled) for row in reader]
        return [(path, label) for path, label in rows if label]


class Command(BaseCommand):
    help = (
        "Import images: a folder per category (DIR/<category>/<image>), or a flat folder with a CSV "
        "naming each file's category (--labels FILE --column NAME). Bad files are reported and skipped."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("directory", type=Path)
        parser.add_argument("--labels", type=Path, help="CSV file with a row per image.")
        parser.add_argument("--column", default="category", help="CSV column holding the category.")
        parser.add_argument("--file-column", default="file", help="CSV column holding the file name.")
        parser.add_argument(
            "--unlabelled-category",
            help="Import files with an empty label into this category, which word models are not trained on "
            "(default: skip them).",
        )

    def handle(
        self,
        *args,
        directory: Path,
        labels: Path | None,
        column: str,
        file_column: str,
        unlabelled_category: str | None,
        **options,
    ) -> None:
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a folder.")
        if labels:
            entries = labelled_folder(directory, labels, column, file_column, unlabelled_category)
        else:
            entries = folder_tree(directory)
        if not entries:
            raise CommandError(f"No images found in {directory}.")
        categories: dict[str, Category] = {}
        duplicates = 0
        problems: list[str] = []
        with ingest.uploads() as batch:
            for path, category_name in tqdm(entries, desc="Importing", unit="image"):
                try:
                    if category_name not in categories:
                        categories[category_name] = catalog.get_or_create_category(
                            category_name, trained_on=category_name != unlabelled_category
                        )
                    batch.add(
                        data=path.read_bytes(),
                        filename=path.name,
                        category=categories[category_name],
                    )
                except catalog.DuplicateImage:
                    duplicates += 1
                except (InvalidImage, OSError) as exc:
                    problems.append(f"{path}: {exc}")
        created = len(batch.created)
        for problem in problems:
            self.stderr.write(problem)
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {created} image(s) into {len(categories)} categories; "
                f"{duplicates} already present, {len(problems)} skipped. Processing continues in the workers."
            )
        )
