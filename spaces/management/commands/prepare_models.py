from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from spaces import services
from spaces.encoders import current_encoder


class Command(BaseCommand):
    help = (
        "Prepare what the processes load at run time: the image encoder (exported to ONNX into "
        "MODEL_DIR when ENCODER_RUNTIME is onnx), the default word space (WORD_SPACE: the sentence "
        "space's vocabulary, embedded once) and its class prototypes. Run once per deploy, before "
        "the web and worker processes start, so that they never need torch to do it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--switch-word-space",
            action="store_true",
            help="A catalogue on another word space: make the default one active and register the "
            "encoder's joint space in it (building); then `reembed --space NAME` and `activate_space NAME`.",
        )

    def handle(self, *args, switch_word_space: bool, **options) -> None:
        started = time.monotonic()
        encoder = current_encoder()
        self.stdout.write(
            f"Image encoder {encoder.name} ({settings.ENCODER_RUNTIME}) ready in {time.monotonic() - started:.1f} s."
        )
        space = services.ensure_default_word_space()
        services.selectors.class_vectors(space)  # the prototypes' .npy, before any worker needs it
        self.stdout.write(self.style.SUCCESS(f"Word space {space.name} ready ({space.state})."))
        if switch_word_space and space.state != services.State.ACTIVE:
            services.activate_space(space)
            joint = services.ensure_image_spaces(encoder).joint
            self.stdout.write(
                f"Word space {space.name} active; joint space {joint.name} is {joint.state}. Searches keep "
                f"their active joint space until you run `manage.py reembed --space {joint.name}` and then "
                f"`manage.py activate_space {joint.name}`."
            )
