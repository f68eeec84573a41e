"""Bad and odd input on every way in: admin form, API, import command, search by photo (page and
API), and the word-query strings. Each is processed correctly or refused with a clear message;
never a 500."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from PIL import EpsImagePlugin
from PIL import Image as PILImage
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog import services
from catalog.models import Category, Image
from ingest import pipeline
from ml.images import InvalidImage, decode_image
from search.parsing import MAX_TERMS, QueryError, parse_word_query


def saved(picture: PILImage.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def noise(size: tuple[int, int], seed: int) -> PILImage.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return PILImage.fromarray(pixels)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size (Pillow refuses it as a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def rotated_jpeg() -> bytes:
    exif = PILImage.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    return saved(noise((60, 20), 1), "JPEG", exif=exif.tobytes())


def sixteen_bit_png() -> bytes:
    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    return saved(PILImage.fromarray(ramp), "PNG")


def palette_alpha_png() -> bytes:
    palette = PILImage.new("P", (16, 16), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    return saved(palette, "PNG", transparency=0)


def animated_gif() -> bytes:
    frames = [PILImage.new("RGB", (20, 20), colour) for colour in ("red", "blue")]
    return saved(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


# name -> (bytes, detected format, decoded size). Each is a way images really arrive.
GOOD = {
    "16-bit.png": (sixteen_bit_png, "PNG", (64, 64)),
    "cmyk.jpg": (lambda: saved(PILImage.new("CMYK", (32, 24), (0, 255, 255, 0)), "JPEG"), "JPEG", (32, 24)),
    "palette-alpha.png": (palette_alpha_png, "PNG", (16, 16)),
    "animated.gif": (animated_gif, "GIF", (20, 20)),
    "exif-rotated.jpg": (rotated_jpeg, "JPEG", (20, 60)),
    "grey.jpg": (lambda: saved(noise((30, 20), 2).convert("L"), "JPEG"), "JPEG", (30, 20)),
    "phone.heic": (lambda: saved(noise((64, 48), 3), "HEIF"), "HEIF", (64, 48)),
    "photo.webp": (lambda: saved(noise((40, 30), 4), "WEBP"), "WEBP", (40, 30)),
    "photo.bmp": (lambda: saved(noise((40, 30), 5), "BMP"), "BMP", (40, 30)),
    "scan.tiff": (lambda: saved(noise((40, 30), 6), "TIFF"), "TIFF", (40, 30)),
    "photo.html": (lambda: saved(noise((40, 30), 7), "PNG"), "PNG", (40, 30)),  # a real PNG, badly named
}
NOT_ACCEPTED = "not an image in a format we accept"
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n"
# name -> (bytes, what the message says)
BAD = {
    "notes.jpg": (lambda: b"just some text, not a photo\n", NOT_ACCEPTED),
    "truncated.jpg": (lambda: saved(noise((200, 150), 8), "JPEG")[:1500], "damaged or incomplete"),
    "empty.jpg": (lambda: b"", "empty"),
    "bomb.png": (lambda: saved(PILImage.new("1", (8000, 8000)), "PNG"), "too large"),  # 64 Mpx, ~10 kB
    "huge-header.png": (lambda: png_claiming(100_000, 100_000), "too many pixels"),
    "drawing.png": (lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', NOT_ACCEPTED),
    "page.jpg": (lambda: b"<!doctype html><html><script>alert(1)</script></html>", NOT_ACCEPTED),
    "poster.jpg": (lambda: EPS, NOT_ACCEPTED),
    "document.jpg": (lambda: saved(noise((40, 30), 9), "PDF"), NOT_ACCEPTED),
}


@pytest.fixture
def no_eps_plugin(monkeypatch) -> list:
    """Records any attempt to parse a file with Pillow's EPS plugin (which runs Ghostscript)."""
    calls = []
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: calls.append(self))
    return calls


@pytest.mark.parametrize("name", GOOD)
def test_odd_but_valid_images_are_decoded_to_rgb(name: str) -> None:
    make, fmt, size = GOOD[name]
    decoded = decode_image(make())
    assert (decoded.format, decoded.picture.mode, decoded.picture.size) == (fmt, "RGB", size)


def test_sixteen_bit_greys_keep_their_tones() -> None:
    """A plain conversion would clip a 16-bit image to white."""
    pixels = np.asarray(decode_image(sixteen_bit_png()).picture)
    assert pixels.min() == 0 and pixels.max() == 255 and 120 < pixels.mean() < 135


@pytest.mark.parametrize("name", BAD)
def test_bad_files_are_refused_with_a_message(name: str, no_eps_plugin) -> None:
    make, message = BAD[name]
    with pytest.raises(InvalidImage, match=message):
        decode_image(make())
    assert not no_eps_plugin, "the EPS plugin (Ghostscript) was reached"


def test_pillow_alone_would_hand_the_eps_file_to_its_plugin() -> None:
    """What the allowlist prevents: without it, Pillow opens EPS (and would run Ghostscript)."""
    assert PILImage.open(io.BytesIO(EPS)).format == "EPS"


# --- Every way in ---------------------------------------------------------------------------


@pytest.fixture
def staff_api(db) -> APIClient:
    staff = get_user_model().objects.create_user("editor", password="x-long-password", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    return client


@pytest.mark.django_db
def test_api_upload_refuses_bad_files_and_names_stored_files_by_content(staff_api, media, settings) -> None:
    for name, (make, message) in BAD.items():
        response = staff_api.post("/api/images/", {"file": upload(name, make()), "category": "x"}, format="multipart")
        assert response.status_code == 400 and message in response.content.decode(), (name, response.content)
    settings.MAX_UPLOAD_BYTES = 1000
    response = staff_api.post(
        "/api/images/",
        {"file": upload("big.png", saved(noise((64, 64), 10), "PNG")), "category": "x"},
        format="multipart",
    )
    assert response.status_code == 413 and "larger than the limit" in response.json()["detail"]
    settings.MAX_UPLOAD_BYTES = 25 * 1024 * 1024
    for name, (make, _, _) in GOOD.items():
        data = make()
        response = staff_api.post("/api/images/", {"file": upload(name, data), "category": "x"}, format="multipart")
        assert response.status_code == 201, (name, response.content)
        stored = Image.objects.get(pk=response.json()["id"]).original.name
        sha = hashlib.sha256(data).hexdigest()
        assert Path(stored).name == f"{sha}.{decode_image(data).extension}", name
    assert not list(Path(media).rglob("*.html")), "an uploaded file kept its .html name"
    assert {Path(name).suffix for name in Image.objects.values_list("original", flat=True)} == {
        ".png", ".jpg", ".gif", ".heic", ".webp", ".bmp", ".tiff"
    }  # fmt: skip


def upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


@pytest.mark.django_db
def test_admin_upload_reports_each_bad_file_and_keeps_the_good_ones(admin_client, media) -> None:
    category = Category.objects.create(name="Mixed", slug="mixed")
    files = [upload(name, make()) for name, (make, _) in BAD.items() if name != "empty.jpg"]
    files += [upload(name, make()) for name, (make, _, _) in GOOD.items()]
    response = admin_client.post(reverse("admin:catalog_image_upload"), {"files": files, "category": category.pk})
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["files"])
    for name, (_, message) in BAD.items():
        if name != "empty.jpg":
            assert f"{name}: " in errors and message in errors, name
    assert Image.objects.count() == len(GOOD)
    empty = admin_client.post(
        reverse("admin:catalog_image_upload"), {"files": [upload("empty.jpg", b"")], "category": category.pk}
    )
    assert "The submitted file is empty." in " ".join(empty.context["form"].errors["files"])


@pytest.mark.django_db
def test_import_command_reports_bad_files_and_imports_the_rest(tmp_path: Path, media) -> None:
    folder = tmp_path / "Mixed"
    folder.mkdir()
    for name, (make, _) in BAD.items():
        (folder / name).write_bytes(make())
    for name, (make, _, _) in GOOD.items():
        if name != "photo.html":  # the importer only looks at image file names
            (folder / name).write_bytes(make())
    out, err = io.StringIO(), io.StringIO()
    call_command("import_images", str(tmp_path), stdout=out, stderr=err)
    for name, (_, message) in BAD.items():
        assert any(name in line and message in line for line in err.getvalue().splitlines()), name
    assert f"Imported {len(GOOD) - 1} image(s)" in out.getvalue() and f"{len(BAD)} skipped" in out.getvalue()


@pytest.mark.django_db
def test_accepted_odd_images_are_processed(word_space, media) -> None:
    category = Category.objects.create(name="Odd", slug="odd")
    images = [
        services.create_image(data=make(), filename=name, category=category) for name, (make, _, _) in GOOD.items()
    ]
    pipeline.process_images([image.pk for image in images], run="test")
    for image in images:
        image.refresh_from_db()
        assert image.status == Image.Status.READY, (image.title, image.error)
    assert Image.objects.get(title="exif rotated").width == 20  # displayed upright


@pytest.fixture
def searchable(demo_catalogue, django_db_blocker) -> Iterator[None]:
    with django_db_blocker.unblock():
        yield


def test_search_by_photo_refuses_bad_files_and_accepts_odd_ones(searchable, client) -> None:
    api = APIClient()
    for name, (make, message) in BAD.items():
        page = client.post(reverse("search:photo"), {"file": upload(name, make())})
        assert page.status_code == 400, name
        if name != "empty.jpg":  # Django's form says "The submitted file is empty."
            assert message in page.content.decode(), name
        response = api.post("/api/search/by-photo/", {"file": upload(name, make())}, format="multipart")
        assert response.status_code == 400 and response.json()["detail"], name
    for name, (make, _, _) in GOOD.items():
        assert client.post(reverse("search:photo"), {"file": upload(name, make())}).status_code == 200, name
        response = api.post("/api/search/by-photo/", {"file": upload(name, make())}, format="multipart")
        assert response.status_code == 200 and response.json()["results"], name


# --- Word queries ---------------------------------------------------------------------------

HOSTILE_QUERIES = {
    "1000000000000000000000000000000000000000:cat": 400,  # overflowed float32: NaN vector, a 500 before
    "1e999:cat": 200,  # not a weight: an unknown word
    "-1000:cat": 400,
    "-100:cat sofa": 200,
    "nan:cat": 200,
    "inf:cat -inf:dog": 200,
    "0:cat": 200,  # nothing to search for: no results
    "cat -cat": 200,
    " ".join(["cat"] * (MAX_TERMS + 1)): 400,
    "a " * 300: 400,  # over the 500-character limit
    "猫 кошка 🐱 ĉato": 200,
    "cat\x01dog": 400,
    "cat\x7f": 400,
    "cat\x00": 400,
    "\u202ecat": 200,  # a formatting character, not a control character: an unknown word
}


def test_parse_word_query_limits() -> None:
    assert parse_word_query("2:cat -0.5:dog") == parse_word_query("2:CAT, -0.5:dog")
    with pytest.raises(QueryError, match="Weights go from 0 to 100"):
        parse_word_query("101:cat")
    with pytest.raises(QueryError, match="control characters"):
        parse_word_query("cat\x1bdog")
    with pytest.raises(QueryError, match=f"at most {MAX_TERMS} words"):
        parse_word_query("a " * (MAX_TERMS + 1))


@pytest.mark.parametrize("path", ["/api/search/images/", "/search/", "/api/search/words/", "/search/words/"])
def test_hostile_queries_get_an_answer_or_a_400_never_a_500(searchable, client, path: str) -> None:
    for query, status in HOSTILE_QUERIES.items():
        response = client.get(path, {"q": query})
        assert response.status_code == status, (path, query, response.content[:300])
        if status == 400:
            body = response.content.decode()
            # A NUL character is refused before any view (config.middleware), with its own message.
            assert "NUL character" in body or (
                '"detail"' in body if path.startswith("/api/") else 'class="error"' in body
            ), (path, query, body[:300])
