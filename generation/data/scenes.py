"""Backgrounds and pictures for the synthetic data: more than a flat colour.

Sources, all shipped inside packages this project installs (setup.sh), none fetched at run time:
- photographs bundled with scikit-image (`skimage/data`: astronaut, coffee, chelsea, rocket, brick,
  grass, gravel and others, CC0 or public domain), minus those that show text;
- the wallpapers of Debian's `gnome-backgrounds` (the raster ones);
- colour emoji of Debian's `fonts-noto-color-emoji`, as avatars, icons and meme pictures;
- procedural textures: smooth noise, paper grain, stripes, gradients.

Random crops, flips and colour jitter stretch the few photographs. Decoded pictures are kept small
(at most `MAX_SIDE` px) and cached per process, so a training run decodes each file once.
"""

from __future__ import annotations

import colorsys
import random
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

MAX_SIDE = 512
# scikit-image's sample pictures that show no letters and are more than a diagram.
SKIMAGE_PICTURES = (
    "astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "grass.png", "gravel.png",
    "moon.png", "motorcycle_left.png", "motorcycle_right.png", "rocket.jpg", "retina.jpg", "hubble_deep_field.jpg", "ihc.png",
)
WALLPAPER_DIRS = ("/usr/share/backgrounds/gnome",)
EMOJI_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
EMOJI_PX = 109  # the one size the font's bitmaps come in


class SceneSourceError(RuntimeError):
    """The pictures the data engine draws from are missing; the message says what to install."""


def _skimage_dir() -> Path | None:
    try:
        import skimage
    except ImportError:
        return None
    return Path(skimage.__file__).parent / "data"


@lru_cache(maxsize=1)
def photo_paths() -> tuple[str, ...]:
    """Every photograph and wallpaper the engine can crop from, sorted for reproducible runs."""
    paths = []
    folder = _skimage_dir()
    if folder is not None:
        paths += [str(folder / name) for name in SKIMAGE_PICTURES if (folder / name).is_file()]
    for wallpapers in WALLPAPER_DIRS:
        if Path(wallpapers).is_dir():
            paths += sorted(str(path) for path in Path(wallpapers).iterdir() if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    if len(paths) < 5:
        raise SceneSourceError(
            f"found {len(paths)} scene photographs; install scikit-image (pip) and Debian's gnome-backgrounds (setup.sh does)"
        )
    return tuple(sorted(paths))


@lru_cache(maxsize=64)
def _photo(path: str) -> Image.Image:
    with Image.open(path) as image:
        image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEGs decode at a reduced scale
        image = image.convert("RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR)
    return image


@lru_cache(maxsize=1)
def emoji_code_points() -> tuple[int, ...]:
    """The pictographs of the colour emoji font (single code points from U+1F300 up)."""
    if not Path(EMOJI_FONT).is_file():
        raise SceneSourceError(f"{EMOJI_FONT} is missing; install Debian's fonts-noto-color-emoji (setup.sh does)")
    from fontTools.ttLib import TTFont

    with TTFont(EMOJI_FONT, lazy=True) as font:
        return tuple(sorted(point for point in font.getBestCmap() if 0x1F300 <= point <= 0x1FAFF))


@lru_cache(maxsize=1)
def _emoji_font() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(EMOJI_FONT, EMOJI_PX)


@lru_cache(maxsize=512)
def _emoji(point: int) -> Image.Image:
    font = _emoji_font()
    canvas = Image.new("RGBA", (EMOJI_PX + 40, EMOJI_PX + 40), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((10, 10), chr(point), font=font, embedded_color=True)
    box = canvas.getbbox()
    return canvas.crop(box) if box else canvas


def source_count() -> int:
    """How many distinct pictures the engine draws from (photographs, wallpapers, emoji)."""
    return len(photo_paths()) + len(emoji_code_points())


def random_colour(rng: random.Random, lightness: float | None = None, saturation: float | None = None) -> tuple[int, int, int]:
    lightness = rng.random() if lightness is None else lightness
    saturation = rng.uniform(0.0, 0.9) if saturation is None else saturation
    red, green, blue = colorsys.hls_to_rgb(rng.random(), lightness, saturation)
    return (round(red * 255), round(green * 255), round(blue * 255))


def photo_crop(rng: random.Random, width: int, height: int) -> Image.Image:
    """A random crop of a random photograph, flipped and colour-jittered, at width x height."""
    image = _photo(rng.choice(photo_paths()))
    aspect = width / height
    scale = rng.uniform(0.35, 1.0)
    crop_w = min(image.width, round(min(image.width, image.height * aspect) * scale))
    crop_h = min(image.height, max(1, round(crop_w / aspect)))
    left = rng.randint(0, image.width - crop_w)
    top = rng.randint(0, image.height - crop_h)
    crop = image.crop((left, top, left + crop_w, top + crop_h)).resize((width, height), Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        crop = ImageOps.mirror(crop)
    return jitter(crop, rng)


def jitter(image: Image.Image, rng: random.Random) -> Image.Image:
    """Brightness, contrast and colour-balance jitter, and now and then a swap of colour channels."""
    array = np.asarray(image, dtype=np.float32)
    gain = np.array([rng.uniform(0.8, 1.2) for _ in range(3)], dtype=np.float32) * rng.uniform(0.75, 1.25)
    mean = array.mean()
    array = (array - mean) * rng.uniform(0.7, 1.2) + mean
    array = array * gain
    if rng.random() < 0.2:
        array = array[..., list(rng.sample(range(3), 3))]
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def texture(rng: random.Random, width: int, height: int) -> Image.Image:
    """A procedural texture: smooth noise, paper grain, stripes or a gradient, in random colours."""
    kind = rng.choice(("noise", "grain", "stripes", "gradient"))
    first, second = random_colour(rng), random_colour(rng)
    if kind == "gradient":
        if rng.random() < 0.5:
            mix = np.linspace(0, 1, height, dtype=np.float32)[:, None, None] * np.ones((1, width, 1), np.float32)
        else:
            mix = np.linspace(0, 1, width, dtype=np.float32)[None, :, None] * np.ones((height, 1, 1), np.float32)
    elif kind == "stripes":
        period = rng.uniform(0.04, 0.2) * width
        angle = rng.uniform(0, np.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        mix = ((np.cos(angle) * xs + np.sin(angle) * ys) // period % 2)[..., None]
    else:
        cells = rng.choice((4, 8, 16, 32)) if kind == "noise" else max(width // 2, 1)
        noise = np.asarray(Image.fromarray(np.uint8(np.random.default_rng(rng.getrandbits(32)).integers(0, 256, (cells, cells)))).resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32) / 255.0
        mix = noise[..., None] if kind == "noise" else 0.5 + (noise[..., None] - 0.5) * rng.uniform(0.1, 0.3)
    array = np.array(first, np.float32) * (1 - mix) + np.array(second, np.float32) * mix
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def emoji_picture(rng: random.Random, side: int) -> Image.Image:
    """A colour emoji (RGBA) scaled to fit a `side` px square."""
    picture = _emoji(rng.choice(emoji_code_points()))
    scale = side / max(picture.size)
    return picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))), Image.Resampling.LANCZOS)


def scene(rng: random.Random, width: int, height: int) -> Image.Image:
    """A background: a photograph (half the time), a texture, or a few emoji on a colour."""
    draw = rng.random()
    if draw < 0.55:
        image = photo_crop(rng, width, height)
    elif draw < 0.9:
        image = texture(rng, width, height)
    else:
        image = Image.new("RGB", (width, height), random_colour(rng))
        for _ in range(rng.randint(2, 6)):
            picture = emoji_picture(rng, round(min(width, height) * rng.uniform(0.15, 0.4)))
            image.paste(picture, (rng.randint(-picture.width // 3, width - picture.width // 2), rng.randint(-picture.height // 3, height - picture.height // 2)), picture)
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 3.0) * width / 256))
    return image
