"""Tests for the framework-free `ml` package, on real models, real photos and real GloVe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from ml.conse import class_word_matrix, conse_vectors, softmax, top_classes
from ml.encoders import get_encoder
from ml.encoding import EncoderUnavailable
from ml.imagenet import CLASS_NAMES, class_words, matching_classes
from ml.images import model_input
from ml.onnx_encoder import OnnxEncoder, load_or_export
from ml.torch_encoders import EfficientNetLite0Encoder, VGG16Encoder, vgg16_cache_path
from ml.words import WordVectors, is_tag_word, load_glove_6b_50d, read_text_vectors


@pytest.fixture(scope="module")
def chelsea() -> Image.Image:
    return Image.fromarray(data.chelsea())


@pytest.fixture(scope="module")
def coffee() -> Image.Image:
    return Image.fromarray(data.coffee())


def top3_names(encoder: EfficientNetLite0Encoder, image: Image.Image) -> set[str]:
    logits = encoder.encode([image]).logits[0]
    return {CLASS_NAMES[index] for index, _ in top_classes(softmax(logits), k=3)}


# --- imagenet ---------------------------------------------------------------------------


def test_class_names_and_words() -> None:
    assert len(CLASS_NAMES) == 1000
    assert class_words(CLASS_NAMES.index("tiger cat")) == ["tiger", "cat"]
    assert class_words(CLASS_NAMES.index("German shepherd")) == ["german", "shepherd"]
    assert class_words(CLASS_NAMES.index("jack-o'-lantern")) == ["jack", "lantern"]


def test_matching_classes_puts_prefix_matches_first() -> None:
    matches = matching_classes("CAT")
    names = [name for _, name in matches]
    assert names[0] == "catamaran"  # the only name starting with "cat"
    assert "tiger cat" in names[1:]
    assert all(CLASS_NAMES[index] == name for index, name in matches)
    assert len(matching_classes("a", limit=5)) == 5
    assert matching_classes("  ") == []


# --- encoders ---------------------------------------------------------------------------


def test_lite0_classifies_real_photos(
    lite0: EfficientNetLite0Encoder, chelsea: Image.Image, coffee: Image.Image
) -> None:
    assert top3_names(lite0, chelsea) & {"tabby", "tiger cat", "Egyptian cat"}
    assert top3_names(lite0, coffee) & {"espresso", "cup"}


def test_lite0_batch_matches_single(lite0: EfficientNetLite0Encoder, chelsea: Image.Image, coffee: Image.Image) -> None:
    batch = lite0.encode([chelsea, coffee])
    assert batch.features.shape == (2, 1280) and batch.features.dtype == np.float32
    assert batch.logits.shape == (2, 1000) and batch.logits.dtype == np.float32
    assert (batch.features >= 0).all()
    for row, image in enumerate([chelsea, coffee]):
        single = lite0.encode([image])
        np.testing.assert_allclose(batch.features[row], single.features[0], atol=1e-4)
        np.testing.assert_allclose(batch.logits[row], single.logits[0], atol=1e-4)
    assert lite0.encode([]).features.shape == (0, 1280)
    assert lite0.classifier_weights().shape == (1000, 1280)


def test_vgg16_random_init_shapes() -> None:
    """Weights are random here, so only output shapes are checked, not predictions."""
    encoder = VGG16Encoder(random_init=True)
    images = [Image.new("RGB", (300, 200), "red"), Image.new("RGB", (50, 90), "blue")]
    encoding = encoder.encode(images)
    assert encoding.features.shape == (2, 4096)
    assert encoding.logits.shape == (2, 1000)
    assert (encoding.features >= 0).all()  # fc7 is taken after its ReLU
    assert encoder.classifier_weights().shape == (1000, 4096)


def test_vgg16_without_weights_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(EncoderUnavailable, match="VGG16_WEIGHTS") as caught:
        VGG16Encoder()
    assert str(vgg16_cache_path()) in str(caught.value)


def test_get_encoder_rejects_unknown_name_and_runtime() -> None:
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        get_encoder("resnet9000")
    with pytest.raises(ValueError, match="onnx, torch"):
        get_encoder("efficientnet_lite0", runtime="tensorflow")


def test_model_input_matches_torchvision_preprocessing(chelsea: Image.Image) -> None:
    from torchvision import transforms

    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    reference = transforms.Compose(
        [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), transforms.Normalize(mean, std)]
    )
    for image in (chelsea, chelsea.resize((200, 500)), Image.new("RGB", (64, 48), "red")):
        np.testing.assert_allclose(model_input([image], mean=mean, std=std)[0], reference(image).numpy(), atol=1e-6)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def lite0_onnx(model_dir: Path) -> OnnxEncoder:
    return load_or_export("efficientnet_lite0", model_dir)


def test_onnx_runtime_matches_torch_on_real_photos(
    lite0: EfficientNetLite0Encoder, lite0_onnx: OnnxEncoder, chelsea: Image.Image, coffee: Image.Image
) -> None:
    """The export keeps the model: same top-5 classes in the same order, features within 1e-4
    (absolute; the features of these photos range up to about 6)."""
    photos = [chelsea, coffee, Image.fromarray(data.astronaut()), Image.fromarray(data.rocket())]
    eager, exported = lite0.encode(photos), lite0_onnx.encode(photos)
    for row in range(len(photos)):
        top5 = [index for index, _ in top_classes(softmax(eager.logits[row]), k=5)]
        assert [index for index, _ in top_classes(softmax(exported.logits[row]), k=5)] == top5
    np.testing.assert_allclose(exported.features, eager.features, atol=1e-4)
    np.testing.assert_allclose(exported.logits, eager.logits, atol=1e-3)
    np.testing.assert_array_equal(lite0_onnx.classifier_weights(), lite0.classifier_weights())
    assert lite0_onnx.encode([]).features.shape == (0, 1280)


def test_onnx_export_is_reused(model_dir: Path, lite0_onnx: OnnxEncoder) -> None:
    exported = model_dir / "efficientnet_lite0" / "model.onnx"
    stamp = exported.stat().st_mtime_ns
    assert isinstance(load_or_export("efficientnet_lite0", model_dir), OnnxEncoder)
    assert exported.stat().st_mtime_ns == stamp  # loaded, not exported again


# --- words ------------------------------------------------------------------------------


def nearest(words: WordVectors, vector: np.ndarray, k: int, exclude=()) -> list[str]:
    """Exact nearest words by cosine (the product searches them in PostgreSQL)."""
    scores = words.vectors @ vector / (np.linalg.norm(words.vectors, axis=1) * np.linalg.norm(vector) + 1e-12)
    excluded = set(exclude)
    ranked = (words.words[row] for row in np.argsort(-scores))
    return [word for word in ranked if word not in excluded][:k]


def test_glove_rows_match_words(glove: WordVectors) -> None:
    assert glove.dims == 50 and len(glove.words) == 400_000
    said = glove.lookup(["said"])["said"]
    assert "told" in nearest(glove, said, 10)
    assert nearest(glove, said, 3, exclude={"said"})[0] != "said"


def test_lookup_omits_unknown_words(glove: WordVectors) -> None:
    found = glove.lookup(["cat", "qwzxkjvbnm"])
    assert set(found) == {"cat"} and found["cat"].shape == (50,)


def test_read_glove_text(tmp_path: Path) -> None:
    path = tmp_path / "glove.txt"
    path.write_text("the 0.1 0.2 0.3\ncafé -1 0 2.5\n", encoding="utf-8")
    rows = list(read_text_vectors(path))
    assert [word for word, _ in rows] == ["the", "café"]
    np.testing.assert_allclose(rows[1][1], [-1.0, 0.0, 2.5])


def test_read_word2vec_text_skips_header(tmp_path: Path) -> None:
    path = tmp_path / "w2v.txt"
    path.write_text("2 2\ncat 1 2\ndog 3 4\n", encoding="utf-8")
    assert [word for word, _ in read_text_vectors(path)] == ["cat", "dog"]


@pytest.mark.parametrize("body", ["cat 1 2\ndog 3\n", "cat 1 2\ndog x y\n", "cat 1 2\ndog\n"])
def test_read_text_vectors_rejects_malformed_lines(tmp_path: Path, body: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ValueError, match=":2:"):
        list(read_text_vectors(path))


def test_is_tag_word() -> None:
    assert is_tag_word("cat")
    assert not is_tag_word("the") and not is_tag_word("ox") and not is_tag_word("co-op")
    assert not is_tag_word("café") and not is_tag_word("1990")


# --- conse ------------------------------------------------------------------------------


def test_softmax_and_top_classes_are_stable() -> None:
    probabilities = softmax(np.array([[1000.0, 1000.0, -1000.0]]))
    np.testing.assert_allclose(probabilities, [[0.5, 0.5, 0.0]], atol=1e-6)
    assert top_classes(softmax(np.array([0.0, 5.0, 1.0])), k=2)[0][0] == 1


def test_conse_weights_top_classes_and_normalises() -> None:
    class_vectors = np.zeros((1000, 3), dtype=np.float32)
    class_vectors[0] = [1, 0, 0]
    class_vectors[1] = [0, 1, 0]
    # Class 2 is the most likely but has no vector, so it must be skipped, not counted.
    logits = np.full((2, 1000), -50.0, dtype=np.float32)
    logits[0, [0, 1, 2]] = [np.log(3.0), 0.0, 10.0]
    vectors = conse_vectors(softmax(logits), class_vectors, top_t=2)
    expected = np.array([3.0, 1.0, 0.0]) / np.sqrt(10.0)
    np.testing.assert_allclose(vectors[0], expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), [1.0, 1.0], atol=1e-5)
    assert not conse_vectors(softmax(logits), np.zeros_like(class_vectors)).any()


def test_conse_describes_a_cat_photo(lite0: EfficientNetLite0Encoder, chelsea: Image.Image) -> None:
    vocabulary = load_glove_6b_50d(limit=20_000)
    class_vectors = class_word_matrix(vocabulary.lookup, vocabulary.dims)
    assert class_vectors.shape == (1000, 50)
    vector = conse_vectors(softmax(lite0.encode([chelsea]).logits), class_vectors)[0]
    exclude = [word for word in vocabulary.words if not is_tag_word(word)]
    assert "cat" in nearest(vocabulary, vector, 10, exclude=exclude)
