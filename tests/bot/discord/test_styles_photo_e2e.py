"""/imagine's style option (autocomplete from the style store), a reference picture, and text written
into a box of the user's own photo: through the loopback Discord, the real queue and worker."""

from __future__ import annotations

from generation.request_parsers import format_box
from generation.types import box_for_place
from tests.bot.discord.flows import add_style, custom_ids, followups, picture, result_of


def choices(interaction) -> list[str]:
    [answer] = interaction.callbacks
    assert answer["type"] == 8  # APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
    return [choice["value"] for choice in answer["data"]["choices"]]


async def test_style_autocomplete_offers_matching_styles_prefix_first_and_never_deleted_ones(fake, storage, start_bot):
    await start_bot()
    for name in ("neon", "chalk", "sunset-neon", "neon-red", "gone-neon"):
        add_style(storage.styles, name, method="lora" if name == "neon-red" else "vectors")
    storage.styles.delete("gone-neon", moderator="test")
    alice = fake.add_user("alice")
    typed = await fake.autocomplete(alice, "imagine", {"prompt": "HI", "style": "NE"}, focused="style")
    await fake.wait_until(lambda: typed.callbacks)
    assert choices(typed) == ["neon", "neon-red", "sunset-neon"]  # the value sent back is the bare name
    labels = [choice["name"] for choice in typed.callbacks[0]["data"]["choices"]]
    assert labels == ["neon (vectors)", "neon-red (LoRA)", "sunset-neon (vectors)"]


async def test_style_autocomplete_offers_at_most_25_choices(fake, storage, start_bot):
    for number in range(30):
        add_style(storage.styles, f"style-{number:02d}")
    await start_bot()
    alice = fake.add_user("alice")
    empty = await fake.autocomplete(alice, "imagine", {"prompt": "HI", "style": ""}, focused="style")
    await fake.wait_until(lambda: empty.callbacks)
    assert choices(empty) == [f"style-{number:02d}" for number in range(25)]


async def test_style_autocomplete_answers_empty_and_in_time_while_the_database_is_down(fake, storage, start_bot):
    add_style(storage.styles, "neon")
    await start_bot()
    alice = fake.add_user("alice")
    async with storage.outage():
        typed = await fake.autocomplete(alice, "imagine", {"prompt": "HI", "style": "ne"}, focused="style")
        await fake.wait_until(lambda: typed.callbacks)
        assert choices(typed) == []
        assert typed.first_callback_at - typed.created_at < 3.0
    again = await fake.autocomplete(alice, "imagine", {"prompt": "HI", "style": "ne"}, focused="style")
    await fake.wait_until(lambda: again.callbacks)
    assert choices(again) == ["neon"]  # the read that failed was not cached


async def test_a_known_style_goes_into_the_job_and_the_result_says_so(fake, storage, start_bot):
    await start_bot()
    add_style(storage.styles, "neon")
    alice = fake.add_user("alice")
    storage.start_worker()
    interaction = await fake.slash(alice, "imagine", {"prompt": "GLOW", "style": "Neon", "style_strength": 0.8})
    message = await fake.wait_until(lambda: result_of(fake, interaction))
    job = storage.queue.list().jobs[0]
    assert (job.style, job.style_strength) == ("neon", 0.8)
    assert "style neon at 0.8" in message["content"]


async def test_an_unknown_or_deleted_style_is_refused_privately_and_nothing_is_queued(fake, storage, start_bot):
    await start_bot()
    add_style(storage.styles, "retired")
    storage.styles.delete("retired", moderator="mod-alice")
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    unknown = await fake.slash(alice, "imagine", {"prompt": "HI", "style": "nosuch"})
    deleted = await fake.slash(bob, "imagine", {"prompt": "HI", "style": "retired"})
    for interaction, expected in ((unknown, "There is no style 'nosuch'; the `style` option lists the styles there are as you type"), (deleted, "Style 'retired' was deleted by mod-alice")):
        [answer] = await fake.wait_until(lambda: followups(fake, interaction) or None)
        assert expected in answer.json["content"] and answer.json["flags"] & 64
    assert storage.queue.list().jobs == []


async def test_where_writes_into_a_band_of_the_attached_picture(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    interaction = await fake.slash(alice, "imagine", {"prompt": "SALE", "where": "bottom"}, attachments={"image": ("shop.png", "image/png", picture(300, 90))})
    await fake.wait_until(lambda: storage.queue.list().jobs)
    job = storage.queue.list().jobs[0]
    assert job.box == format_box(box_for_place(300, 90, "bottom")) and job.init_image_hash is not None
    assert interaction.callbacks[0]["type"] == 5
    storage.start_worker()
    message = await fake.wait_until(lambda: result_of(fake, interaction))
    assert f"text into box {job.box} of your image" in message["content"]
    assert custom_ids(message)[1] == f"glyph:vary:{job.id}"


async def test_a_box_is_taken_in_the_pixels_of_the_picture_as_sent(fake, storage, start_bot):
    """The stored picture is shrunk to 1024 px; the user's box follows it."""
    await start_bot()
    alice = fake.add_user("alice")
    await fake.slash(alice, "imagine", {"prompt": "BIG", "box": "200, 100, 1000, 400"}, attachments={"image": ("big.jpg", "image/jpeg", picture(2048, 1024, "JPEG"))})
    await fake.wait_until(lambda: storage.queue.list().jobs)
    assert storage.queue.list().jobs[0].box == "100,50,500,200"


async def test_an_attached_picture_without_box_or_where_stays_img2img(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    await fake.slash(alice, "imagine", {"prompt": "PLAIN"}, attachments={"image": ("p.png", "image/png", picture(64, 64))})
    await fake.wait_until(lambda: storage.queue.list().jobs)
    job = storage.queue.list().jobs[0]
    assert job.box is None and job.init_image_hash is not None


async def test_a_box_outside_the_picture_is_refused_naming_the_edge_and_the_size(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    interaction = await fake.slash(alice, "imagine", {"prompt": "X", "box": "50,50,80,10"}, attachments={"image": ("p.png", "image/png", picture(100, 100))})
    [answer] = await fake.wait_until(lambda: followups(fake, interaction) or None)
    assert "box: box 50,50,80,10 reaches past the picture's right edge; the picture is 100×100 pixels" in answer.json["content"]
    assert answer.json["flags"] & 64
    assert storage.queue.list().jobs == []


async def test_box_or_where_without_a_picture_and_malformed_boxes_are_refused_at_once(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    cases = [
        ({"box": "0,0,10,10"}, "box: says where in your picture the text goes; attach the picture with the `image` option"),
        ({"where": "top"}, "where: says where in your picture the text goes"),
        ({"box": "1,2,3"}, "box: a box is four whole numbers X,Y,W,H"),
        ({"box": "0,0,0,5"}, "box: 0,0,0,5 has no area"),
        ({"box": "-1,0,5,5"}, "box: -1,0,5,5 starts outside the picture"),
        ({"box": "0,0,5,5", "where": "top"}, "box: give either box or where, not both"),
        ({"style_strength": 0.5}, "style_strength: only makes sense with a style or a style_image"),
        ({"style": "Bad Name!"}, "style: 'bad name!' must be 1 to 32 characters"),
    ]
    for options, expected in cases:
        interaction = await fake.slash(alice, "imagine", {"prompt": "X", **options})
        await fake.wait_until(lambda: interaction.callbacks)
        reply = interaction.callbacks[0]
        assert reply["type"] == 4 and reply["data"]["flags"] & 64
        assert expected in reply["data"]["content"], (options, reply["data"]["content"])
    assert storage.queue.list().jobs == []


async def test_a_style_image_becomes_the_jobs_reference_picture(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    storage.start_worker()
    interaction = await fake.slash(
        alice, "imagine", {"prompt": "RED LOOK", "style_strength": 0.3},
        attachments={"style_image": ("ref.jpg", "image/jpeg", picture(40, 30, "JPEG"))},
    )
    message = await fake.wait_until(lambda: result_of(fake, interaction))
    job = storage.queue.list().jobs[0]
    assert job.style_image_hash is not None and job.init_image_hash is None and job.style_strength == 0.3
    assert "style image at 0.3" in message["content"]


async def test_a_corrupt_style_image_is_refused_naming_the_option(fake, storage, start_bot):
    await start_bot()
    alice = fake.add_user("alice")
    interaction = await fake.slash(alice, "imagine", {"prompt": "X"}, attachments={"style_image": ("r.png", "image/png", b"\x89PNG broken")})
    [answer] = await fake.wait_until(lambda: followups(fake, interaction) or None)
    assert "style_image: the image is not a PNG, JPEG, GIF or WebP file" in answer.json["content"]
    assert storage.queue.list().jobs == []


async def test_reroll_keeps_the_photo_its_box_the_style_and_the_reference_picture(fake, storage, start_bot):
    await start_bot()
    add_style(storage.styles, "neon")
    alice = fake.add_user("alice")
    storage.start_worker()
    pictures = {"image": ("p.png", "image/png", picture(120, 60)), "style_image": ("r.png", "image/png", picture(8, 8))}
    interaction = await fake.slash(alice, "imagine", {"prompt": "AGAIN", "where": "top", "style": "neon"}, attachments=pictures)
    message = await fake.wait_until(lambda: result_of(fake, interaction))
    job_id = int(custom_ids(message)[0].rsplit(":", 1)[1])
    await fake.click(alice, int(message["id"]), f"glyph:reroll:{job_id}")
    await fake.wait_until(lambda: len(storage.queue.list().jobs) == 2)
    new, old = storage.queue.list().jobs
    kept = ("init_image_hash", "box", "style", "style_image_hash", "style_strength")
    assert [getattr(new, name) for name in kept] == [getattr(old, name) for name in kept] and new.seed != old.seed
    assert old.box is not None and old.style_image_hash is not None
