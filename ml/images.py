"""The one place that opens and normalises images.

Every image, whether uploaded to the catalogue or sent as a search query, goes through
`open_image` so that the encoder always sees the same thing: EXIF orientation applied,
RGB colour, bounded pixel count.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's own decompression-bomb guard warns at 89 Mpx; we refuse well before that.
DEFAULT_MAX_PIXELS = 40_000_000


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


def open_image(source: bytes | BinaryIO, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode, verify and normalise an image: EXIF-transposed, RGB, fully loaded."""
    data = source if isinstance(source, bytes) else source.read()
    if not data:
        raise InvalidImage("The file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            width, height = probe.size
            if width * height > max_pixels:
                raise InvalidImage(
                    f"The image is too large ({width}x{height} pixels; the limit is "
                    f"{max_pixels // 1_000_000} megapixels)."
                )
            probe.verify()  # catches truncated and corrupt files cheaply
            image = Image.open(io.BytesIO(data))
            image.load()
    except InvalidImage:
        raise
    except UnidentifiedImageError:
        raise InvalidImage("The file is not an image in a format we can read (JPEG, PNG, GIF, WebP, ...).") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage(f"The image file is damaged or incomplete ({exc}).") from None
    image = ImageOps.exif_transpose(image)
    if image.mode != "RGB":
        # Flatten transparency onto white so that logos and PNG cut-outs look as they do on a page.
        if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            background = Image.new("RGB", rgba.size, (255, 255, 255))
            background.paste(rgba, mask=rgba.getchannel("A"))
            image = background
        else:
            image = image.convert("RGB")
    return image


def thumbnail_jpeg(image: Image.Image, *, size: int = 480, quality: int = 85) -> bytes:
    """A JPEG whose longer side is at most `size` pixels."""
    thumb = image.copy()
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def model_input(
    images: Sequence[Image.Image], *, mean: Sequence[float], std: Sequence[float], resize: int = 256, crop: int = 224
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
