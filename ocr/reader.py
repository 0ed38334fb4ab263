"""Read the text in an image with tesseract: per-line text, confidence and box.

Generated candidates are small (64–256 px) and their letters a few pixels tall, which is far from the
~20–40 px capitals tesseract's LSTM model was trained on. So before reading we:

1. flatten to grey and make the text dark on a light ground (tesseract prefers that polarity);
2. estimate the letter height from the vertical ink runs (Otsu threshold, see `text_height`) and scale
   the image so capitals are about `target_letter_px` tall (24 px read best of 20/24/32/40 on the
   held-out transcripts drawn with six fonts);
3. pad a border of background colour, because text touching the edge is often missed;
4. run tesseract with dictionary correction off (`load_system_dawg=0`, `load_freq_dawg=0`): the model
   is asked to draw arbitrary strings, and a dictionary would "correct" a wrong drawing into the prompt.

Lines whose mean word confidence is under `min_line_confidence` (the original used 80, later 65) are
ignored, and so is text tucked into a corner (watermarks, signatures), as the original did. Ignored lines
are still returned in `Reading.ignored` so people can see why text was dropped.

With `level_empty_frames` (text written into a box of the user's photo), a frame that reads as
nothing is read again with its ground levelled (`level_ground`): across a photo's seam of hill and
earth, Otsu splits the ground, not the letters from it, and the letter height comes out as the
hill's. It is off elsewhere: a picture without letters costs two more tesseract calls (2 to 6 s on
scikit-image's photographs), and the held-out figures stay those of one reading rule.

When the layout of a picture is known (a generated candidate's), `read_in_quads` reads each text
block on its own instead (see ocr/quads.py): on a tweet card over a photograph, one threshold for the
whole picture separates card from photo, not letters from card, and lines were lost.

Batches are read in parallel in worker processes whose environment has `OMP_THREAD_LIMIT=1`: tesseract
otherwise starts an OpenMP team per call, which on small images costs more than it saves and makes
parallel calls fight over cores. The variable is set only in those workers, never in the caller, because
torch in the same process reads it too.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Sequence, TypeVar

import numpy as np
import pytesseract
from PIL import Image, ImageFilter, ImageOps

from ocr.imageio import ImageReadError, ImageSource, load_frames
from ocr.quads import crop_quad
from ocr.scoring import trigram_similarity

if TYPE_CHECKING:
    from generation.layout import Quad

T = TypeVar("T")


class OcrEngineError(RuntimeError):
    """tesseract itself is missing, failed or timed out (not a problem with the image)."""


@dataclass(frozen=True)
class Box:
    """A rectangle in the original image's pixels."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height


@dataclass(frozen=True)
class OcrLine:
    text: str
    confidence: float  # mean tesseract word confidence, 0–100
    box: Box


@dataclass(frozen=True)
class Reading:
    """What the reader saw in one image; `text` joins the kept lines with newlines."""

    lines: tuple[OcrLine, ...]
    ignored: tuple[OcrLine, ...]
    width: int
    height: int
    frames: int = 1

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def to_dict(self) -> dict:
        return {"text": self.text, **asdict(self)}


@dataclass(frozen=True)
class Reader:
    """Settings for reading; cheap to build and picklable, so worker processes receive a copy."""

    min_line_confidence: float = 65.0
    min_block_confidence: float = 30.0  # see config/default.toml
    corner_margin: float = 0.05
    workers: int = field(default_factory=lambda: min(8, os.cpu_count() or 1))
    psm: int = 6
    target_letter_px: int = 24
    max_frames: int = 3
    timeout_s: float = 30.0
    level_empty_frames: bool = False  # read a frame that reads as nothing again, its ground levelled

    def __post_init__(self) -> None:
        for name in ("min_line_confidence", "min_block_confidence"):
            if not 0 <= getattr(self, name) <= 100:
                raise ValueError(f"{name} must be in [0, 100], got {getattr(self, name)}")
        if not 0 <= self.corner_margin < 0.5:
            raise ValueError(f"corner_margin must be in [0, 0.5), got {self.corner_margin}")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if self.max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {self.max_frames}")

    def for_photo_boxes(self) -> Reader:
        """This reader for text written into a box of the user's photo: its letters take the photo's
        colours and may straddle a seam of its ground, so a box that reads as nothing is read again
        with its ground levelled."""
        return replace(self, level_empty_frames=True)

    @property
    def tesseract_config(self) -> str:
        return f"--oem 1 --psm {self.psm} -c load_system_dawg=0 -c load_freq_dawg=0"

    def read(self, source: ImageSource) -> Reading:
        """Read one image (path, bytes or PIL image); raises an `ImageReadError` subclass for bad input."""
        frames = load_frames(source, self.max_frames)
        readings = [self._read_frame(frame) for frame in frames]
        return _merge_frames(readings) if len(readings) > 1 else readings[0]

    def read_many(self, sources: Sequence[ImageSource], *, parallel: bool = True) -> list[Reading]:
        """Read a batch in order; in parallel worker processes unless `parallel` is False or it is tiny.

        The first bad input's `ImageReadError` is raised; see `read_each` to get every input's outcome.
        """
        return [_raise_if_error(outcome) for outcome in self.read_each(sources, parallel=parallel)]

    def read_each(self, sources: Sequence[ImageSource], *, parallel: bool = True) -> list[Reading | ImageReadError]:
        """Like `read_many`, but a bad input's `ImageReadError` takes its place in the list instead of
        stopping the batch (the CLI reports each file). Engine failures are still raised."""
        return self._each(self._read_or_error, [(source,) for source in sources], parallel)

    def _each(self, call: Callable[..., T], arguments: Sequence[tuple], parallel: bool) -> list[T]:
        """`call(*a)` for every `a` of `arguments`, in order: in the worker processes, unless `parallel`
        is False, there is one worker, or the batch is too small to pay for the hand-over."""
        if not parallel or self.workers == 1 or len(arguments) < 2:
            return [call(*argument) for argument in arguments]
        futures = [_pool(self.workers).submit(call, *argument) for argument in arguments]
        return [future.result() for future in futures]

    def _read_or_error(self, source: ImageSource) -> Reading | ImageReadError:
        try:
            return self.read(source)
        except ImageReadError as exc:
            return exc

    def read_stacked(self, sources: Sequence[ImageSource], *, parallel: bool = False) -> list[Reading]:
        """Read still images with one tesseract call per stack: prepared images one above the other,
        lines split back to their images by position.

        Starting tesseract and loading its model costs about as much as reading a small image, so one
        call for a whole candidate batch can beat separate calls (`glyphbot bench ocr` measures it).
        With `parallel`, the batch is cut into one stack per worker process. Animations contribute
        their first frame only.
        """
        if not parallel or self.workers == 1 or len(sources) < 2:
            return self._read_one_stack(sources)
        parts = min(self.workers, len(sources))
        chunks = [list(sources[i::parts]) for i in range(parts)]  # interleaved: equal sizes, order restored below
        results = list(_pool(self.workers).map(self._read_one_stack, chunks))
        return [results[i % parts][i // parts] for i in range(len(sources))]

    def _read_one_stack(self, sources: Sequence[ImageSource]) -> list[Reading]:
        frames = [load_frames(source, max_frames=1)[0] for source in sources]
        return [self._filter(lines, frame.size) for lines, frame in zip(self._stack_lines(frames), frames)]

    def read_in_quads(self, items: Sequence[tuple[ImageSource, Sequence[Quad]]], *, parallel: bool = True) -> list[Reading]:
        """Read each picture block by block: `items` pairs a picture with the quads where its layout
        put each text block, in reading order (`ocr.quads`). One tesseract call per picture reads all
        its blocks, stacked; the reading's lines come in block order, with boxes in the picture's pixels.

        Lines under `min_block_confidence` are ignored; the corner rule is not applied, because the
        layout, not a guess, says that a block holds text. In parallel worker processes unless
        `parallel` is False or the batch is tiny; the first bad input's `ImageReadError` is raised."""
        return self._each(self._read_quads, list(items), parallel)

    def _read_quads(self, source: ImageSource, quads: Sequence[Quad]) -> Reading:
        frame = load_frames(source, max_frames=1)[0]
        gray = frame.convert("L")
        cuts = [cut for cut in (crop_quad(gray, quad) for quad in quads) if cut is not None]
        kept, ignored = [], []
        for lines, (_, (left, top)) in zip(self._stack_lines([crop for crop, _ in cuts]), cuts):
            for line in lines:
                placed = OcrLine(line.text, line.confidence, Box(line.box.left + left, line.box.top + top, line.box.width, line.box.height))
                (kept if line.confidence >= self.min_block_confidence else ignored).append(placed)
        return Reading(tuple(kept), tuple(ignored), frame.width, frame.height)

    def _stack_lines(self, frames: Sequence[Image.Image]) -> list[list[OcrLine]]:
        """Every frame's lines (boxes in its own pixels), read with as few tesseract calls as the
        stack height allows: prepared frames one above the other, lines split back by position."""
        prepared = [prepare(frame, self.target_letter_px) for frame in frames]
        slots = [i for i, p in enumerate(prepared) if p is not None]
        lines_by_slot: dict[int, list[OcrLine]] = {}
        for group in _fit_stacks(slots, [prepared[i].image.height for i in slots]):
            canvas, offsets = _stack([prepared[i].image for i in group])
            for line in _group_lines(self._tesseract(canvas)):
                centre = line.box.top + line.box.height / 2
                k = max(j for j, offset in enumerate(offsets) if offset <= centre)
                slot = group[k]
                placed = Box(line.box.left, line.box.top - offsets[k], line.box.width, line.box.height)
                lines_by_slot.setdefault(slot, []).append(OcrLine(line.text, line.confidence, _to_original(placed, prepared[slot])))
        return [lines_by_slot.get(i, []) for i in range(len(frames))]

    def _read_frame(self, frame: Image.Image) -> Reading:
        reading = self._read_prepared(frame, frame)
        for dark_letters in (True, False):
            if reading.lines or not self.level_empty_frames:
                break
            reading = self._read_prepared(level_ground(frame, dark_letters), frame, MIN_LEVELLED_LETTER_PX)
        return reading

    def _read_prepared(self, image: Image.Image, frame: Image.Image, min_letter_px: float = 0) -> Reading:
        """Read `image`, a copy of `frame` or one made from it, with boxes in `frame`'s pixels."""
        prepared = prepare(image, self.target_letter_px, min_letter_px)
        if prepared is None:
            return Reading((), (), frame.width, frame.height)
        lines = [OcrLine(line.text, line.confidence, _to_original(line.box, prepared)) for line in _group_lines(self._tesseract(prepared.image))]
        return self._filter(lines, frame.size)

    def _filter(self, lines: list[OcrLine], size: tuple[int, int]) -> Reading:
        """Split lines into kept and ignored (low confidence, or tucked into a corner)."""
        kept, ignored = [], []
        for line in lines:
            low = line.confidence < self.min_line_confidence
            (ignored if low or _in_corner(line.box, size, self.corner_margin) else kept).append(line)
        return Reading(tuple(kept), tuple(ignored), size[0], size[1])

    def _tesseract(self, image: Image.Image) -> dict[str, list]:
        try:
            return pytesseract.image_to_data(
                image, config=self.tesseract_config, output_type=pytesseract.Output.DICT, timeout=self.timeout_s
            )
        except pytesseract.TesseractNotFoundError:
            raise OcrEngineError("tesseract is not installed or not on PATH (Debian: apt-get install tesseract-ocr)") from None
        except pytesseract.TesseractError as exc:
            raise OcrEngineError(f"tesseract failed: {exc}") from None
        except RuntimeError as exc:  # pytesseract reports its timeout as a bare RuntimeError
            raise OcrEngineError(f"tesseract: {exc} after {self.timeout_s} s") from None


@dataclass(frozen=True)
class Prepared:
    """The image handed to tesseract and how to map its coordinates back to the original."""

    image: Image.Image
    scale: float
    border: int


def otsu_threshold(gray: np.ndarray) -> int:
    """The grey level that best separates two classes of pixels (Otsu's between-class variance)."""
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    weight = np.cumsum(hist)
    mean = np.cumsum(hist * np.arange(256))
    total_weight, total_mean = weight[-1], mean[-1]
    background = total_weight - weight
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mean * weight - mean * total_weight) ** 2 / (weight * background)
    between[~np.isfinite(between)] = 0
    return int(np.argmax(between))


def text_height(ink: np.ndarray) -> float | None:
    """Typical letter height in pixels: the 90th percentile of the vertical ink runs in every column.

    Vertical strokes (the stem of an H, l or d) run the full height of a letter, so the upper end of
    the run lengths tracks capital/ascender height. Unlike a row profile, it is not fooled when the
    descenders of one line touch the next line. Runs under 3 px (noise specks) are ignored; None means
    there is no text-like ink.
    """
    columns = np.pad(ink.T, ((0, 0), (1, 1))).astype(np.int8)
    edges = np.diff(columns, axis=1)
    starts, ends = np.nonzero(edges == 1)[1], np.nonzero(edges == -1)[1]
    runs = ends - starts
    runs = runs[runs >= 3]
    return float(np.percentile(runs, 90)) if runs.size else None


GROUND_WINDOW_PX = 11  # wider than a letter's stroke at the sizes read here, narrower than a patch of ground
LETTER_CONTRAST_FLOOR = 24  # grey levels: a grain or texture's specks stay under it, letters a reader sees do not
LEVELLED_GAIN = 2  # faint letters (a photo's own colours) come out dark enough for Otsu and tesseract
MIN_LEVELLED_LETTER_PX = 10  # a levelled frame is read only for letters this tall: a texture's specks, scaled up, cost seconds


def level_ground(frame: Image.Image, dark_letters: bool) -> Image.Image:
    """`frame` in grey with its ground levelled to white, the letters dark: a morphological top-hat.

    A closing (maximum, then minimum, over `GROUND_WINDOW_PX`) fills in strokes darker than their
    surroundings and keeps any wider patch of ground, so subtracting the frame from it leaves only the
    dark letters, whatever tones the ground has. Light letters are dark ones in the inverted frame."""
    gray = frame.convert("L") if dark_letters else ImageOps.invert(frame.convert("L"))
    ground = gray.filter(ImageFilter.MaxFilter(GROUND_WINDOW_PX)).filter(ImageFilter.MinFilter(GROUND_WINDOW_PX))
    letters = np.asarray(ground, np.int16) - np.asarray(gray, np.int16)
    return Image.fromarray((255 - np.clip((letters - LETTER_CONTRAST_FLOOR) * LEVELLED_GAIN, 0, 255)).astype(np.uint8), "L")


def prepare(frame: Image.Image, target_letter_px: int = 24, min_letter_px: float = 0) -> Prepared | None:
    """Grey, dark-on-light, scaled and bordered copy of `frame`; None when it holds no ink at all, or
    only ink whose letter height is under `min_letter_px`."""
    gray = np.asarray(frame.convert("L"))
    if int(gray.max()) - int(gray.min()) < 16:
        return None  # a flat image: nothing to read, and tesseract would only hallucinate from noise
    threshold = otsu_threshold(gray)
    ink = gray <= threshold
    if ink.mean() > 0.5:  # the text is the minority class; light text on a dark ground gets inverted
        gray, ink = 255 - gray, ~ink
    height = text_height(ink)
    if height is None or height < min_letter_px:
        return None
    scale = float(np.clip(target_letter_px / height, 0.5, 8.0))
    image = Image.fromarray(gray)
    if abs(scale - 1) > 0.05:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BICUBIC)
    background = int(np.median(gray[~ink])) if (~ink).any() else 255
    border = max(20, target_letter_px)
    return Prepared(ImageOps.expand(image, border=border, fill=background), scale, border)


def _raise_if_error(outcome: Reading | ImageReadError) -> Reading:
    if isinstance(outcome, ImageReadError):
        raise outcome
    return outcome


def _group_lines(words: dict[str, list]) -> list[OcrLine]:
    """tesseract's word rows grouped into lines, boxes still in the coordinates of the image it read."""
    grouped: dict[tuple[int, int, int], list[int]] = {}
    for i, text in enumerate(words["text"]):
        if words["level"][i] == 5 and str(text).strip() and float(words["conf"][i]) >= 0:
            grouped.setdefault((words["block_num"][i], words["par_num"][i], words["line_num"][i]), []).append(i)
    lines = []
    for indices in grouped.values():
        left = min(words["left"][i] for i in indices)
        top = min(words["top"][i] for i in indices)
        right = max(words["left"][i] + words["width"][i] for i in indices)
        bottom = max(words["top"][i] + words["height"][i] for i in indices)
        text = " ".join(str(words["text"][i]).strip() for i in indices)
        confidence = float(np.mean([float(words["conf"][i]) for i in indices]))
        lines.append(OcrLine(text, round(confidence, 2), Box(left, top, right - left, bottom - top)))
    return lines


def _to_original(box: Box, prepared: Prepared) -> Box:
    """A box in the prepared (scaled, bordered) image mapped back to the original image's pixels."""
    def back(v: int) -> int:
        return max(0, round((v - prepared.border) / prepared.scale))

    left, top = back(box.left), back(box.top)
    return Box(left, top, back(box.right) - left, back(box.bottom) - top)


# tesseract refuses images over 32767 px on a side ("Image too large"); stay clear of it.
MAX_STACK_HEIGHT = 32_000


def _fit_stacks(slots: list[int], heights: list[int]) -> list[list[int]]:
    """Consecutive runs of `slots` whose heights add up to at most MAX_STACK_HEIGHT: one stack each."""
    groups: list[list[int]] = []
    height = MAX_STACK_HEIGHT
    for slot, image_height in zip(slots, heights):
        if groups and height + image_height <= MAX_STACK_HEIGHT:
            groups[-1].append(slot)
            height += image_height
        else:
            groups.append([slot])
            height = image_height
    return groups


def _stack(images: list[Image.Image]) -> tuple[Image.Image, list[int]]:
    """Prepared images one above the other on a white canvas; returns it and each image's top offset."""
    width = max(image.width for image in images)
    canvas = Image.new("L", (width, sum(image.height for image in images)), 255)
    offsets, y = [], 0
    for image in images:
        canvas.paste(image, (0, y))
        offsets.append(y)
        y += image.height
    return canvas, offsets


def _in_corner(box: Box, size: tuple[int, int], margin: float) -> bool:
    """Text lying wholly within the top or bottom `margin` strip and reaching into a side strip.

    That is where watermarks and signatures sit. A full line of real text near the top edge is not
    dropped unless it also hugs a side and is thin enough to fit inside the strip.
    """
    if margin <= 0:
        return False
    width, height = size
    in_top_or_bottom_strip = box.bottom <= margin * height or box.top >= (1 - margin) * height
    in_side_strip = box.left <= margin * width or box.right >= (1 - margin) * width
    return in_top_or_bottom_strip and in_side_strip


def _merge_frames(readings: list[Reading]) -> Reading:
    """One reading for an animation: each distinct line once, in order of first appearance.

    Two lines are the same when their trigram similarity is at least 0.6 (OCR of the same caption varies
    a little between frames); the more confident reading of the two is kept.
    """
    merged: list[OcrLine] = []
    for reading in readings:
        for line in reading.lines:
            match = next((i for i, seen in enumerate(merged) if trigram_similarity(seen.text, line.text) >= 0.6), None)
            if match is None:
                merged.append(line)
            elif line.confidence > merged[match].confidence:
                merged[match] = line
    ignored = tuple(line for reading in readings for line in reading.ignored)
    first = readings[0]
    return Reading(tuple(merged), ignored, first.width, first.height, frames=len(readings))


_pools: dict[int, ProcessPoolExecutor] = {}


def _limit_openmp() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"


def _pool(workers: int) -> ProcessPoolExecutor:
    """A process pool per worker count, started once; 'spawn' so a caller holding torch is never forked."""
    if workers not in _pools:
        context = multiprocessing.get_context("spawn")
        _pools[workers] = ProcessPoolExecutor(workers, mp_context=context, initializer=_limit_openmp)
    return _pools[workers]


def warm_up(workers: int) -> None:
    """Start the worker processes now, so the first batch does not pay for it (benchmarks, worker start)."""
    pool = _pool(workers)
    for future in [pool.submit(_limit_openmp) for _ in range(workers)]:
        future.result()


@atexit.register
def _shutdown_pools() -> None:
    for pool in _pools.values():
        pool.shutdown(cancel_futures=True)
    _pools.clear()


__all__ = ["Box", "ImageReadError", "OcrEngineError", "OcrLine", "Reader", "Reading", "prepare"]
