from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from spaces import services
from spaces.models import EmbeddingSpace


class Command(BaseCommand):
    help = (
        "Make an embedding space the one searches of its kind use (the previous one is retired, kept "
        "for `roll_back`). For a joint space, run it once `reembed --space NAME` has filled it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="The space's name, as the spaces admin lists it.")

    def handle(self, *args, name: str, **options) -> None:
        space = EmbeddingSpace.objects.filter(name=name).first()
        if space is None:
            raise CommandError(f"No embedding space named {name!r}.")
        missing = space.kind != EmbeddingSpace.Kind.WORD and space.image_embeddings.count() == 0
        if missing:
            raise CommandError(f"{name} holds no vectors yet: run `manage.py reembed --space {name}` first.")
        services.activate_space(space)
        self.stdout.write(self.style.SUCCESS(f"{space.name} is now the active {space.kind} space."))
