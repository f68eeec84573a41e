from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from spaces.compaction import compact_space
from spaces.models import EmbeddingSpace


class Command(BaseCommand):
    help = (
        "Move image spaces stored as float32 (made before halfvec storage) to halfvec, while they "
        "serve: half the disk and memory, the same results (docs/benchmarks.md). Safe to run again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--settle",
            type=float,
            default=settings.SERVING_SPACES_SECONDS + 5,
            help="Seconds between the switch and dropping the float32 index (web processes re-read spaces); "
            "0 when nothing serves.",
        )

    def handle(self, *args, settle: float, **options) -> None:
        legacy = EmbeddingSpace.objects.exclude(kind=EmbeddingSpace.Kind.WORD).filter(
            storage=EmbeddingSpace.Storage.FLOAT32
        )
        for space in legacy.order_by("pk"):
            filled = compact_space(space, settle_seconds=settle)
            self.stdout.write(f"{space.name}: halfvec storage ({filled} vectors filled)")
