"""The tutorial's models: VGG16 (4096-d) features and 300-d word vectors train and search the same way.

VGG16 runs with random weights (its ImageNet weights cannot be downloaded here) and the 300-d
word file is synthetic: the 50-d GloVe vectors of a few thousand words through a fixed random
300 x 50 map. Neither says anything about quality; this checks the plumbing end to end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.core.management import call_command

from ml.torch_encoders import VGG16Encoder
from ml.words import load_glove_6b_50d
from tests.conftest import add_processed_images, clear_catalogue, dev_photos, remove_trained_spaces


def synthetic_300d_file(path: Path, words: int = 3000) -> Path:
    glove = load_glove_6b_50d(limit=words)
    projection = np.random.default_rng(0).normal(size=(50, 300)).astype(np.float32) / np.sqrt(50)
    vectors = glove.vectors @ projection
    with path.open("w") as handle:
        for word, vector in zip(glove.words, vectors, strict=True):
            handle.write(word + " " + " ".join(f"{x:.5f}" for x in vector) + "\n")
    return path


def test_vgg16_features_and_a_300d_word_file(committed_db, tmp_path: Path, monkeypatch) -> None:
    from ingest import pipeline
    from learning import services as learning_services
    from learning import training
    from search import modes
    from spaces import selectors as spaces_selectors
    from spaces import services as spaces_services
    from spaces.models import EmbeddingSpace

    Kind = EmbeddingSpace.Kind
    before = {kind: spaces_selectors.active_space(kind) for kind in (Kind.IMAGE, Kind.WORD, Kind.JOINT)}
    encoder = VGG16Encoder(random_init=True)
    monkeypatch.setattr(pipeline, "current_encoder", lambda: encoder)
    call_command("import_word_vectors", str(synthetic_300d_file(tmp_path / "words-300d.txt")), "--activate")
    words = EmbeddingSpace.objects.get(name="words-300d")
    try:
        add_processed_images(dev_photos({"dog": 4, "bird": 4, "boat": 4}))
        image_space = EmbeddingSpace.objects.get(name="vgg16")
        conse = EmbeddingSpace.objects.get(name=EmbeddingSpace.conse_name("vgg16", words))
        spaces_services.activate_space(image_space)
        spaces_services.activate_space(conse)
        assert (image_space.dims, conse.dims) == (4096, 300)

        model = training.start_training(training.TrainingOptions(hidden=32, max_epochs=5, holdout=0.25))
        training.run_training(model)
        model.space.refresh_from_db()
        assert model.image_space == image_space and model.space.dims == 300 and model.space.word_space == words
        assert model.space.image_embeddings.count() == 12 and model.report

        learning_services.switch_to(model.space)
        results = modes.images_for_words("dog", modes.Filters(k=5))
        assert len(results.hits) == 5 and not results.unknown_words
    finally:
        remove_trained_spaces()
        for space in before.values():
            spaces_services.activate_space(space)
        clear_catalogue()
        for name in (EmbeddingSpace.conse_name("vgg16", words), "vgg16", "vgg16/wordnet", "words-300d"):
            space = EmbeddingSpace.objects.filter(name=name).first()
            if space is not None:
                spaces_services.delete_space(space)
