"""The request spine (generation.request_options): every option declared once, and what storage and the
settings make of it: the job row both ways, validation naming the choices, `[generation]`'s defaults."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from config.settings import DEFAULT_FILE, GenerationSettings
from generation.request_options import NOT_OPTIONS, OPTIONS, RENDER_REQUEST_FIELDS, asked, configured, option
from generation.types import TEMPLATE_DESCRIPTIONS, TEMPLATES
from storage.errors import InvalidJob
from storage.jobs import JobQueue
from storage.validation import same_request

from .fixtures import submission


def test_every_request_field_is_an_option_or_named_as_none() -> None:
    assert {o.name for o in OPTIONS} | set(NOT_OPTIONS) == set(RENDER_REQUEST_FIELDS)
    assert not {o.name for o in OPTIONS} & set(NOT_OPTIONS)
    for declared in OPTIONS:
        assert declared.problem(declared.default) is None, declared.name  # the shipped default is allowed


def test_every_template_has_a_description() -> None:
    assert tuple(TEMPLATE_DESCRIPTIONS) == TEMPLATES == option("template").choices


def test_the_shipped_generation_defaults_are_the_spines() -> None:
    shipped = tomllib.loads(DEFAULT_FILE.read_text())["generation"]
    configured_options = {o.name for o in OPTIONS if o.setting}
    assert configured_options <= set(GenerationSettings.model_fields)
    assert {name: shipped[name] for name in configured_options} == {name: option(name).default for name in configured_options}


def test_a_request_starts_from_the_configured_defaults_and_keeps_what_was_given() -> None:
    defaults = configured({"num_inference_steps": 7, "scheduler": "ddim", "device": "cpu"})
    request = asked(defaults, "HI", num_inference_steps=None, candidates=2, template="sign")
    assert (request.prompt, request.num_inference_steps, request.scheduler, request.candidates, request.template) == (
        "HI", 7, "ddim", 2, "sign")


def test_the_template_travels_through_the_job_row_both_ways(queue: JobQueue) -> None:
    request = dataclasses.replace(submission("OPEN").request, template="sign", font="DejaVuSans", seed=5)
    job = queue.submit(dataclasses.replace(submission("OPEN"), request=request))
    assert queue.get(job.id).template == "sign"
    assert queue.get(job.id).render_request() == request
    assert same_request(job, request) and not same_request(job, dataclasses.replace(request, template="meme"))


@pytest.mark.parametrize("template", ["billboard", "", "Sign"])
def test_an_unknown_template_is_refused_naming_every_choice(queue: JobQueue, template: str) -> None:
    with pytest.raises(InvalidJob, match=f"template {template!r} is not one of card, tweet, chat, meme, sign, poster, cover, page, notice"):
        queue.submit(submission("OPEN", template=template))
    assert queue.list().jobs == []


def test_a_tween_takes_no_template(queue: JobQueue) -> None:
    with pytest.raises(InvalidJob, match="a tween takes no template"):
        queue.submit(submission("OPEN", kind="tween", end_prompt="SHUT", template="sign"))

