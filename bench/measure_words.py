"""Word search and tags on the dev photos: today's GloVe bridge against the sentence space.

    python -m bench.measure_words

Encodes the ImageNet dev and Flickr8k dev photos once with the default encoder (cached in
.local/), then prints: (a) Flickr precision@10 of fixed one- and two-word queries, ranked among
all ~3,569 photos; (b) R-precision of the 20 Pascal words on the ImageNet dev photos; (d) the
share of ImageNet dev photos within the top 10 for their own label; each for every bridge, alone
and blended with the WordNet meaning vectors as the product blends them; then (c) tag metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from bench.flickr_queries import ONE_WORD, QUERIES, precision_at_10, relevant_flickr, relevant_imagenet
from bench.similarity_quality import visual_vectors
from bench.tag_metrics import print_tag_table
from bench.word_dev_photos import LOCAL, DevPhotos, load_dev_photos
from bench.word_search_quality import WORD_MEANING_WEIGHT, label_search, mean_defined, pascal_r_precision, query_vector
from ml.conse import class_word_matrix, conse_vectors, softmax
from ml.imagenet import split_words
from ml.meaning import named_meaning
from ml.prototypes import DEFAULT_RECIPE, PrototypeRecipe, build_prototypes, sentence_image_vectors
from ml.sentences import SentenceEncoder
from ml.word_ranking import phrase_scores, visual_feedback

DEFAULT_NAME = "names + informative ancestors (default)"
RECIPES: dict[str, PrototypeRecipe] = {
    "label only": PrototypeRecipe(synonyms=False, ancestor_share=0.0),
    "names (synonyms)": PrototypeRecipe(ancestor_share=0.0),
    "names + basic-level ancestors": PrototypeRecipe(basic_level_only=True),
    DEFAULT_NAME: DEFAULT_RECIPE,
    "names + informative ancestors 0.3": PrototypeRecipe(ancestor_share=0.3),
    "'a photo of a {}' + ancestors 0.3": PrototypeRecipe(template="a photo of a {}", ancestor_share=0.3),
}

QueryVector = Callable[[str], "np.ndarray | None"]
Search = Callable[[str], "np.ndarray | None"]  # query text -> a score per photo
# A bridge: (sentence-or-word image vectors, visual vectors, meaning vectors) of some photos -> search
Bridge = Callable[[np.ndarray, np.ndarray, np.ndarray], Search]


def scorer(vectors: np.ndarray, query: QueryVector, meaning: np.ndarray | None) -> Search:
    """Cosine to the query's vector, blended with the meaning-space cosine (WORD_MEANING_WEIGHT)
    for words that name WordNet synsets, as the product's word search does."""

    def scores(text: str) -> np.ndarray | None:
        words = query(text)
        named = named_meaning([(word, 1.0) for word in split_words(text)])[0] if meaning is not None else None
        if named is None:
            return None if words is None else vectors @ words
        if words is None:
            return meaning @ named
        return (1 - WORD_MEANING_WEIGHT) * (vectors @ words) + WORD_MEANING_WEIGHT * (meaning @ named)

    return scores


def plain(query: QueryVector, blend_meaning: bool = False) -> Bridge:
    return lambda vectors, _visual, meaning: scorer(vectors, query, meaning if blend_meaning else None)


def every_word(query: QueryVector, feedback: bool) -> Bridge:
    """`ml.word_ranking`: the phrase plus its worst-matched word, then (optionally) visual feedback."""

    def bridge(vectors: np.ndarray, visual: np.ndarray, _meaning: np.ndarray) -> Search:
        def scores(text: str) -> np.ndarray:
            words = text.split()
            ranked = phrase_scores(vectors, query(text), [query(word) for word in words] if len(words) > 1 else [])
            return visual_feedback(ranked, visual) if feedback else ranked

        return scores

    return bridge


def measure(name: str, vectors: np.ndarray, bridge: Bridge, photos: DevPhotos, relevant: dict) -> None:
    n = photos.n_imagenet
    everything = bridge(vectors, visual_vectors(photos.features), photos.meaning)
    flickr = {}
    for text in QUERIES:
        scores = everything(text)
        flickr[text] = 0.0 if scores is None else precision_at_10(scores, relevant[text])
    one = np.mean([flickr[q] for q in ONE_WORD])
    two = np.mean([v for q, v in flickr.items() if q not in ONE_WORD])
    imagenet = bridge(vectors[:n], visual_vectors(photos.features[:n]), photos.meaning[:n])
    pascal = mean_defined(pascal_r_precision(imagenet, photos))
    label = label_search(imagenet, photos)[0]
    print(f"{name:52s} {np.mean(list(flickr.values())):6.3f} {one:6.3f} {two:6.3f} {pascal:7.3f} {label:6.3f}")


def memoised(embed: Callable[[list[str]], np.ndarray], template: str = "{}") -> QueryVector:
    cache: dict[str, np.ndarray] = {}

    def vector(text: str) -> np.ndarray:
        if text not in cache:
            cache[text] = embed([template.format(text)])[0]
        return cache[text]

    return vector


def main() -> None:
    from ml.words import load_glove_6b_50d

    photos = load_dev_photos()
    relevant = {
        text: np.concatenate([relevant_imagenet(text, photos.classes), relevant_flickr(text, photos.captions)])
        for text in QUERIES
    }
    print(f"{len(photos.logits)} photos ({photos.n_imagenet} ImageNet dev, {len(photos.captions)} Flickr8k dev)")
    print(f"{len(QUERIES)} queries ({len(ONE_WORD)} one-word); P@10 among all photos; Pascal R-prec; label top 10")
    print(f"{'bridge':52s} {'P@10':>6s} {'1-word':>6s} {'2-word':>6s} {'Pascal':>7s} {'label':>6s}")
    glove = load_glove_6b_50d()
    glove_vectors = conse_vectors(softmax(photos.logits), class_word_matrix(glove.lookup, glove.dims))
    glove_query = lambda text: query_vector(glove.lookup, text)  # noqa: E731
    measure("GloVe-50 ConSE", glove_vectors, plain(glove_query), photos, relevant)
    measure(
        "GloVe-50 ConSE + meaning 0.7 (the product today)", glove_vectors, plain(glove_query, True), photos, relevant
    )

    encoder = SentenceEncoder(threads=2)
    query = memoised(encoder.embed)
    timings = []
    prototypes = {}
    for name, recipe in RECIPES.items():
        started = time.perf_counter()
        prototypes[name] = build_prototypes(encoder.embed, recipe)
        timings.append((name, time.perf_counter() - started))
        measure(
            f"MiniLM ConSE: {name}",
            sentence_image_vectors(photos.probabilities, prototypes[name]),
            plain(query),
            photos,
            relevant,
        )
    chosen = sentence_image_vectors(photos.probabilities, prototypes[DEFAULT_NAME])
    measure("MiniLM ConSE (default) + meaning 0.7", chosen, plain(query, True), photos, relevant)
    for top_t in (5, 10):
        vectors = sentence_image_vectors(photos.probabilities, prototypes[DEFAULT_NAME], top_t)
        measure(f"MiniLM ConSE (default), T={top_t}", vectors, plain(query), photos, relevant)
    templated = plain(memoised(encoder.embed, "a photo of {}"))
    measure("MiniLM ConSE (default), query 'a photo of {}'", chosen, templated, photos, relevant)
    measure("MiniLM ConSE (default) + worst word", chosen, every_word(query, False), photos, relevant)
    measure("MiniLM ConSE (default) + worst word + visual feedback", chosen, every_word(query, True), photos, relevant)
    prompted = sentence_image_vectors(photos.probabilities, prototypes["'a photo of a {}' + ancestors 0.3"])
    measure(
        "MiniLM ConSE 'a photo of a {}' 0.3 + worst word + feedback",
        prompted,
        every_word(query, True),
        photos,
        relevant,
    )
    started = time.perf_counter()
    for text in QUERIES:
        encoder.embed([text])
    per_query = (time.perf_counter() - started) / len(QUERIES) * 1000
    print("\nPrototype build (all distinct texts embedded, 2 threads):")
    for name, seconds in timings:
        print(f"  {name:35s} {seconds:5.1f} s")
    print(f"Query encoding: {per_query:.1f} ms per query (2 threads, one at a time)\n")
    print_tag_table(softmax(photos.logits[: photos.n_imagenet]), photos.classes)


if __name__ == "__main__":
    LOCAL.mkdir(exist_ok=True)
    main()
