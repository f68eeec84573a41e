from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from spaces.encoders import current_encoder
from spaces.services import ensure_default_word_space


class Command(BaseCommand):
    help = (
        "Prepare what the processes load at run time: the image encoder (exported to ONNX into "
        "MODEL_DIR when ENCODER_RUNTIME is onnx) and the default word vectors. Run once per deploy, "
        "before the web and worker processes start, so that they never need torch to do it."
    )

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        encoder = current_encoder()
        self.stdout.write(
            f"Image encoder {encoder.name} ({settings.ENCODER_RUNTIME}) ready in {time.monotonic() - started:.1f} s."
        )
        space = ensure_default_word_space()
        self.stdout.write(self.style.SUCCESS(f"Word space {space.name} ready."))
