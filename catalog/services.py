"""Writes to the catalogue: creating items from uploads and processing them in the worker."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import IO

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.text import slugify
from PIL import Image as PILImage

from catalog.models import Category, Image
from ml.images import InvalidImage, open_image, thumbnail_jpeg

logger = logging.getLogger(__name__)


class DuplicateImage(Exception):
    def __init__(self, existing: Image) -> None:
        super().__init__(f"This image is already in the catalogue as “{existing.title}” (#{existing.pk}).")
        self.existing = existing


class UploadTooLarge(InvalidImage):
    pass


def get_or_create_category(name: str) -> Category:
    name = name.strip()
    category = Category.objects.filter(name__iexact=name).first()
    if category:
        return category
    base = slugify(name)[:120] or "category"
    slug, n = base, 1
    while Category.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return Category.objects.create(name=name, slug=slug)


def title_from_filename(filename: str) -> str:
    stem = PurePath(filename).stem
    return stem.replace("_", " ").replace("-", " ").strip()[:200] or "Untitled"


def read_upload(file: IO[bytes], *, max_bytes: int | None = None) -> bytes:
    """Read an upload, refusing files over the limit without reading them whole."""
    limit = max_bytes or settings.MAX_UPLOAD_BYTES
    data = file.read(limit + 1)
    if len(data) > limit:
        raise UploadTooLarge(f"The file is larger than the limit of {limit // (1024 * 1024)} MB.")
    return data


def create_image(
    *,
    data: bytes,
    filename: str,
    category: Category,
    title: str = "",
    description: str = "",
    uploaded_by=None,
    queue: bool = True,
) -> Image:
    """Validate the bytes, store the file and (unless `queue` is False, for callers that
    queue many items in batches themselves) queue the item for processing.

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
    with transaction.atomic():
        image.save()
        if queue:
            enqueue_processing([image.pk])
    return image


def enqueue_processing(image_ids: Iterable[int]) -> None:
    """Queue processing once the current transaction commits (the worker must see the rows)."""
    from catalog.tasks import process_images

    ids = list(image_ids)
    batch = settings.EMBED_BATCH_SIZE
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        transaction.on_commit(lambda chunk=chunk: process_images.delay(chunk))


@dataclass
class Decoded:
    image: Image
    picture: PILImage.Image


def mark_failed(image: Image, message: str) -> None:
    Image.objects.filter(pk=image.pk).update(status=Image.Status.FAILED, error=message[:2000])


def decode_for_processing(image: Image) -> Decoded | None:
    """Open the stored original, record its size and thumbnail; fail the item on bad bytes."""
    with image.original.open("rb") as handle:
        data = handle.read()
    try:
        picture = open_image(data, max_pixels=settings.MAX_IMAGE_PIXELS)
    except InvalidImage as exc:
        mark_failed(image, str(exc))
        return None
    if image.thumbnail:
        image.thumbnail.delete(save=False)
    image.thumbnail.save(f"{PurePath(image.original.name).stem}.jpg", ContentFile(thumbnail_jpeg(picture)), save=False)
    image.width, image.height = picture.size
    return Decoded(image, picture)


def process_images(image_ids: list[int]) -> None:
    """The worker's job: decode, thumbnail and embed a batch of items, then mark them ready.

    Idempotent: re-running replaces thumbnails, vectors and tags. Bad files fail their own item
    with a readable message; anything else propagates so that the task is retried.
    """
    from search.services import index_images

    images = list(Image.objects.filter(pk__in=image_ids).select_related("category"))
    # Ready items stay ready (and searchable) while they are embedded again.
    Image.objects.filter(pk__in=[i.pk for i in images]).exclude(status=Image.Status.READY).update(
        status=Image.Status.PROCESSING, error=""
    )
    decoded = [d for d in (decode_for_processing(image) for image in images) if d is not None]
    if not decoded:
        return
    annotations = index_images([d.image.pk for d in decoded], [d.picture for d in decoded])
    for item in decoded:
        image = item.image
        image.classes = annotations[image.pk].classes
        image.tags = annotations[image.pk].tags
        image.status = Image.Status.READY
        image.error = ""
        image.save(update_fields=["thumbnail", "width", "height", "classes", "tags", "status", "error", "updated_at"])


def mark_processing_error(image_ids: list[int], message: str) -> None:
    """Called when retries are exhausted, so no item stays 'processing' for ever."""
    Image.objects.filter(pk__in=image_ids).exclude(status=Image.Status.READY).update(
        status=Image.Status.FAILED, error=message[:2000]
    )


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
            data = read_upload(upload)
            image = create_image(
                data=data,
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
