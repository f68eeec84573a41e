"""Writes to the catalogue: creating items from uploads and moving them through their states.

The catalogue knows nothing of vectors or queues: whoever creates items (admin, API, import
commands, all in `search`) queues their processing explicitly, in batches.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import PurePath

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify

from catalog.models import Category, Image
from catalog.names import clean_name, name_key
from catalog.titles import title_from_filename
from ml.images import InvalidImage, decode_image, read_upload

logger = logging.getLogger(__name__)

STORAGE_UNAVAILABLE = "The image could not be stored right now (storage unavailable); nothing was kept. Try later."


class DuplicateImage(Exception):
    def __init__(self, existing: Image) -> None:
        super().__init__(f"This image is already in the catalogue as “{existing.title}” (#{existing.pk}).")
        self.existing = existing


def find_category(name: str) -> Category | None:
    """The category called `name`, however it is typed (case, accents composed or not, compatibility
    forms: catalog.names.name_key)."""
    return Category.objects.filter(key=name_key(name)).first()


def get_or_create_category(name: str, *, trained_on: bool = True) -> Category:
    """The category called `name` (see `find_category`), created if missing (`trained_on` applies
    to a new one); safe when two requests race (the database refuses a second category with the
    same key, or a taken slug)."""
    name = clean_name(name)
    for _ in range(5):
        category = find_category(name)
        if category:
            return category
        base = slugify(name)[:120] or "category"
        slug, n = base, 1
        while Category.objects.filter(slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        try:
            with transaction.atomic():
                return Category.objects.create(name=name, slug=slug, trained_on=trained_on)
        except IntegrityError:
            continue  # created (or its slug taken) meanwhile: look again
    raise IntegrityError(f"Could not create the category {name!r}.")


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

    The file is stored as `<sha256>.<extension of the detected format>`, whatever the uploader
    called it. Raises InvalidImage (not an image, damaged, too large, a format we don't accept) or
    DuplicateImage, also when an upload of the same bytes wins a race (its file is removed).
    """
    # Decoded only to refuse what the worker could not open: at the smallest scale, which still
    # reads every byte (the worker decodes it again at the size it needs).
    decoded = decode_image(data, max_pixels=settings.MAX_IMAGE_PIXELS, at_least=(1, 1))
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
        width=decoded.size[0],
        height=decoded.size[1],
    )
    image.original.save(f"{digest}.{decoded.extension}", ContentFile(data), save=False)
    try:
        with transaction.atomic():  # one commit for the row and its text document
            image.save()
            refresh_search_documents(image_ids=[image.pk])
    except Exception as exc:
        image.original.delete(save=False)  # no file without its row
        winner = Image.objects.filter(sha256=digest).first() if isinstance(exc, IntegrityError) else None
        if winner:
            raise DuplicateImage(winner) from None
        raise
    return image


@dataclass
class UploadReport:
    created: list[Image] = field(default_factory=list)
    errors: list[tuple[str, str, Image | None]] = field(default_factory=list)  # (file, message, existing)


def upload_files(
    files: list[UploadedFile],
    *,
    category: Category,
    title: str = "",
    titles: list[str] | None = None,
    description: str = "",
    user=None,
) -> UploadReport:
    """Create an item per good file; each bad file gets its own message and stops nothing.
    `titles` gives each file its own title (in the order of `files`); `title` serves a single
    file; any file without one is titled from its name."""
    report = UploadReport()
    titles = titles or []
    for number, upload in enumerate(files):
        name = upload.name or "upload"
        own_title = titles[number].strip() if number < len(titles) else ""
        try:
            image = create_image(
                data=read_upload(upload, max_bytes=settings.MAX_UPLOAD_BYTES),
                filename=name,
                category=category,
                title=own_title or (title if len(files) == 1 else ""),
                description=description,
                uploaded_by=user,
            )
        except InvalidImage as exc:
            report.errors.append((name, str(exc), None))
        except DuplicateImage as exc:
            report.errors.append((name, str(exc), exc.existing))
        except OSError:  # the storage refused the file: this one fails, the others go on
            logger.exception("Could not store the upload %s", name)
            report.errors.append((name, STORAGE_UNAVAILABLE, None))
        else:
            report.created.append(image)
    return report


# --- Text search -------------------------------------------------------------------------

# English stemming ("sofas" finds "Leather sofa"); title and category name weigh most. Only the
# tags the classifier is sure of (probability >= 0.5) count as text: a guess is not a caption.
SEARCH_DOCUMENT_SQL = """
UPDATE catalog_image AS i SET search_document =
    setweight(to_tsvector('english', i.title), 'A')
    || setweight(to_tsvector('english', c.name), 'A')
    || setweight(to_tsvector('english', i.description), 'B')
    || setweight(jsonb_to_tsvector('english', jsonb_path_query_array(i.tags, '$[*] ? (@.score >= 0.5).word'),
                                   '["string"]'), 'C')
FROM catalog_category AS c
WHERE c.id = i.category_id AND {where}
"""


def refresh_search_documents(*, image_ids: list[int] | None = None, category: Category | None = None) -> None:
    """Rebuild the full-text document of the given items, or of every item of a category."""
    if category is not None:
        where, params = "i.category_id = %s", [category.pk]
    else:
        where, params = "i.id = ANY(%s)", [list(image_ids or [])]
    with connection.cursor() as cursor:
        cursor.execute(SEARCH_DOCUMENT_SQL.format(where=where), params)


# --- States -------------------------------------------------------------------------------
# Ready items stay ready (and searchable) while they are processed again.

UNCLAIMED = {"claimed_by": "", "claimed_at": None}


@dataclass
class Claim:
    images: list[Image]  # the items this run may process
    interrupted: bool  # an earlier run left its claim on some of them: its worker died


def claim_for_processing(image_ids: list[int], *, run: str, include_ready: bool = False) -> Claim:
    """Claim the items of a batch for one run (a Celery task id), so that two runs never process
    one item. Items claimed by another live run, or ready when `include_ready` is off, are left out.
    A claim can be retaken by the same run (the task redelivered after its worker died) or once it
    is older than PROCESSING_STALE_AFTER; both mean an earlier run never finished."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.PROCESSING_STALE_AFTER)
    with transaction.atomic():
        candidates = (
            Image.objects.select_for_update(skip_locked=True)
            .filter(pk__in=image_ids)
            .filter(Q(claimed_by="") | Q(claimed_by=run) | Q(claimed_at__lt=stale))
        )
        if not include_ready:
            candidates = candidates.exclude(status=Image.Status.READY)
        rows = list(candidates.values_list("pk", "claimed_by"))
        ids = [pk for pk, _ in rows]
        Image.objects.filter(pk__in=ids).update(claimed_by=run, claimed_at=now)
    images = list(Image.objects.filter(pk__in=ids).select_related("category").order_by("pk"))
    return Claim(images=images, interrupted=any(claimed for _, claimed in rows))


def start_processing(image_ids: list[int]) -> None:
    """Claimed items whose processing starts now: processing unless they are ready already."""
    Image.objects.filter(pk__in=image_ids).exclude(status=Image.Status.READY).update(
        status=Image.Status.PROCESSING, error="", updated_at=timezone.now()
    )


def release(image_ids: list[int], *, run: str) -> None:
    """A run gives its items back unprocessed (to be queued again): not ready ones are pending."""
    claimed = Image.objects.filter(pk__in=image_ids, claimed_by=run)
    claimed.exclude(status=Image.Status.READY).update(status=Image.Status.PENDING, updated_at=timezone.now())
    claimed.update(**UNCLAIMED)


def note_interruption(image_id: int) -> int:
    """Count a run of this item alone whose worker died; returns the count so far."""
    Image.objects.filter(pk=image_id).update(interruptions=F("interruptions") + 1)
    return Image.objects.values_list("interruptions", flat=True).get(pk=image_id)


def mark_failed(image_ids: list[int], message: str) -> None:
    """Fail items that are not ready, with a message for the admin; no item stays processing."""
    Image.objects.filter(pk__in=image_ids).exclude(status=Image.Status.READY).update(
        status=Image.Status.FAILED, error=message[:2000], updated_at=timezone.now()
    )
    Image.objects.filter(pk__in=image_ids).update(interruptions=0, **UNCLAIMED)


@dataclass(frozen=True)
class Processed:
    """What processing made of an item: its thumbnail and annotations."""

    image: Image
    size: tuple[int, int]  # (width, height) as shown
    thumbnail: bytes  # JPEG
    classes: list
    tags: list


# The batch's annotations and its ready state in one statement (Django's bulk_update spent
# ~8 ms an item building its CASE expressions; one UPDATE per item cost a round trip each).
MARK_READY_SQL = """
UPDATE catalog_image AS i SET
    thumbnail = v.thumbnail, width = v.width, height = v.height, classes = v.classes, tags = v.tags,
    status = %s, error = '', interruptions = 0, updated_at = %s, claimed_by = '', claimed_at = NULL
FROM jsonb_to_recordset(%s::jsonb)
    AS v(id bigint, thumbnail text, width integer, height integer, classes jsonb, tags jsonb)
WHERE i.id = v.id
"""


def mark_ready(processed: list[Processed]) -> None:
    """Store processed items' thumbnails and annotations, in one transaction with their text
    documents; old thumbnails go once it commits."""
    old_thumbnails, rows = [], []
    with transaction.atomic():
        for item in processed:
            image = item.image
            old_thumbnail = image.thumbnail.name
            image.thumbnail.save(f"{PurePath(image.original.name).stem}.jpg", ContentFile(item.thumbnail), save=False)
            if old_thumbnail and old_thumbnail != image.thumbnail.name:
                old_thumbnails.append(old_thumbnail)
            width, height = item.size
            rows.append(
                {"id": image.pk, "thumbnail": image.thumbnail.name, "width": width, "height": height}
                | {"classes": item.classes, "tags": item.tags}
            )
        with connection.cursor() as cursor:
            cursor.execute(MARK_READY_SQL, [Image.Status.READY, timezone.now(), json.dumps(rows)])
        refresh_search_documents(image_ids=[item.image.pk for item in processed])  # their tags are searchable text too
        storage = Image._meta.get_field("thumbnail").storage
        for name in old_thumbnails:
            transaction.on_commit(lambda name=name: storage.delete(name))


def reset_for_processing(image_ids: list[int]) -> None:
    """Items about to be processed again: failed or stuck ones go back to pending."""
    Image.objects.filter(pk__in=image_ids).exclude(status=Image.Status.READY).update(
        status=Image.Status.PENDING, error="", updated_at=timezone.now()
    )
