"""The one gate every picture passes on its way in: HTTP, the CLI, Discord, Tumblr, `read`, `style learn`.

Decoders trust a picture's header. A few kilobytes of PNG can claim 20000×20000 pixels (gigabytes once
decoded); a truncated file or one with a flipped byte is taken at submission and fails minutes later
in the worker, in the decoder's own words. So the gate reads what a decoder would rely on, from the
bytes alone and without decoding a pixel: the size of the file, the format and its structure (PNG
chunks, their CRCs, the zlib stream's length and row filters, IEND; JPEG segments and EOI; GIF blocks
and trailer; WebP's RIFF chunks) and the dimensions (above zero, under one pixel cap). A picture it
passes decodes, within a memory bound set by MAX_PICTURE_PIXELS.

Files are read with `read_picture_file`: regular files only (a device or a FIFO is refused before a
byte is read) and never more than the byte cap. Torch- and PIL-free, so storage validation, the
adapters and the worker's second check can all import it.
"""

from __future__ import annotations

import os
import stat
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

MAX_PICTURE_BYTES = 20 * 1024 * 1024
MAX_PICTURE_SIDE = 4096
# One cap on pixels, the same everywhere: decoded, a picture takes at most 4 bytes a pixel in PIL
# (64 MiB here), so the worker's few copies stay well inside its memory budget.
MAX_PICTURE_PIXELS = MAX_PICTURE_SIDE * MAX_PICTURE_SIDE
FORMATS = ("png", "jpeg", "gif", "webp")
FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WebP"}

Fault = Literal["missing", "not_a_file", "empty", "too_large", "format", "truncated", "corrupt"]


class PictureRefused(ValueError):
    """A picture the gate turned away; `str(error)` is one line naming the picture and what is wrong
    (or the limit it passes), `fault` says which kind of wrong for callers that map it to their own errors."""

    def __init__(self, message: str, fault: Fault) -> None:
        super().__init__(message)
        self.fault = fault


@dataclass(frozen=True)
class PictureInfo:
    """What the gate learnt from a picture's structure: its format, size in pixels and frame count."""

    format: str
    width: int
    height: int
    frames: int = 1


def mib(size_bytes: int) -> str:
    """A byte count as people read it: 8 MiB, 0.5 MiB."""
    return f"{round(size_bytes / 1048576, 1):g} MiB"


def check_picture(
    data: object,
    what: str,
    *,
    formats: Sequence[str] = FORMATS,
    max_bytes: int = MAX_PICTURE_BYTES,
    max_pixels: int = MAX_PICTURE_PIXELS,
) -> PictureInfo:
    """The picture's format and size, or PictureRefused saying what is wrong with `what` (its name in
    the message: "the init image", a path, an option)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise PictureRefused(f"{what} must be the bytes of a picture file", "format")
    data = bytes(data)
    if not data:
        raise PictureRefused(f"{what} is empty (0 bytes)", "empty")
    if len(data) > max_bytes:
        raise PictureRefused(f"{what} is {mib(len(data))}; the limit is {mib(max_bytes)}", "too_large")
    kind = sniff(data)
    if kind not in formats:
        allowed = [FORMAT_NAMES[name] for name in formats]
        listed = allowed[0] if len(allowed) == 1 else ", ".join(allowed[:-1]) + " or " + allowed[-1]
        seen = f" ({kind.upper()})" if kind in ("tiff", "bmp") else ""
        raise PictureRefused(f"{what} is not a {listed} file{seen}", "format")
    return _CHECKS[kind](data, _Limits(what, max_pixels))


def read_picture_file(path: str | os.PathLike[str], what: str | None = None, *, max_bytes: int = MAX_PICTURE_BYTES) -> bytes:
    """The bytes of a picture file, read with a cap: only a regular file is read (a directory, FIFO,
    socket or device is refused before a byte is read, so `/dev/zero` cannot fill memory and a FIFO
    cannot hang), and never more than `max_bytes`."""
    name = what or str(path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise PictureRefused(f"{name}: no such file", "missing") from None
    except OSError as error:
        raise PictureRefused(f"{name} cannot be opened: {error.strerror or error}", "not_a_file") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise PictureRefused(f"{name} is {_file_kind(mode)}, not a picture file", "not_a_file")
        with os.fdopen(descriptor, "rb") as handle:  # buffered: read(n) returns n bytes unless the file ends
            descriptor = -1
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise PictureRefused(f"{name} cannot be read: {error.strerror or error}", "not_a_file") from None
    finally:
        if descriptor != -1:
            os.close(descriptor)
    if len(data) > max_bytes:
        raise PictureRefused(f"{name} is larger than the limit of {mib(max_bytes)}", "too_large")
    return data


def sniff(data: bytes) -> str:
    """The format the leading bytes announce: png, jpeg, gif, webp, tiff, bmp, or "unknown"."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:2] == b"BM":
        return "bmp"
    return "unknown"


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


@dataclass(frozen=True)
class _Limits:
    """The picture's name for messages and the pixel cap, handed to each format's check."""

    what: str
    max_pixels: int

    def truncated(self, where: str) -> PictureRefused:
        return PictureRefused(f"{self.what} is truncated: {where}", "truncated")

    def corrupt(self, why: str) -> PictureRefused:
        return PictureRefused(f"{self.what} is corrupt: {why}", "corrupt")

    def size(self, kind: str, width: int, height: int, frames: int = 1) -> PictureInfo:
        """Refuse a picture without pixels or over the cap; otherwise its info."""
        if width <= 0 or height <= 0:
            raise PictureRefused(f"{self.what} has no pixels ({width}×{height})", "corrupt")
        if width * height > self.max_pixels:
            side = round(self.max_pixels**0.5)
            raise PictureRefused(
                f"{self.what} is {width}×{height} pixels ({width * height / 1e6:.1f} megapixels); "
                f"the limit is {self.max_pixels / 1e6:.1f} megapixels ({side}×{side})",
                "too_large",
            )
        return PictureInfo(kind, width, height, frames)


# --- PNG -------------------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Bit depths each colour type allows, and its samples per pixel (PNG spec, table 11.1).
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_PNG_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7: (first column, first row, column step, row step) of each of the seven passes.
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_INFLATE_STEP = 1 << 20  # inflate a megabyte at a time: a zlib bomb never gets to fill memory


def _png_chunks(data: bytes, limits: _Limits) -> Iterator[tuple[bytes, bytes]]:
    """(type, data) of each chunk up to and including IEND, each checked against its CRC."""
    position = len(PNG_SIGNATURE)
    while True:
        if position + 8 > len(data):
            raise limits.truncated("the file ends before its IEND chunk")
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        name = kind.decode("latin-1")
        if length > 0x7FFFFFFF or not kind.isalpha():
            raise limits.corrupt(f"a chunk header at byte {position} is not valid")
        end = position + 12 + length
        if end > len(data):
            raise limits.truncated(f"the file ends inside its {name} chunk")
        body = data[position + 8 : end - 4]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[end - 4 : end])[0]:
            raise limits.corrupt(f"its {name} chunk fails its CRC check")
        yield kind, body
        if kind == b"IEND":
            return
        position = end


def _check_png(data: bytes, limits: _Limits) -> PictureInfo:
    chunks = _png_chunks(data, limits)
    kind, header = next(chunks)
    if kind != b"IHDR" or len(header) != 13:
        raise limits.corrupt("it does not start with an IHDR chunk")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", header)
    if width > 0x7FFFFFFF or height > 0x7FFFFFFF:
        raise limits.corrupt(f"its header claims {width}×{height} pixels")
    info = limits.size("png", width, height)
    if depth not in _PNG_DEPTHS.get(colour, ()) or compression != 0 or filtering != 0 or interlace > 1:
        raise limits.corrupt(f"its header's colour type {colour}, bit depth {depth} or methods are not valid PNG")
    idat: list[bytes] = []
    palette = run_ended = False
    for kind, body in chunks:
        if kind == b"IHDR":
            raise limits.corrupt("it has a second IHDR chunk")
        palette = palette or kind == b"PLTE"
        if kind == b"IDAT":
            if run_ended:
                raise limits.corrupt("its IDAT chunks are not consecutive")
            idat.append(body)
        elif idat:
            run_ended = True
    if colour == 3 and not palette:
        raise limits.corrupt("it has a palette colour type but no PLTE chunk")
    if not idat:
        raise limits.corrupt("it has no image data (IDAT chunk)")
    _check_png_stream(idat, width, height, depth * _PNG_SAMPLES[colour], bool(interlace), limits)
    return info


def _png_rows(width: int, height: int, bits: int, interlaced: bool) -> list[tuple[int, int]]:
    """(rows, bytes per row including the filter byte) of each pass of the image's pixel stream."""
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    rows = []
    for first_x, first_y, step_x, step_y in passes:
        columns, count = -(-(width - first_x) // step_x), -(-(height - first_y) // step_y)
        if columns > 0 and count > 0:
            rows.append((count, 1 + (columns * bits + 7) // 8))
    return rows


def _check_png_stream(parts: list[bytes], width: int, height: int, bits: int, interlaced: bool, limits: _Limits) -> None:
    """Inflate the pixel stream a megabyte at a time, without keeping it: it must hold every row, and
    each row must start with a known filter (0..4), or a decoder would fail on it later."""
    passes = _png_rows(width, height, bits, interlaced)
    expected = sum(count * stride for count, stride in passes)
    # Where each pass's rows start in the stream, so filter bytes can be found in any piece of it.
    starts, offset = [], 0
    for count, stride in passes:
        starts.append((offset, offset + count * stride, stride))
        offset += count * stride
    inflater = zlib.decompressobj()
    produced = 0
    try:
        for part in parts:
            pending = part
            while pending and produced < expected:
                piece = inflater.decompress(pending, _INFLATE_STEP)
                pending = inflater.unconsumed_tail
                _check_filters(piece, produced, starts, limits)
                produced += len(piece)
            if produced >= expected:
                return
        while produced < expected and not inflater.eof:
            piece = inflater.decompress(b"", _INFLATE_STEP)
            if not piece:
                break
            _check_filters(piece, produced, starts, limits)
            produced += len(piece)
    except zlib.error as error:
        raise limits.corrupt(f"its compressed pixel data is damaged ({error})") from None
    if produced < expected:
        raise limits.truncated(f"its pixel data ends after {produced} of {expected} bytes")


def _check_filters(piece: bytes, offset: int, starts: list[tuple[int, int, int]], limits: _Limits) -> None:
    """Every row start (filter byte) that falls in `piece`, which begins at `offset` in the stream, is 0..4."""
    end = offset + len(piece)
    for first, last, stride in starts:
        low, high = max(first, offset), min(last, end)
        if low >= high:
            continue
        row_start = first + -(-(low - first) // stride) * stride
        if row_start < high and max(piece[row_start - offset : high - offset : stride]) > 4:
            raise limits.corrupt("a row of its pixel data has an unknown filter type")


# --- JPEG ------------------------------------------------------------------------------------------

_JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def _check_jpeg(data: bytes, limits: _Limits) -> PictureInfo:
    """Walk the segments to the first scan: one frame header (SOFn) with the size, then an EOI after the scan."""
    position, info = 2, None
    while True:
        if position < len(data) and data[position] != 0xFF:
            raise limits.corrupt(f"no segment marker at byte {position}")
        while position + 1 < len(data) and data[position + 1] == 0xFF:
            position += 1  # fill bytes before a marker
        if position + 2 > len(data):
            raise limits.truncated("the file ends before its image data")
        marker = data[position + 1]
        if marker in _JPEG_STANDALONE:
            position += 2
            continue
        if marker == 0xD9:
            raise limits.corrupt("it ends (EOI) before any image data")
        if position + 4 > len(data):
            raise limits.truncated("the file ends inside a segment header")
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if length < 2:
            raise limits.corrupt(f"a segment at byte {position} has length {length}")
        if position + 2 + length > len(data):
            raise limits.truncated("the file ends inside a segment")
        body = data[position + 4 : position + 2 + length]
        if marker in _JPEG_FRAMES:
            if info is not None:
                raise limits.corrupt("it has two frame headers")
            if len(body) < 6 or len(body) != 6 + 3 * body[5] or body[5] not in (1, 3, 4):
                raise limits.corrupt("its frame header is not valid")
            height, width = struct.unpack(">HH", body[1:5])
            info = limits.size("jpeg", width, height)
        elif marker == 0xDA:
            if info is None:
                raise limits.corrupt("its image data comes before its frame header")
            if b"\xff\xd9" not in data[position + 2 + length :]:
                raise limits.truncated("the file ends inside its image data (no end-of-image marker)")
            return info
        position += 2 + length


# --- GIF -------------------------------------------------------------------------------------------


def _gif_blocks(data: bytes, position: int, limits: _Limits) -> int:
    """The position after a run of data sub-blocks (each a length byte and that many bytes, ending with 0)."""
    while True:
        if position >= len(data):
            raise limits.truncated("the file ends inside a data block")
        length = data[position]
        position += 1 + length
        if length == 0:
            return position


def _check_gif(data: bytes, limits: _Limits) -> PictureInfo:
    """Header, every frame's descriptor (a frame reaching past the screen grows the picture, as PIL
    does), and the trailer."""
    if len(data) < 13:
        raise limits.truncated("the file ends inside its header")
    width, height, packed = struct.unpack("<HHB", data[6:11])
    position = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    frames = 0
    while True:
        if position >= len(data):
            raise limits.truncated("the file ends before its trailer")
        block = data[position]
        if block == 0x3B:
            break
        if block == 0x21:
            position = _gif_blocks(data, position + 2, limits)
        elif block == 0x2C:
            if position + 11 > len(data):
                raise limits.truncated("the file ends inside a frame header")
            left, top, frame_width, frame_height, flags = struct.unpack("<HHHHB", data[position + 1 : position + 10])
            if frame_width == 0 or frame_height == 0:
                raise limits.corrupt(f"frame {frames + 1} has no pixels ({frame_width}×{frame_height})")
            width, height = max(width, left + frame_width), max(height, top + frame_height)
            limits.size("gif", width, height)
            position += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
            if position >= len(data):
                raise limits.truncated("the file ends inside a frame")
            if not 1 <= data[position] <= 11:
                raise limits.corrupt(f"frame {frames + 1} has an invalid LZW code size ({data[position]})")
            position = _gif_blocks(data, position + 1, limits)
            frames += 1
        else:
            raise limits.corrupt(f"an unknown block (0x{block:02X}) at byte {position}")
    if frames == 0:
        raise limits.corrupt("it holds no frame")
    return limits.size("gif", width, height, frames)


# --- WebP ------------------------------------------------------------------------------------------


def _webp_chunks(data: bytes, start: int, end: int, limits: _Limits) -> Iterator[tuple[bytes, bytes]]:
    """(fourcc, data) of the RIFF chunks between `start` and `end`."""
    position = start
    while position + 8 <= end:
        kind, length = data[position : position + 4], struct.unpack("<I", data[position + 4 : position + 8])[0]
        if position + 8 + length > end:
            raise limits.truncated(f"the file ends inside its {kind.decode('latin-1')!r} chunk")
        yield kind, data[position + 8 : position + 8 + length]
        position += 8 + length + (length & 1)
    if end - position > 1:  # one byte may be the last chunk's missing pad
        raise limits.truncated("the file ends inside a chunk header")


def _webp_bitstream(kind: bytes, body: bytes, limits: _Limits) -> tuple[int, int]:
    """The size a VP8 (lossy) or VP8L (lossless) bitstream's header gives."""
    if kind == b"VP8 ":
        if len(body) < 10 or body[3:6] != b"\x9d\x01\x2a" or body[0] & 1:
            raise limits.corrupt("its VP8 image header is not valid")
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF
    if len(body) < 5 or body[0] != 0x2F:
        raise limits.corrupt("its VP8L image header is not valid")
    (bits,) = struct.unpack("<I", body[1:5])
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1


def _check_webp(data: bytes, limits: _Limits) -> PictureInfo:
    """The RIFF frame, then the size of the canvas (VP8X) or of the one image, and of every animation frame."""
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = 8 + riff_size
    if riff_size < 4:
        raise limits.corrupt(f"its RIFF size ({riff_size}) is not valid")
    if end > len(data):
        raise limits.truncated(f"the file has {len(data)} of the {end} bytes its header announces")
    chunks = list(_webp_chunks(data, 12, end, limits))
    if not chunks:
        raise limits.corrupt("it holds no image")
    kind, body = chunks[0]
    if kind in (b"VP8 ", b"VP8L"):
        return limits.size("webp", *_webp_bitstream(kind, body, limits))
    if kind != b"VP8X" or len(body) < 10:
        raise limits.corrupt(f"its first chunk is {kind.decode('latin-1')!r}, not an image")
    width = int.from_bytes(body[4:7], "little") + 1
    height = int.from_bytes(body[7:10], "little") + 1
    info = limits.size("webp", width, height)
    frames = 0
    for kind, body in chunks[1:]:
        if kind in (b"VP8 ", b"VP8L"):
            frames += 1
            limits.size("webp", *_webp_bitstream(kind, body, limits))
        elif kind == b"ANMF":
            if len(body) < 16:
                raise limits.truncated("an animation frame ends inside its header")
            frame_width = int.from_bytes(body[6:9], "little") + 1
            frame_height = int.from_bytes(body[9:12], "little") + 1
            if int.from_bytes(body[0:3], "little") * 2 + frame_width > width or int.from_bytes(body[3:6], "little") * 2 + frame_height > height:
                raise limits.corrupt(f"animation frame {frames + 1} reaches past the {width}×{height} canvas")
            frames += 1
    if frames == 0:
        raise limits.corrupt("it holds no image")
    return PictureInfo("webp", info.width, info.height, frames)


_CHECKS = {"png": _check_png, "jpeg": _check_jpeg, "gif": _check_gif, "webp": _check_webp}
