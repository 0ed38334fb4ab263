"""/imagine's template option, and `[generation]`'s defaults in every job the bot queues: through the
loopback Discord and the real queue, and in the option parsing on its own."""

from __future__ import annotations

import dataclasses

import pytest

from bot.discord.options import OptionErrors, parse_imagine
from bot.discord.settings import DiscordSettings
from config.settings import load_settings
from generation.request_options import configured


async def _queued(fake, storage, options: dict) -> list:  # noqa: ANN001
    alice = fake.add_user("alice")
    await fake.slash(alice, "imagine", options)
    return await fake.wait_until(lambda: storage.queue.list().jobs or None)


async def test_the_template_option_reaches_the_job(fake, storage, start_bot) -> None:  # noqa: ANN001
    await start_bot()
    [job] = await _queued(fake, storage, {"prompt": "JUST SETTING UP", "template": "tweet"})
    assert job.template == "tweet" and job.render_request().template == "tweet"


async def test_generation_defaults_reach_the_job(fake, storage, start_bot, settings) -> None:  # noqa: ANN001
    defaults = configured({"num_inference_steps": 7, "sr_num_inference_steps": 3, "scheduler": "ddim", "guidance_scale": 3.5,
                           "candidates": 2})
    await start_bot(dataclasses.replace(settings, defaults=defaults))
    [job] = await _queued(fake, storage, {"prompt": "HI"})
    assert (job.num_inference_steps, job.sr_num_inference_steps, job.scheduler, job.guidance_scale, job.candidates) == (
        7, 3, "ddim", 3.5, 2)


def test_the_adapter_takes_its_defaults_from_the_generation_section(tmp_path) -> None:  # noqa: ANN001
    settings = DiscordSettings.from_settings(load_settings(storage={"data_dir": str(tmp_path)},
                                                           generation={"num_inference_steps": 7, "scheduler": "ddim"}))
    [request] = parse_imagine(settings, prompt="HI", seed=1).requests(settings.candidates)
    assert (request.num_inference_steps, request.scheduler, request.candidates) == (7, "ddim", 4)


def test_an_unknown_template_is_refused_naming_the_choices() -> None:
    with pytest.raises(OptionErrors) as refused:
        parse_imagine(DiscordSettings(), prompt="HI", template="billboard")
    assert refused.value.problems == ["template: 'billboard' is not one of card, tweet, chat, meme, sign, poster, cover, page, notice."]
