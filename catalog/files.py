"""The stored files of catalogue items: removed once the deletion of their row commits, and
files that no row references (left by a crash between storing a file and committing its row)
swept by the reconciler.

Every delete path (admin "delete selected", the change page, the shell, a queryset delete)
sends Django's `post_delete` for each Image, so one receiver covers them all (`catalog.apps`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core.files.storage import Storage
from django.db import transaction
from django.utils import timezone

from catalog.models import Image

logger = logging.getLogger(__name__)

FILE_FIELDS = ("original", "thumbnail")
# Folders of the two file fields (their upload_to, before the date).
FOLDERS = {field: Image._meta.get_field(field).upload_to.split("/")[0] for field in FILE_FIELDS}


def storage() -> Storage:
    return Image._meta.get_field("original").storage


def delete_files_on_commit(names: list[str]) -> None:
    """Remove stored files once the current transaction commits (at once outside one): a
    rolled-back deletion keeps its files."""
    for name in filter(None, names):
        transaction.on_commit(lambda name=name: _delete(name))


def _delete(name: str) -> None:
    try:
        storage().delete(name)
    except OSError:  # the reconciler's sweep tries again later
        logger.exception("Could not delete the stored file %s", name)


def image_deleted(sender, instance: Image, **kwargs) -> None:
    """`post_delete` receiver: the item's original and thumbnail go when its deletion commits."""
    delete_files_on_commit([instance.original.name, instance.thumbnail.name])


def _files_under(folder: str) -> list[str]:
    store = storage()
    if not store.exists(folder):
        return []
    folders, files = store.listdir(folder)
    return [f"{folder}/{name}" for name in files] + [
        path for sub in folders for path in _files_under(f"{folder}/{sub}")
    ]


def remove_orphan_files(*, older_than: timedelta) -> list[str]:
    """Delete stored files that no item references and that are older than `older_than` (a
    younger one may belong to an upload whose row is not committed yet); returns their names."""
    store, cutoff, removed = storage(), timezone.now() - older_than, []
    for field, folder in FOLDERS.items():
        names = _files_under(folder)
        for start in range(0, len(names), 1000):
            batch = names[start : start + 1000]
            referenced = set(Image.objects.filter(**{f"{field}__in": batch}).values_list(field, flat=True))
            for name in batch:
                if name not in referenced and store.get_modified_time(name) < cutoff:
                    _delete(name)
                    removed.append(name)
    if removed:
        logger.info("Removed %d stored files that no item references: %s", len(removed), removed[:20])
    return removed
