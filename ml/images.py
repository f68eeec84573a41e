"""The one place that opens and normalises images.

Every image, whether uploaded to the catalogue or sent as a search query, goes through
`decode_image` (or `open_image`) so that the encoder always sees the same thing: EXIF
orientation applied, RGB colour, bounded pixel count. Only the formats in ALLOWED_FORMATS are
ever handed to a Pillow plugin, whatever the file is called: an EPS file named `.jpg` never
reaches the EPS plugin (which would run Ghostscript).
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError
from pillow_heif import register_heif_opener

register_heif_opener()  # HEIC/HEIF photos from phones

# Pillow's own decompression-bomb guard warns at 89 Mpx; we refuse well before that.
DEFAULT_MAX_PIXELS = 40_000_000

THUMBNAIL_SIZE = 480  # longer side of a thumbnail
MODEL_RESIZE = 256  # shorter side of a picture before the encoder's centre crop
# The least a processed picture needs (longer side, shorter side): its thumbnail and its model input.
PROCESSING_SIZE = (THUMBNAIL_SIZE, MODEL_RESIZE)

# Pillow format name -> the extension a stored original gets.
ALLOWED_FORMATS = {
    "JPEG": "jpg",
    "PNG": "png",
    "GIF": "gif",
    "WEBP": "webp",
    "BMP": "bmp",
    "TIFF": "tiff",
    "HEIF": "heic",
}
FORMAT_NAMES = "JPEG, PNG, GIF, WebP, BMP, TIFF or HEIC"


class InvalidImage(ValueError):
    """The bytes are not an image we can use; the message is shown to the user."""


class UploadTooLarge(InvalidImage):
    """The upload is over the byte limit; it was not read whole."""


def read_upload(file: BinaryIO, *, max_bytes: int) -> bytes:
    """Read an uploaded file, refusing files over `max_bytes` without reading them whole."""
    data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadTooLarge(f"The file is larger than the limit of {max_bytes / (1024 * 1024):g} MB.")
    return data


@dataclass(frozen=True)
class DecodedImage:
    picture: Image.Image  # normalised: EXIF-transposed, RGB, fully loaded
    format: str  # Pillow's name of the detected format, one of ALLOWED_FORMATS
    size: tuple[int, int]  # (width, height) of the full image as shown, whatever scale `picture` was decoded at

    @property
    def extension(self) -> str:
        return ALLOWED_FORMATS[self.format]


def decode_image(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, at_least: tuple[int, int] | None = None
) -> DecodedImage:
    """Detect the format from the bytes (allowlist only), verify, decode and normalise.

    With `at_least` (longer side, shorter side) the picture is made no larger than it needs to
    be before it is converted to RGB, which bounds what a small file of many pixels costs: a JPEG
    is decoded at 1/2, 1/4 or 1/8 of its size (libjpeg scales while it decodes, Pillow's `draft`),
    other formats are decoded whole and reduced by a whole factor at once (a 1-bit 6300x6300 PNG
    is 40 MB decoded, 119 MB in RGB). The whole file is still decoded, so damaged files are
    refused all the same."""
    if not data:
        raise InvalidImage("The file is empty.")
    formats = list(ALLOWED_FORMATS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data), formats=formats)
            width, height = probe.size
            if width * height > max_pixels:
                raise InvalidImage(
                    f"The image is too large ({width}x{height} pixels; the limit is "
                    f"{max_pixels // 1_000_000} megapixels)."
                )
            probe.verify()  # catches truncated and corrupt files cheaply
            image = Image.open(io.BytesIO(data), formats=formats)
            target = None
            if at_least is not None:
                longer, shorter = at_least
                target = (longer, shorter) if width >= height else (shorter, longer)
                image.draft("RGB", target)
            image.load()  # the first frame of an animation
    except InvalidImage:
        raise
    except UnidentifiedImageError:
        raise InvalidImage(f"The file is not an image in a format we accept ({FORMAT_NAMES}).") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImage(
            f"The image has too many pixels to open safely (the limit is {max_pixels // 1_000_000} megapixels)."
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidImage(f"The image file is damaged or incomplete ({exc}).") from None
    detected = image.format
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    if target is not None:
        image = _reduced(image, target)
    # EXIF orientations 5 to 8 turn the picture a quarter: width and height swap.
    turned = orientation in (5, 6, 7, 8)
    return DecodedImage(
        picture=_normalise(image, orientation), format=detected, size=(height, width) if turned else (width, height)
    )


def open_image(
    source: bytes | BinaryIO, *, max_pixels: int = DEFAULT_MAX_PIXELS, at_least: tuple[int, int] | None = None
) -> Image.Image:
    """Decode, verify and normalise an image: EXIF-transposed, RGB, fully loaded (see `decode_image`)."""
    data = source if isinstance(source, bytes) else source.read()
    return decode_image(data, max_pixels=max_pixels, at_least=at_least).picture


_query_slots: dict[int, threading.BoundedSemaphore] = {}


def open_query_photo(data: bytes, *, max_pixels: int, concurrent: int) -> Image.Image:
    """A photo sent to search by: decoded at the scale the encoder needs, at most `concurrent`
    at a time in this process (each thread waits for a slot), so that many searches at once cost
    a bounded amount of memory."""
    slots = _query_slots.setdefault(concurrent, threading.BoundedSemaphore(concurrent))
    with slots:
        return decode_image(data, max_pixels=max_pixels, at_least=(MODEL_RESIZE, MODEL_RESIZE)).picture


def _reduced(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """The image shrunk by the largest whole factor that keeps it at least `target` (width, height)."""
    factor = min(image.size[0] // target[0], image.size[1] // target[1])
    if factor < 2:
        return image
    if image.mode in REDUCIBLE_MODES:
        return image.reduce(factor)
    if image.mode == "1":  # no reduce for bilevel pixels; grey keeps the line art's tones
        mode = "L"
    elif image.mode == "P":  # palette indexes cannot be averaged
        mode = "RGBA" if image.has_transparency_data else "RGB"
    else:
        return image
    # Converted and reduced a band at a time: converting a 40 Mpx bilevel image whole would
    # cost another 40 MB (grey) or 160 MB (a palette image to RGBA).
    width, height = image.size
    reduced = Image.new(mode, (-(-width // factor), -(-height // factor)))
    band = factor * 8  # rows; a multiple of the factor, so that bands reduce as the whole would
    for top in range(0, height, band):
        strip = image.crop((0, top, width, min(height, top + band))).convert(mode)
        reduced.paste(strip.reduce(factor), (0, top // factor))
    return reduced


# Modes Image.reduce accepts (others, such as 16-bit greys, are normalised at full size).
REDUCIBLE_MODES = {"L", "LA", "La", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "I", "F"}
# EXIF orientation -> the transposition that shows the picture upright (as ImageOps.exif_transpose).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _normalise(image: Image.Image, orientation: int) -> Image.Image:
    if orientation in UPRIGHT:
        image = image.transpose(UPRIGHT[orientation])
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale (PNG, TIFF): keep the high byte; a plain convert would clip to white.
        pixels = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
        image = Image.fromarray((pixels >> 8 if pixels.max() > 255 else pixels).astype(np.uint8), mode="L")
    if image.mode != "RGB":
        # Flatten transparency onto white so that logos and PNG cut-outs look as they do on a page.
        if image.has_transparency_data:
            rgba = image.convert("RGBA")
            background = Image.new("RGB", rgba.size, (255, 255, 255))
            background.paste(rgba, mask=rgba.getchannel("A"))
            image = background
        else:
            image = image.convert("RGB")
    return image


# A box smaller than this (pixels on a side) holds too little for the encoder to recognise anything.
MIN_BOX_SIDE = 16


def crop_to_box(image: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    """The part of `image` inside `box` (left, top, right, bottom as fractions of its width and
    height, in any order and clamped to the picture): the region a visitor drew to search by."""
    width, height = image.size
    xs = sorted(min(max(v, 0.0), 1.0) * width for v in (box[0], box[2]))
    ys = sorted(min(max(v, 0.0), 1.0) * height for v in (box[1], box[3]))
    left, top, right, bottom = round(xs[0]), round(ys[0]), round(xs[1]), round(ys[1])
    if right - left < MIN_BOX_SIDE or bottom - top < MIN_BOX_SIDE:
        raise InvalidImage(f"The box is too small: draw one at least {MIN_BOX_SIDE} pixels of the photo wide and high.")
    return image.crop((left, top, right, bottom))


def thumbnail_jpeg(image: Image.Image, *, size: int = THUMBNAIL_SIZE, quality: int = 85) -> bytes:
    """A JPEG whose longer side is at most `size` pixels.

    One bicubic resize, no copy and no second (`optimize`) Huffman pass: on the dev photos
    (500x375 decoded, to 480x360) 2.1 ms a thumbnail instead of 3.6-4.2 ms with Lanczos and
    `optimize`, and 1% smaller files (bicubic is a little softer; `optimize` saved 2%)."""
    width, height = image.size
    scale = size / max(width, height)
    if scale < 1:
        # A picture many times larger (a PNG reduced only by a whole factor) is reduced first.
        target = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = image.resize(target, Image.Resampling.BICUBIC, reducing_gap=3.0)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def model_input(
    images: Sequence[Image.Image],
    *,
    mean: Sequence[float],
    std: Sequence[float],
    resize: int = MODEL_RESIZE,
    crop: int = 224,
) -> np.ndarray:
    """(n, 3, crop, crop) float32 CNN input: the standard ImageNet evaluation crop (shorter side
    to `resize`, centre `crop`), scaled to [0, 1] and normalised. Matches torchvision's
    Resize + CenterCrop + ToTensor + Normalize on PIL images, without needing torch."""
    batch = np.empty((len(images), 3, crop, crop), dtype=np.float32)
    scale = np.asarray(std, dtype=np.float32).reshape(3, 1, 1) * 255.0
    offset = np.asarray(mean, dtype=np.float32).reshape(3, 1, 1) * 255.0
    for row, image in enumerate(images):
        width, height = image.size
        short = min(width, height)
        size = (resize, int(resize * height / short)) if width == short else (int(resize * width / short), resize)
        resized = image.convert("RGB").resize(size, Image.Resampling.BILINEAR)
        left, top = int(round((size[0] - crop) / 2.0)), int(round((size[1] - crop) / 2.0))
        pixels = np.asarray(resized.crop((left, top, left + crop, top + crop)), dtype=np.float32)
        batch[row] = (pixels.transpose(2, 0, 1) - offset) / scale
    return batch
