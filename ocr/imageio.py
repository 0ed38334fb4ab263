"""Load untrusted image input into RGB frames, or fail with an error that says exactly what is wrong.

Images reach the reader from chat users and from the web, so every way a file can be bad gets its own
error class (all `ImageReadError`, a ValueError): empty, not an image, truncated, corrupt, too large.
Files and bytes pass the picture gate (storage.picture_gate) before PIL sees them: a path is read only
when it is a regular file and never past the byte cap, and the format's structure and the pixel cap
are checked from the bytes, so a decompression bomb never allocates its pixels.
"""

from __future__ import annotations

import io
import os
import warnings

from PIL import Image, UnidentifiedImageError

from storage.picture_gate import MAX_PICTURE_PIXELS, PictureRefused, check_picture, read_picture_file

ImageSource = bytes | str | os.PathLike[str] | Image.Image


class ImageReadError(ValueError):
    """An input that cannot be read as an image; the message names the input and the reason."""


class EmptyImageError(ImageReadError):
    pass


class NotAnImageError(ImageReadError):
    pass


class TruncatedImageError(ImageReadError):
    pass


class CorruptImageError(ImageReadError):
    pass


class ImageTooLargeError(ImageReadError):
    pass


def describe(source: ImageSource) -> str:
    """A short name for `source` in messages."""
    if isinstance(source, Image.Image):
        return f"<{source.width}x{source.height} {source.mode} image>"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    return str(source)


def _check_size(name: str, width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise CorruptImageError(f"{name}: the image has no pixels ({width}x{height})")
    if width * height > MAX_PICTURE_PIXELS:
        raise ImageTooLargeError(
            f"{name}: {width}x{height} is {width * height / 1e6:.1f} Mpx, over the limit of {MAX_PICTURE_PIXELS / 1e6:.1f} Mpx"
        )


# What each kind of refusal by the gate is called here.
_REFUSALS: dict[str, type[ImageReadError]] = {
    "missing": NotAnImageError, "not_a_file": NotAnImageError, "format": NotAnImageError, "empty": EmptyImageError,
    "too_large": ImageTooLargeError, "truncated": TruncatedImageError, "corrupt": CorruptImageError,
}


def gated_bytes(source: bytes | str | os.PathLike[str], name: str | None = None) -> bytes:
    """The bytes of a picture file or buffer that passed the gate, or the ImageReadError saying why not
    (naming the picture `name`, by default its path or byte count)."""
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        else:
            data = read_picture_file(source, name)
        check_picture(data, name or describe(source))
    except PictureRefused as refused:
        raise _REFUSALS[refused.fault](str(refused)) from None
    return data


def flatten(frame: Image.Image) -> Image.Image:
    """RGB with any transparency composited over white (transparent pixels are often stored as black)."""
    if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
        rgba = frame.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return frame.convert("RGB")


def _frame_indices(count: int, max_frames: int) -> list[int]:
    """Up to `max_frames` frame numbers spread evenly over an animation, always including the first."""
    if count <= max_frames:
        return list(range(count))
    return sorted({round(i * (count - 1) / (max_frames - 1)) for i in range(max_frames)}) if max_frames > 1 else [0]


def _says_truncated(exc: BaseException) -> bool:
    # Pillow reports a short file through several exception types; the wording is what they share.
    return isinstance(exc, EOFError) or "truncated" in str(exc).lower()


def load_frames(source: ImageSource, max_frames: int = 3) -> list[Image.Image]:
    """The RGB frames to read from `source`: one for a still image, up to `max_frames` for an animation."""
    name = describe(source)
    if isinstance(source, Image.Image):
        _check_size(name, source.width, source.height)
        return [flatten(source)]
    data = gated_bytes(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise NotAnImageError(f"{name}: not an image in any format Pillow reads (starts with {data[:12]!r})") from None
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{name}: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if _says_truncated(exc):
            raise TruncatedImageError(f"{name}: the file ends inside the image header ({exc})") from None
        raise CorruptImageError(f"{name}: the image header is damaged ({exc})") from None
    _check_size(name, image.width, image.height)
    frames = []
    for index in _frame_indices(getattr(image, "n_frames", 1), max_frames):
        try:
            image.seek(index)
            image.load()
            frames.append(flatten(image))
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            if _says_truncated(exc):
                raise TruncatedImageError(f"{name}: the file is truncated ({exc})") from None
            raise CorruptImageError(f"{name}: the image data is corrupt ({type(exc).__name__}: {exc})") from None
    return frames
