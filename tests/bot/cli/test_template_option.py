"""The template option on the command line: `glyphbot templates`, `jobs submit --template`, and a name
that is not a template refused before anything is queued (exit 2, naming the choices)."""

from __future__ import annotations

from pathlib import Path

import pytest

from generation.types import TEMPLATE_DESCRIPTIONS, TEMPLATES
from storage.facade import open_storage
from tests.bot.cli.test_style_commands import configured, glyphbot  # noqa: F401  the fixture and the runner
from tests.storage.fixtures import db_url, pg_databases, pg_session_url  # noqa: F401


def test_templates_lists_every_name_with_its_description() -> None:
    code, output = glyphbot("templates")
    assert code == 0
    assert [line.split("\t") for line in output.splitlines()] == [[name, TEMPLATE_DESCRIPTIONS[name]] for name in TEMPLATES]


def test_submit_keeps_the_template_and_the_worker_gets_it_back(configured: str) -> None:  # noqa: F811
    code, output = glyphbot("jobs", "submit", "JUST SETTING UP", "--template", "tweet")
    assert code == 0, output
    [job] = open_storage().jobs.list().jobs
    assert job.template == "tweet" and job.render_request().template == "tweet"
    assert glyphbot("jobs", "submit", "PLAIN")[0] == 0
    assert open_storage().jobs.list().jobs[0].render_request().template is None  # left out: the rules pick


def test_an_unknown_template_is_refused_naming_the_choices(configured: str) -> None:  # noqa: F811
    code, output = glyphbot("jobs", "submit", "HI", "--template", "billboard")
    assert code == 2 and "'billboard' is not one of" in output and "tweet" in output and "notice" in output
    assert len(output.strip().splitlines()) == 1, "one line, not click's usage box"
    assert glyphbot("jobs", "list")[1] == ""


def test_imagine_refuses_an_unknown_template_before_loading_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLYPHBOT_STORAGE__DATA_DIR", str(tmp_path / "data"))
    code, output = glyphbot("imagine", "HI", "--template", "billboard", "--out", str(tmp_path / "x.png"))
    assert code == 2 and "'billboard' is not one of" in output
    assert not (tmp_path / "data").exists()
