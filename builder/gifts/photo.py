"""Untrusted images in, clean pixels out: size and pixel limits, orientation, sRGB, no original metadata.

The only way out of this module is `clean_image`, a fresh RGB image built from the decoded pixels, so
nothing the upload carried (EXIF and its GPS, XMP, ICC profile, JPEG COM comments, thumbnails, PNG text)
can reach an encoder: Pillow copies `im.info["comment"]` into a re-saved JPEG, `exif_transpose` keeps GPS,
and a PNG's ICC profile rides along unless the pixels leave the original image object.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from builder.errors import MediaError

MAX_PHOTO_BYTES = 10 * 1024 * 1024
# Checked from the header before any pixel is decoded; Pillow's own bomb check (a warning, made an error here)
# stays as a second line at its default threshold, which is process-global and so not changed from here.
MAX_PHOTO_PIXELS = 40_000_000
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP")


def clean_image(data: bytes, *, max_bytes: int = MAX_PHOTO_BYTES, max_pixels: int = MAX_PHOTO_PIXELS) -> Image.Image:
    """Decode an untrusted JPEG/PNG/WebP into a fresh sRGB RGB image with no metadata; MediaError when unsafe."""
    if len(data) > max_bytes:
        raise MediaError(f"the photo is larger than {max_bytes // (1024 * 1024)} MB")
    if not data:
        raise MediaError("the photo is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(PHOTO_FORMATS)) as opened:
                _check_pixels(opened.size, max_pixels)
                if getattr(opened, "n_frames", 1) > 1:
                    opened.seek(0)  # animated WebP/APNG: the first frame only
                opened.load()
                upright = ImageOps.exif_transpose(opened) or opened
                srgb = _to_srgb(upright, opened.info.get("icc_profile"))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise MediaError(f"the photo has too many pixels (the limit is {max_pixels:,})") from None
        except UnidentifiedImageError:
            raise MediaError("the upload is not a JPEG, PNG or WebP image") from None
        except MediaError:
            raise
        except Exception:  # untrusted bytes reach deep into the decoders; any failure there means "damaged"
            raise MediaError("the photo is damaged and cannot be decoded") from None
    fresh = Image.new("RGB", srgb.size)
    fresh.paste(srgb)
    return fresh


def fit_within(image: Image.Image, longest_side: int) -> Image.Image:
    """A copy no larger than `longest_side` on its longest side (never upscaled)."""
    copy = image.copy()
    copy.thumbnail((longest_side, longest_side), Image.Resampling.LANCZOS)
    return copy


def cover_crop(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` scaled and centre-cropped to exactly `size` (like CSS object-fit: cover)."""
    return ImageOps.fit(image, size, Image.Resampling.LANCZOS, centering=(0.5, 0.45))


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise MediaError("the photo has no pixels")
    if width * height > max_pixels:
        raise MediaError(f"the photo has too many pixels (the limit is {max_pixels:,})")


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Apply an embedded ICC profile (to sRGB), then flatten any alpha onto white; the profile is dropped."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        base = Image.new("RGB", rgba.size, (255, 255, 255))
        base.paste(rgba, mask=rgba.getchannel("A"))
        image = base
    elif image.mode not in ("RGB", "CMYK", "L"):
        image = image.convert("RGB")
    if icc_profile:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            converted = ImageCms.profileToProfile(
                image, source, ImageCms.createProfile("sRGB"), outputMode="RGB",
                renderingIntent=ImageCms.Intent.PERCEPTUAL,
            )
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: treat the pixels as sRGB rather than refuse the photo
    return image.convert("RGB")
