"""Writes to the catalogue: creating items from uploads and moving them through their states.

The catalogue knows nothing of vectors or queues: whoever creates items (admin, API, import
commands, all in `search`) queues their processing explicitly, in batches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import PurePath

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.text import slugify

from catalog.models import Category, Image
from ml.images import InvalidImage, open_image, read_upload


class DuplicateImage(Exception):
    def __init__(self, existing: Image) -> None:
        super().__init__(f"This image is already in the catalogue as “{existing.title}” (#{existing.pk}).")
        self.existing = existing


def get_or_create_category(name: str, *, trained_on: bool = True) -> Category:
    """The category called `name` (any case), created if missing; `trained_on` applies to a new one."""
    name = name.strip()
    category = Category.objects.filter(name__iexact=name).first()
    if category:
        return category
    base = slugify(name)[:120] or "category"
    slug, n = base, 1
    while Category.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return Category.objects.create(name=name, slug=slug, trained_on=trained_on)


def title_from_filename(filename: str) -> str:
    stem = PurePath(filename).stem
    return stem.replace("_", " ").replace("-", " ").strip()[:200] or "Untitled"


def create_image(
    *,
    data: bytes,
    filename: str,
    category: Category,
    title: str = "",
    description: str = "",
    uploaded_by=None,
) -> Image:
    """Validate the bytes, store the file and add a pending item (the caller queues its processing).

    Raises InvalidImage (not an image, damaged, too large) or DuplicateImage.
    """
    picture = open_image(data, max_pixels=settings.MAX_IMAGE_PIXELS)
    digest = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(sha256=digest).first()
    if existing:
        raise DuplicateImage(existing)
    image = Image(
        title=title.strip() or title_from_filename(filename),
        description=description,
        category=category,
        sha256=digest,
        uploaded_by=uploaded_by if getattr(uploaded_by, "is_authenticated", False) else None,
        width=picture.width,
        height=picture.height,
    )
    image.original.save(PurePath(filename).name or "upload", ContentFile(data), save=False)
    image.save()
    return image


@dataclass
class UploadReport:
    created: list[Image] = field(default_factory=list)
    errors: list[tuple[str, str, Image | None]] = field(default_factory=list)  # (file, message, existing)


def upload_files(
    files: list[UploadedFile], *, category: Category, title: str = "", description: str = "", user=None
) -> UploadReport:
    """Create an item per good file; each bad file gets its own message and stops nothing."""
    report = UploadReport()
    for upload in files:
        name = upload.name or "upload"
        try:
            image = create_image(
                data=read_upload(upload, max_bytes=settings.MAX_UPLOAD_BYTES),
                filename=name,
                category=category,
                title=title if len(files) == 1 else "",
                description=description,
                uploaded_by=user,
            )
        except InvalidImage as exc:
            report.errors.append((name, str(exc), None))
        except DuplicateImage as exc:
            report.errors.append((name, str(exc), exc.existing))
        else:
            report.created.append(image)
    return report


# --- States -------------------------------------------------------------------------------
# Ready items stay ready (and searchable) while they are processed again.


def start_processing(image_ids: list[int]) -> list[Image]:
    """The items of a batch, marked processing unless they are ready already."""
    Image.objects.filter(pk__in=image_ids).exclude(status=Image.Status.READY).update(
        status=Image.Status.PROCESSING, error=""
    )
    return list(Image.objects.filter(pk__in=image_ids).select_related("category"))


def mark_failed(image_ids: list[int], message: str) -> None:
    """Fail items that are not ready, with a message for the admin; no item stays processing."""
    Image.objects.filter(pk__in=image_ids).exclude(status=Image.Status.READY).update(
        status=Image.Status.FAILED, error=message[:2000]
    )


def mark_ready(image: Image, *, size: tuple[int, int], thumbnail: bytes, classes: list, tags: list) -> None:
    """Store a processed item's thumbnail and annotations; the old thumbnail goes once the row is saved."""
    old_thumbnail = image.thumbnail.name
    image.thumbnail.save(f"{PurePath(image.original.name).stem}.jpg", ContentFile(thumbnail), save=False)
    image.width, image.height = size
    image.classes, image.tags = classes, tags
    image.status, image.error = Image.Status.READY, ""
    image.save(update_fields=["thumbnail", "width", "height", "classes", "tags", "status", "error", "updated_at"])
    if old_thumbnail and old_thumbnail != image.thumbnail.name:
        storage = image.thumbnail.storage
        transaction.on_commit(lambda: storage.delete(old_thumbnail))


def reset_for_processing(image_ids: list[int]) -> None:
    """Items about to be processed again: failed or stuck ones go back to pending."""
    Image.objects.filter(pk__in=image_ids).exclude(status=Image.Status.READY).update(
        status=Image.Status.PENDING, error=""
    )
