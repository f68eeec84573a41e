"""Word search through the product on the dev photos: the sentence space against GloVe, hybrid
(the default) and semantic, in one run. See `bench/word_search_product.py` for what is measured.

Works on a copy of the database (`<name>_scale`, dropped at the end), like benchmark_scale.
Writes .local/measure-word-search.json and prints the table docs/search.md shows.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.test import override_settings

from bench.scale.catalogue import scale_database
from bench.word_dev_photos import load_dev_photos
from bench.word_search_product import as_json, encoding_ms, measure_flickr, measure_imagenet, prepare_spaces
from spaces.encoders import current_encoder

RESULTS = settings.BASE_DIR / ".local" / "measure-word-search.json"


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--glove-words", type=int, default=100_000, help="GloVe words imported (the copy's).")
        parser.add_argument("--keep", action="store_true", help="Keep the database copy (<name>_scale) to inspect.")

    def handle(self, *args, glove_words: int, keep: bool, **options) -> None:
        photos = load_dev_photos()
        with scale_database(keep=keep), override_settings(WORD_VECTORS_LIMIT=glove_words):
            call_command("migrate", verbosity=0)
            spaces = prepare_spaces(current_encoder())
            results: dict = {}
            measure_flickr(spaces, photos, results)
            tags = measure_imagenet(spaces, photos, results)
        rows = list(results.values())
        encoding = encoding_ms()
        RESULTS.write_text(as_json(rows, tags, encoding))
        self.stdout.write(f"{len(photos.logits)} photos; {photos.n_imagenet} ImageNet dev for Pascal and labels")
        self.stdout.write(
            "| word space | mode | Flickr P@10 | 1-word | 2-word | Pascal R-prec | own label top 10 | search p50 ms |"
        )
        self.stdout.write("|---|---|---|---|---|---|---|---|")
        for row in rows:
            self.stdout.write(
                f"| {row.space} | {row.mode} | {row.flickr:.3f} | {row.one_word:.3f} | {row.two_word:.3f} "
                f"| {row.pascal:.3f} | {row.label:.3f} | {row.latency_ms['p50']:.1f} |"
            )
        self.stdout.write(f"Query encoding alone (sentence encoder, best of 3 per query): p50 {encoding:.1f} ms")
        self.stdout.write(
            "Tags (stored): own class first {:.3f}, in first five {:.3f}, no other kind {:.3f}".format(*tags)
        )
