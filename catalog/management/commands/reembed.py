from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog import services
from catalog.models import Image
from search.models import EmbeddingSpace


class Command(BaseCommand):
    help = "Queue every image (or those missing vectors in --space) for processing again."

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
        # Ready items keep serving while their vectors are replaced; others start again.
        images.exclude(status=Image.Status.READY).update(status=Image.Status.PENDING, error="")
        batch = 64
        for start in tqdm(range(0, len(ids), batch), desc="Queueing", unit="batch"):
            services.enqueue_processing(ids[start : start + batch])
        self.stdout.write(self.style.SUCCESS(f"Queued {len(ids)} image(s)."))
