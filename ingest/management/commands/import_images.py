from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog import services as catalog
from catalog.models import Category
from ingest import services as ingest
from ml.images import InvalidImage

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif"}


@dataclass(frozen=True)
class Entry:
    path: Path
    category: str
    title: str = ""  # empty: from the file name
    description: str = ""


@dataclass(frozen=True)
class Columns:
    category: str = "category"
    file: str = "file"
    title: str | None = None
    description: str | None = None


def folder_tree(root: Path) -> list[Entry]:
    """DIR/<category>/<image>: the tutorial's dataset layout."""
    return [
        Entry(path, path.parent.name)
        for path in sorted(root.glob("*/*"))
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    ]


def labelled_folder(root: Path, labels: Path, columns: Columns, unlabelled: str | None) -> list[Entry]:
    """A flat folder and a CSV naming each file's category, and optionally its title and description."""
    with labels.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        # Without a category column every row goes to the unlabelled category, when one is named.
        wanted = {columns.file} | {c for c in (columns.title, columns.description) if c}
        wanted |= set() if unlabelled and columns.category not in (reader.fieldnames or []) else {columns.category}
        missing = wanted - set(reader.fieldnames or [])
        if missing:
            raise CommandError(f"{labels} has no column(s) {', '.join(sorted(missing))}; it has {reader.fieldnames}.")
        entries = [
            Entry(
                root / row[columns.file],
                (row.get(columns.category) or "").strip() or unlabelled or "",
                (row[columns.title] or "").strip()[:200] if columns.title else "",
                (row[columns.description] or "").strip() if columns.description else "",
            )
            for row in reader
        ]
        return [entry for entry in entries if entry.category]


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
        parser.add_argument("--title-column", help="CSV column holding the title (default: from the file name).")
        parser.add_argument(
            "--description-column", help="CSV column holding the description (word models learn from it)."
        )
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
        title_column: str | None,
        description_column: str | None,
        unlabelled_category: str | None,
        **options,
    ) -> None:
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a folder.")
        if labels:
            columns = Columns(column, file_column, title_column, description_column)
            entries = labelled_folder(directory, labels, columns, unlabelled_category)
        elif title_column or description_column:
            raise CommandError("--title-column and --description-column read the --labels CSV.")
        else:
            entries = folder_tree(directory)
        if not entries:
            raise CommandError(f"No images found in {directory}.")
        categories: dict[str, Category] = {}
        duplicates = 0
        problems: list[str] = []
        with ingest.uploads() as batch:
            for entry in tqdm(entries, desc="Importing", unit="image"):
                path, category_name = entry.path, entry.category
                try:
                    if category_name not in categories:
                        categories[category_name] = catalog.get_or_create_category(
                            category_name, trained_on=category_name != unlabelled_category
                        )
                    batch.add(
                        data=path.read_bytes(),
                        filename=path.name,
                        category=categories[category_name],
                        title=entry.title,  # empty: create_image makes one from the file name
                        description=entry.description,
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
