from __future__ import annotations

import io

from django.core.management.base import BaseCommand
from PIL import Image as PILImage

from catalog import services as catalog
from catalog.models import Image
from ingest import services as ingest
from spaces.services import ensure_default_word_space

# Public-domain photos shipped with scikit-image: (loader, title, category).
DEMO_PHOTOS = [
    ("chelsea", "Chelsea the cat", "Animals"),
    ("camera", "The cameraman", "People"),
    ("coffee", "A cup of coffee", "Food and drink"),
    ("astronaut", "Astronaut Eileen Collins", "People"),
    ("rocket", "Rocket on the launch pad", "Transport"),
    ("stereo_motorcycle", "Motorcycle", "Transport"),
    ("immunohistochemistry", "Stained tissue under a microscope", "Science"),
    ("hubble_deep_field", "Hubble deep field", "Science"),
    ("coins", "Greek coins", "Objects"),
]


class Command(BaseCommand):
    help = "Load the public-domain photos shipped with scikit-image as a starter catalogue."

    def handle(self, *args, **options) -> None:
        from skimage import data  # imported late: only this command needs it

        self.stdout.write("Preparing word vectors (first run only)...")
        ensure_default_word_space()
        with ingest.uploads() as batch:
            for loader, title, category_name in DEMO_PHOTOS:
                loaded = getattr(data, loader)()
                pixels = loaded[0] if isinstance(loaded, tuple) else loaded
                buffer = io.BytesIO()
                PILImage.fromarray(pixels).save(buffer, format="PNG")
                try:
                    batch.add(
                        data=buffer.getvalue(),
                        filename=f"{loader}.png",
                        category=catalog.get_or_create_category(category_name),
                        title=title,
                    )
                except catalog.DuplicateImage:
                    continue  # loaded before: the command is safe to run again
        total = Image.objects.count()
        self.stdout.write(self.style.SUCCESS(f"Added {len(batch.created)} demo image(s); the catalogue holds {total}."))
