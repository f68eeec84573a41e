from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ml.words import count_lines, read_text_vectors
from spaces import services
from spaces.models import EmbeddingSpace


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Command(BaseCommand):
    help = (
        "Load word vectors into PostgreSQL as a word space: a GloVe or word2vec text file "
        "(e.g. glove.6B.300d.txt); with --glove the GloVe 6B 50-d vectors shipped in a wheel; with "
        "neither the default word space (WORD_SPACE: the sentence space's vocabulary)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", nargs="?", type=Path)
        parser.add_argument("--name", help="Name of the word space (default: the file name).")
        parser.add_argument("--glove", action="store_true", help="The GloVe 6B 50-d vectors of the wheel.")
        parser.add_argument("--activate", action="store_true", help="Make it the word space searches use.")

    def handle(self, *args, file: Path | None, name: str | None, glove: bool, activate: bool, **options) -> None:
        if file is None:
            ensure = services.ensure_glove_word_space if glove else services.ensure_default_word_space
            with tqdm(desc="Words", unit="word") as bar:
                space = ensure(progress=bar.update)
            if activate:
                services.activate_space(space)
            count = space.words.count()
            self.stdout.write(self.style.SUCCESS(f"Word space {space.name}: {count} words, {space.state}."))
            return
        if not file.is_file():
            raise CommandError(f"{file} is not a file.")
        total = count_lines(file)
        try:
            first = next(read_text_vectors(file), None)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if first is None:
            raise CommandError(f"{file} holds no vectors.")
        space = services.register_space(
            name=name or file.stem,
            kind=EmbeddingSpace.Kind.WORD,
            model=file.name,
            dims=first[1].shape[0],
            source=str(file),
            checksum=file_sha256(file),
            index_now=False,
        )
        try:
            with tqdm(total=total, desc="Words", unit="word") as bar:
                count = services.import_words(
                    space,
                    read_text_vectors(file),
                    tag_vocabulary_size=settings.TAG_VOCABULARY_SIZE,
                    progress=bar.update,
                )
        except ValueError as exc:
            space.delete()  # an unusable file leaves no half-built space behind
            raise CommandError(str(exc)) from None
        services.finish_building(space, activate=activate)
        self.stdout.write(
            self.style.SUCCESS(f"Word space {space.name} ({space.dims}-d): {count} words, {space.state}.")
        )
