from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from catalog.models import Image
from ingest import tasks
from spaces.models import EmbeddingSpace


class Command(BaseCommand):
    help = "Process every image again (or those missing a vector in --space); ready items stay searchable."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--space", help="Only images without a vector in this embedding space.")

    def handle(self, *args, space: str | None, **options) -> None:
        images = Image.objects.all()
        if space:
            try:
                target = EmbeddingSpace.objects.get(name=space)
            except EmbeddingSpace.DoesNotExist:
                raise CommandError(f"No embedding space named {space!r}.") from None
            images = images.exclude(embeddings__space=target)
        ids = list(images.order_by("pk").values_list("pk", flat=True))
        tasks.reprocess(ids)
        self.stdout.write(self.style.SUCCESS(f"Queued {len(ids)} image(s)."))
