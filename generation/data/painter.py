"""Paint a template's layout into a training picture: the scene, the regions, the text.

The layout (generation.layout, generation.templates) says where every block of text and every
region goes; this module decides how they look: a scene behind everything (generation.data.scenes),
surfaces in colours or paper textures (a tweet's card in a light or dark theme, chat bubbles, a
board with a border and a shadow), avatars and pictures from photographs and emoji, text whose
colour contrasts with what it sits on (a caption over a picture gets white letters with a black
outline, as memes do), then the degradations of real screenshots and photos (JPEG, blur, noise).

Only the training data is painted: at inference the model draws its picture from the maps alone.
"""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from generation.colour import LUMA_WEIGHTS
from generation.data.scenes import emoji_picture, photo_crop, random_colour, scene, texture
from generation.layout import SUPERSAMPLE, PageLayout, Region, TextBlock

Colour = tuple[int, int, int]
_QUIET_ROLES = ("handle", "time", "author")
# The sender's own chat bubbles, as messaging apps colour them (a blue, a green, a violet), all dark
# enough for white letters. A random hue per picture left the model no colour to learn: the
# 2026-12-07d weights drew the right-hand bubbles pale, their letters smeared.
OWN_BUBBLE_COLOURS: tuple[Colour, ...] = ((10, 132, 255), (38, 160, 72), (124, 72, 230))


def _lightness(colour: Colour) -> float:
    return sum(weight * value for weight, value in zip(LUMA_WEIGHTS, colour)) / 255


def _contrasting(rng: random.Random, under: Colour, quiet: bool = False) -> Colour:
    """A text colour that reads on `under`: dark on light, light on dark; `quiet` roles get grey-ish."""
    light = _lightness(under) < 0.5
    if quiet:
        return random_colour(rng, rng.uniform(0.72, 0.82) if light else rng.uniform(0.3, 0.42), rng.uniform(0.0, 0.2))
    return random_colour(rng, rng.uniform(0.85, 1.0) if light else rng.uniform(0.0, 0.18), rng.uniform(0.0, 0.6))


def _surface_colour(rng: random.Random, template: str, region: Region, dark_theme: bool) -> Colour:
    if template == "tweet":
        return (21, 32, 43) if dark_theme and rng.random() < 0.5 else (0, 0, 0) if dark_theme else (255, 255, 255)
    if template == "chat":
        mine = (region.box[0] + region.box[2]) / 2 > 0.5
        if mine:
            return tuple(min(255, max(0, value + rng.randint(-12, 12))) for value in rng.choice(OWN_BUBBLE_COLOURS))  # type: ignore[return-value]
        return random_colour(rng, rng.uniform(0.88, 0.95), rng.uniform(0.0, 0.1))
    if template == "meme":
        return (255, 255, 255)
    if template in ("page", "notice"):
        return random_colour(rng, rng.uniform(0.86, 0.98), rng.uniform(0.0, 0.4))
    return random_colour(rng)


def _mask(region: Region, side: int) -> Image.Image:
    mask = Image.new("L", (side, side), 0)
    region.draw_onto(mask, 255)
    return mask


def _pixel_box(region: Region, side: int) -> tuple[int, int, int, int]:
    left, top, right, bottom = (round(value * side) for value in region.box)
    return left, top, max(right, left + 1), max(bottom, top + 1)


def _paint_region(layer: Image.Image, region: Region, fill: Colour, rng: random.Random, template: str) -> None:
    side = layer.width
    left, top, right, bottom = _pixel_box(region, side)
    width, height = right - left, bottom - top
    mask = _mask(region, side)
    if region.kind == "surface":
        if template in ("sign", "notice", "poster") and rng.random() < 0.6:  # a drop shadow under boards and sheets
            shadow = mask.filter(ImageFilter.GaussianBlur(side * 0.01))
            offset = round(side * rng.uniform(0.006, 0.02))
            dark = Image.new("RGBA", layer.size, (0, 0, 0, 0))
            dark.paste((0, 0, 0, 120), (offset, offset), shadow)
            layer.alpha_composite(dark)
        paint = Image.new("RGBA", layer.size, fill + (255,))
        # Paper grain on sheets, not on boards: on boards the model drew its specks beside the letters,
        # and the reader took them for punctuation (2026-12-07f's signs).
        if template in ("page", "poster", "cover") and rng.random() < 0.35:
            grain = texture(rng, width, height).convert("RGBA")
            tinted = Image.blend(Image.new("RGBA", grain.size, fill + (255,)), grain, rng.uniform(0.1, 0.3))
            paint.paste(tinted, (left, top))
        layer.paste(paint, (0, 0), mask)
        if template in ("sign", "notice") and rng.random() < 0.7:  # a border
            border = random_colour(rng, rng.uniform(0.0, 1.0))
            inset = round(side * rng.uniform(0.008, 0.02))
            draw = ImageDraw.Draw(layer)
            shape = [left + inset, top + inset, right - inset, bottom - inset]
            width_px = max(1, round(side * rng.uniform(0.004, 0.01)))
            if region.shape == "rounded":
                draw.rounded_rectangle(shape, radius=max(1, round(region.radius * side)), outline=border + (255,), width=width_px)
            else:
                draw.rectangle(shape, outline=border + (255,), width=width_px)
        return
    if region.kind == "avatar" or rng.random() < 0.3:
        backdrop = Image.new("RGBA", (width, height), random_colour(rng) + (255,))
        if rng.random() < 0.6:
            picture = emoji_picture(rng, round(min(width, height) * rng.uniform(0.6, 0.95)))
            backdrop.alpha_composite(picture, ((width - picture.width) // 2, (height - picture.height) // 2))
        else:
            backdrop = photo_crop(rng, width, height).convert("RGBA")
    else:
        backdrop = photo_crop(rng, width, height).convert("RGBA")
    layer.paste(backdrop, (left, top), mask.crop((left, top, right, bottom)))


def _under(block: TextBlock, regions: tuple[Region, ...], colours: list[Colour | None], picture_mean: Colour) -> tuple[Colour, bool]:
    """The colour a block sits on, and whether it sits on a surface (not on a picture or the scene)."""
    left, top, right, bottom = block.layout.text_boxes()[0]
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    for region, colour in reversed(list(zip(regions, colours))):
        r_left, r_top, r_right, r_bottom = region.box
        if r_left <= centre_x <= r_right and r_top <= centre_y <= r_bottom:
            return (colour, True) if region.kind == "surface" and colour is not None else (picture_mean, False)
    return picture_mean, False


def _draw_block(layer: Image.Image, block: TextBlock, fill: Colour, outline: Colour | None, shadow: bool, rng: random.Random) -> None:
    side = layer.width
    font_px = max(1, round(block.layout.font_scale * side))
    if shadow:
        offset = max(1, round(font_px * 0.06))
        ghost = Image.new("RGBA", layer.size, (0, 0, 0, 0))
        block.layout.draw_onto(ghost, (0, 0, 0, 150))
        layer.alpha_composite(ghost.filter(ImageFilter.GaussianBlur(offset * 0.6)), (offset, offset))
    if outline is not None:
        stroke = max(1, round(font_px * rng.uniform(0.05, 0.09)))
        block.layout.draw_onto(layer, fill + (255,), stroke_width=stroke, stroke_fill=outline + (255,))
    else:
        block.layout.draw_onto(layer, fill + (255,))


def paint_page(layout: PageLayout, size: int, rng: random.Random) -> Image.Image:
    """The training picture of `layout` at `size` px: drawn at SUPERSAMPLE times and downsampled."""
    side = size * SUPERSAMPLE
    picture = scene(rng, side, side).convert("RGBA")
    layer = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    dark_theme = rng.random() < 0.4
    colours: list[Colour | None] = []
    for region in layout.regions:
        fill = _surface_colour(rng, layout.template, region, dark_theme) if region.kind == "surface" else None
        _paint_region(layer, region, fill or (0, 0, 0), rng, layout.template)
        colours.append(fill)
    backdrop_mean = tuple(int(value) for value in np.asarray(picture.convert("RGB")).reshape(-1, 3).mean(0))
    for block in layout.blocks:
        under, on_surface = _under(block, layout.regions, colours, backdrop_mean)
        quiet = block.role in _QUIET_ROLES
        if on_surface:
            fill = _contrasting(rng, under, quiet)
            _draw_block(layer, block, fill, None, layout.template == "sign" and rng.random() < 0.2, rng)
        else:  # over a picture or the scene: outlined letters, white on black most often
            fill, outline = ((255, 255, 255), (0, 0, 0)) if rng.random() < 0.75 else (random_colour(rng, 0.85), random_colour(rng, 0.1))
            _draw_block(layer, block, fill, outline, False, rng)
    if layout.rotation:
        layer = layer.rotate(layout.rotation, resample=Image.Resampling.BICUBIC)
    picture.alpha_composite(layer)
    return degrade(picture.convert("RGB").resize((size, size), Image.Resampling.LANCZOS), rng)


def degrade(image: Image.Image, rng: random.Random) -> Image.Image:
    """What screenshots and photos go through: JPEG compression, a little blur, sensor noise."""
    if rng.random() < 0.25:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=rng.randint(45, 92))
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    if rng.random() < 0.1:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.6)))
    if rng.random() < 0.15:
        array = np.asarray(image, np.float32) + np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(2, 7), (image.height, image.width, 1))
        image = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))
    return image
