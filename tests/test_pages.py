"""The search pages (server-rendered, htmx-enhanced) over a small committed, processed catalogue."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from django.test import Client
from PIL import Image as PILImage
from PIL import ImageOps
from skimage import data

from catalog.models import Image
from tests.conftest import jpeg

HIT = re.compile(r'data-image-id="(\d+)".*?<span class="visually-hidden">Score </span>([-\d.]+)</span>', re.S)


@pytest.fixture
def client(demo_catalogue, django_db_blocker) -> Iterator[Client]:
    with django_db_blocker.unblock():
        yield Client()


def hits(response) -> list[tuple[int, float]]:
    return [(int(pk), float(score)) for pk, score in HIT.findall(response.content.decode())]


def test_words_find_the_cat_first_with_a_score(client, demo_catalogue) -> None:
    response = client.get("/search/", {"q": "cat"})
    assert response.status_code == 200
    found = hits(response)
    assert found[0][0] == demo_catalogue["chelsea"].pk
    assert 0 < found[0][1] <= 1
    html = response.content.decode()
    assert re.search(r">\s*0\.\d\d</span>", html)  # scores as "0.91"
    assert 'value="cat"' in html  # the header box and the page's box keep the query
    assert "Matched on" in html
    assert "<code>cat +sofa -dog</code>" in html


def test_a_sentence_space_knows_every_word(client, demo_catalogue) -> None:
    # GloVe spaces report the words they lack (tests/test_sentence_space.py); the sentence
    # space embeds the whole query, so an odd word neither blocks the search nor is "unknown".
    response = client.get("/search/", {"q": "cat zzqx"})
    assert response.status_code == 200
    assert "Not in the vocabulary" not in response.content.decode()
    assert hits(response)[0][0] == demo_catalogue["chelsea"].pk


def test_word_combination_and_category_filter(client, demo_catalogue) -> None:
    assert hits(client.get("/search/", {"q": "cat sofa"}))
    food = hits(client.get("/search/", {"q": "cat", "category": demo_catalogue["coffee"].category.slug}))
    assert [pk for pk, _ in food] == [demo_catalogue["coffee"].pk]
    assert len(hits(client.get("/search/", {"q": "cat", "k": 2}))) == 2


def test_bad_input_is_a_400_with_a_message(client) -> None:
    response = client.get("/search/", {"q": "!!! ..."})
    assert response.status_code == 400
    assert 'class="error"' in response.content.decode()
    assert client.get("/search/", {"q": "cat", "category": "nope"}).status_code == 400
    assert client.get("/search/", {"q": "cat", "k": "many"}).status_code == 400


def test_empty_query_shows_the_form(client) -> None:
    response = client.get("/search/")
    assert response.status_code == 200
    assert 'name="q"' in response.content.decode() and not hits(response)


def test_htmx_gets_only_the_results_partial(client, demo_catalogue) -> None:
    response = client.get("/search/", {"q": "cat"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "<header" not in html
    assert hits(response)[0][0] == demo_catalogue["chelsea"].pk
    restore = client.get("/search/", {"q": "cat"}, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.content.decode()


def test_photo_page_finds_the_flipped_cropped_original(client, demo_catalogue) -> None:
    form = client.get("/search/photo/")
    assert form.status_code == 200
    assert re.search(r'<input type="file" name="file"[^>]*accept="image/\*,\.heic', form.content.decode())
    picture = ImageOps.mirror(PILImage.fromarray(data.chelsea()))
    width, height = picture.size
    cropped = picture.crop((width // 10, height // 10, width - width // 10, height - height // 12))
    upload = io.BytesIO(jpeg(cropped))
    upload.name = "mine.jpg"
    response = client.post("/search/photo/", {"file": upload})
    assert response.status_code == 200
    assert hits(response)[0][0] == demo_catalogue["chelsea"].pk


def test_photo_page_rejects_a_text_file_with_a_message(client) -> None:
    upload = io.BytesIO(b"just some words, not a picture\n")
    upload.name = "notes.txt"
    response = client.post("/search/photo/", {"file": upload})
    assert response.status_code == 400
    assert "not an image" in response.content.decode()
    assert client.post("/search/photo/", {}).status_code == 400


def test_photo_page_needs_the_csrf_token() -> None:
    upload = io.BytesIO(b"x")
    upload.name = "x.png"
    assert Client(enforce_csrf_checks=True).post("/search/photo/", {"file": upload}).status_code == 403


def test_more_like_this_excludes_the_item_and_focus_changes_the_ranking(client, demo_catalogue) -> None:
    chelsea = demo_catalogue["chelsea"]
    # Visual similarity: on four demo photos the meaning side agrees whatever the focus.
    plain = client.get(f"/search/similar/{chelsea.pk}/", {"similarity": "visual"})
    assert plain.status_code == 200
    plain_hits = hits(plain)
    assert plain_hits and chelsea.pk not in [pk for pk, _ in plain_hits]
    html = plain.content.decode()
    for item in chelsea.classes[:5]:
        assert f"?focus_class={item['index']}" in html
    focus = chelsea.classes[0]["index"]
    focused = client.get(f"/search/similar/{chelsea.pk}/", {"focus_class": focus, "similarity": "visual"})
    assert focused.status_code == 200
    assert f"Focused on the class <strong>{chelsea.classes[0]['label']}</strong>" in focused.content.decode()
    # The ranking itself must change, not only the scores.
    assert [pk for pk, _ in hits(focused)] != [pk for pk, _ in plain_hits]
    # A class typed by name, as the autocomplete suggests it, is the same search.
    by_name = client.get(
        f"/search/similar/{chelsea.pk}/",
        {"focus_class": f"{chelsea.classes[0]['label']} ({focus})", "similarity": "visual"},
    )
    assert hits(by_name) == hits(focused)


def test_more_like_this_errors(client, demo_catalogue) -> None:
    assert client.get("/search/similar/999999/").status_code == 404
    chelsea = demo_catalogue["chelsea"]
    response = client.get(f"/search/similar/{chelsea.pk}/", {"focus_class": "5000"})
    assert response.status_code == 400 and "0 to 999" in response.content.decode()
    assert client.get(f"/search/similar/{chelsea.pk}/", {"focus_class": "no such thing"}).status_code == 400


def test_class_suggestions(client) -> None:
    html = client.get("/search/classes/", {"q": "tabby"}).content.decode()
    assert '<option value="tabby">' in html and "281" not in html  # readable names, no numbers
    kinds = client.get("/search/classes/", {"q": "ca"}).content.decode()
    assert '<option value="cat">' in kinds and '<option value="car">' in kinds  # words for kinds of things
    assert client.get("/search/classes/", {"focus_class": "sports"}).content.decode().count("<option") >= 1
    assert "<option" not in client.get("/search/classes/").content.decode()


def test_similar_words_page(client) -> None:
    response = client.get("/search/words/", {"q": "horse"})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<a href="/search/?q=horses"' in html
    assert re.search(r'class="num">0\.\d\d<', html)
    # The sentence space embeds any word: no "not in the vocabulary", still similar words.
    odd = client.get("/search/words/", {"q": "horse zzqx"}).content.decode()
    assert "Not in the vocabulary" not in odd and '<a href="/search/?q=' in odd
    partial = client.get("/search/words/", {"q": "horse"}, headers={"HX-Request": "true"}).content.decode()
    assert "horses" in partial and "<html" not in partial


def test_item_page_shows_tags_classes_and_more_like_this(client, demo_catalogue) -> None:
    chelsea = demo_catalogue["chelsea"]
    assert chelsea.status == "ready" and chelsea.tags and chelsea.classes
    html = client.get(chelsea.get_absolute_url()).content.decode()
    tag = chelsea.tags[0]["word"]
    assert f'href="/search/?q={tag}"' in html
    top = chelsea.classes[0]
    assert f'href="/search/similar/{chelsea.pk}/?focus_class={top["index"]}"' in html
    assert re.search(rf"{re.escape(top['label'])} <span class=\"count\">(\d+|&lt;1)%</span>", html)
    assert f'hx-get="/search/similar/{chelsea.pk}/?k=8"' in html
    assert ">More like this</a>" in html
    lazy = client.get(f"/search/similar/{chelsea.pk}/", {"k": 8}, headers={"HX-Request": "true"})
    assert "<html" not in lazy.content.decode() and len(hits(lazy)) == 3
    assert "No confident tags" not in html


def test_an_item_without_confident_tags_says_so(client, demo_catalogue) -> None:
    coffee = demo_catalogue["coffee"]
    tags = coffee.tags
    Image.objects.filter(pk=coffee.pk).update(tags=[])  # what ml.tags gives an unsure classifier
    try:
        html = client.get(coffee.get_absolute_url()).content.decode()
    finally:
        Image.objects.filter(pk=coffee.pk).update(tags=tags)
    assert "No confident tags" in html and "chips tags" not in html


def test_photo_page_searches_by_a_box_and_refuses_a_bad_one(client, demo_catalogue) -> None:
    def post(box: str):
        upload = io.BytesIO(jpeg(PILImage.fromarray(data.chelsea())))
        upload.name = "mine.jpg"
        return client.post("/search/photo/", {"file": upload, "box": box})

    found = post("0.1,0.05,0.9,0.95")
    assert found.status_code == 200 and hits(found)[0][0] == demo_catalogue["chelsea"].pk
    assert 'alt="The part of your photo searched by"' in found.content.decode()
    assert "data:image/jpeg;base64," in found.content.decode()  # shown inline: the photo is not stored
    for bad in ("left", "0.5,0.5,0.51,0.51", "1,2"):
        refused = post(bad)
        assert refused.status_code == 400 and 'class="error"' in refused.content.decode(), bad


def test_focus_on_any_word_that_names_classes(client, demo_catalogue) -> None:
    chelsea = demo_catalogue["chelsea"]
    likeliest = max(
        (c for c in chelsea.classes if c["label"] in ("tabby", "tiger cat", "Egyptian cat")),
        key=lambda c: c["probability"],
    )
    by_word = client.get(f"/search/similar/{chelsea.pk}/", {"focus_class": "cat", "similarity": "visual"})
    html = by_word.content.decode()
    assert by_word.status_code == 200
    assert f"Focused on the class <strong>{likeliest['label']}</strong>: the likeliest “cat” in the photo" in html
    assert 'value="cat"' in html  # the input keeps the word
    by_class = client.get(f"/search/similar/{chelsea.pk}/", {"focus_class": likeliest["index"], "similarity": "visual"})
    assert hits(by_word) == hits(by_class)
    # A word for a kind of thing the photo hardly shows still focuses (on the first of its classes).
    assert client.get(f"/search/similar/{chelsea.pk}/", {"focus_class": "vehicle"}).status_code == 200
