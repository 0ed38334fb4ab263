"""Pure parts of styles, text into a photo and tweens: placement, option checks, autocomplete's cache,
GIF packing and the command tree Discord is sent."""

from __future__ import annotations

import asyncio
import io
import threading
from dataclasses import dataclass

import discord
import pytest
from PIL import Image

from bot.discord.attachments import Picture, file_extension, pack_images, read_picture
from bot.discord.client import GlyphTree
from bot.discord.imagine import imagine_command
from bot.discord.options import OptionErrors, parse_imagine
from bot.discord.photo import Placement, parse_placement
from bot.discord.settings import DiscordSettings
from bot.discord.styles import MAX_CHOICES, StyleNames
from bot.discord.sync import command_payload
from bot.discord.tween import parse_tween, tween_command
from generation.types import box_for_place
from tests.bot.discord.flows import picture
from tests.bot.discord.test_units import Clock, noisy_png

SETTINGS = DiscordSettings()


def a_gif(frames: int = 3) -> bytes:
    images = [Image.new("RGB", (16, 16), (40 * n, 0, 0)) for n in range(frames)]
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:])
    return out.getvalue()


# --- placement -------------------------------------------------------------------------------


def test_a_box_is_scaled_from_the_picture_as_sent_to_the_stored_one():
    shrunk = Picture(b"", 1024, 512, 2048, 1024)
    assert Placement(box=(200, 100, 1000, 400)).resolve(shrunk) == (100, 50, 500, 200)
    assert Placement(box=(2047, 1023, 1, 1)).resolve(shrunk) == (1023, 511, 1, 1)  # never outside, never empty
    same = Picture(b"", 300, 90, 300, 90)
    assert Placement(box=(1, 2, 3, 4)).resolve(same) == (1, 2, 3, 4)


def test_a_box_past_an_edge_names_that_edge_and_the_pictures_size():
    with pytest.raises(ValueError, match=r"past the picture's bottom edge; the picture is 300×90 pixels"):
        Placement(box=(0, 50, 10, 41)).resolve(Picture(b"", 300, 90, 300, 90))


def test_where_is_laid_on_the_stored_picture():
    assert Placement(place="top").resolve(Picture(b"", 1024, 512, 2048, 1024)) == box_for_place(1024, 512, "top")


def test_the_stored_pictures_size_and_the_sent_size_are_both_kept():
    read = read_picture(picture(2048, 100, "JPEG"), max_bytes=10**7)
    assert (read.width, read.height, read.source_width, read.source_height) == (1024, 50, 2048, 100)


@pytest.mark.parametrize(
    ("box", "where", "has_image", "problem"),
    [
        ("1,2,3,4", None, False, "box: says where in your picture"),
        (None, "center", False, "where: says where in your picture"),
        ("a,b,c,d", None, True, "box: a box is four whole numbers"),
        ("1,2,3,4", "top", True, "box: give either box or where, not both."),
        (None, "left", True, "where: 'left' is not one of top, center, bottom."),
    ],
)
def test_placement_problems_are_named(box, where, has_image, problem):
    placement, problems = parse_placement(box, where, has_image=has_image)
    assert placement is None and any(p.startswith(problem) for p in problems), problems


def test_no_box_and_no_where_is_no_placement_and_a_blank_box_is_none():
    assert parse_placement(None, None, has_image=True) == (None, [])
    assert parse_placement("  ", None, has_image=False) == (None, [])


# --- options ---------------------------------------------------------------------------------


def test_style_names_are_lowercased_and_strengths_checked():
    options = parse_imagine(SETTINGS, prompt="A", style=" Neon ", style_strength=1.0)
    assert (options.style, options.style_strength) == ("neon", 1.0)
    assert options.requests(4)[0].style == "neon"
    with pytest.raises(OptionErrors) as caught:
        parse_imagine(SETTINGS, prompt="A", style="neon", style_strength=1.5)
    assert caught.value.problems == ["style_strength: 1.5 is not allowed; use a value above 0 and at most 1."]


def test_the_box_reaches_the_request_only_once_the_picture_is_read():
    options = parse_imagine(SETTINGS, prompt="A", has_image=True, where="bottom")
    assert options.requests(1)[0].box is None
    read = options.with_pictures(Picture(b"png", 300, 90, 300, 90), Picture(b"ref", 8, 8, 8, 8))
    [request] = read.requests(1)
    assert (request.box, request.init_image_png, request.style_image_png) == (box_for_place(300, 90, "bottom"), b"png", b"ref")


def test_tween_options_make_one_tween_request():
    options = parse_tween(SETTINGS, start=r"OPEN\nNOW", end="CLOSED", frames=5, seed=3)
    [request] = options.requests(candidates=4)
    assert (request.kind, request.prompt, request.end_prompt, request.frames, request.seed, request.candidates) == (
        "tween", "OPEN\nNOW", "CLOSED", 5, 3, 1)
    assert options.title == "OPEN\nNOW\n→ CLOSED"
    assert parse_tween(SETTINGS, start="A", end="B").frames == SETTINGS.tween_frames_default


def test_tween_ends_that_differ_only_in_spaces_around_line_breaks_are_the_same_text():
    with pytest.raises(OptionErrors, match="end: is the same text as start"):
        parse_tween(SETTINGS, start=r"A \n B", end=r"A\nB")


# --- autocomplete ----------------------------------------------------------------------------


@dataclass
class Record:
    name: str
    deleted: bool = False
    method: str = "vectors"


class Store:
    def __init__(self, names: list[str]) -> None:
        self.records = [Record(name) for name in names]
        self.reads = 0
        self.gate: threading.Event | None = None
        self.error: Exception | None = None

    def list(self) -> list[Record]:
        self.reads += 1
        if self.gate is not None:
            self.gate.wait(5)
        if self.error is not None:
            raise self.error
        return self.records


async def names_matching(names: StyleNames, typed: str) -> list[str]:
    return [choice.name for choice in await names.matching(typed)]


async def test_names_are_read_once_per_ttl_and_filtered_prefix_first():
    clock = Clock()
    store = Store(["sunset-neon", "neon", "chalk"])
    names = StyleNames(store, ttl_s=10, clock=clock)
    assert await names_matching(names, "NEO") == ["neon", "sunset-neon"]
    assert await names_matching(names, "") == ["chalk", "neon", "sunset-neon"]
    assert store.reads == 1
    clock.now += 11
    await names_matching(names, "c")
    assert store.reads == 2


async def test_at_most_25_names_are_offered():
    names = StyleNames(Store([f"s{n:02d}" for n in range(40)]))
    assert len(await names.matching("s")) == MAX_CHOICES == 25


async def test_a_slow_read_answers_with_the_cache_and_fills_it_in_the_background():
    store = Store(["neon"])
    store.gate = threading.Event()
    names = StyleNames(store, timeout_s=0.05)
    assert await names_matching(names, "") == []
    assert await names_matching(names, "") == []
    assert store.reads == 1  # one read in flight, however fast the user types
    store.gate.set()
    for _ in range(100):
        if await names_matching(names, "") == ["neon"]:
            break
        await asyncio.sleep(0.02)
    assert await names_matching(names, "") == ["neon"]


async def test_a_failing_read_answers_nothing_and_is_tried_again():
    store = Store(["neon"])
    store.error = RuntimeError("database is locked")
    names = StyleNames(store)
    assert await names_matching(names, "n") == []
    store.error = None
    assert await names_matching(names, "n") == ["neon"]


async def test_each_choice_says_how_its_style_was_learned_and_keeps_the_bare_name():
    store = Store(["neon", "chalk"])
    store.records[0].method = "lora"
    choices = await StyleNames(store).matching("")
    assert [(choice.name, choice.label) for choice in choices] == [("chalk", "chalk (vectors)"), ("neon", "neon (LoRA)")]


async def test_without_a_style_store_there_is_nothing_to_offer():
    assert await names_matching(StyleNames(None), "x") == []


# --- GIFs ------------------------------------------------------------------------------------


def test_a_gif_keeps_its_format_and_name_even_when_the_pngs_beside_it_become_webp():
    gif = a_gif()
    assert file_extension(gif) == "gif" and file_extension(noisy_png(4)) == "png"
    assert [u.filename for u in pack_images([gif], stem="glyph-7", limit_bytes=10**7)] == ["glyph-7.gif"]
    pngs = [noisy_png(160) for _ in range(2)]
    uploads = pack_images([*pngs, gif], stem="c", limit_bytes=64 * 1024 + sum(map(len, pngs)) // 2 + len(gif))
    assert [u.filename for u in uploads] == ["c-1.webp", "c-2.webp", "c-3.gif"] and uploads[2].data == gif


# --- the command tree ------------------------------------------------------------------------


def test_the_new_options_are_described_and_within_discords_limits():
    tree = GlyphTree(discord.Client(intents=discord.Intents.none()))
    for command in (imagine_command, tween_command):
        tree.add_command(command)
    payload = {command["name"]: command for command in command_payload(tree)}
    imagine = {option["name"]: option for option in payload["imagine"]["options"]}
    assert imagine["style"]["autocomplete"] is True
    assert [c["value"] for c in imagine["where"]["choices"]] == ["top", "center", "bottom"]
    assert imagine["style_image"]["type"] == discord.AppCommandOptionType.attachment.value
    tween = {option["name"]: option for option in payload["tween"]["options"]}
    assert [name for name, option in tween.items() if option.get("required")] == ["start", "end"]
    for command in payload.values():
        assert len(command["options"]) <= 25
        for option in command["options"]:
            assert 1 <= len(option["description"]) <= 100, option
