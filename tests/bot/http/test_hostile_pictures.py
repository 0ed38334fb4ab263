"""Issue 22 over HTTP: every hostile picture in `init_image` and `style_image` is a 422 naming the field and
what is wrong, and nothing is queued; a photo the renderer would refuse for its size is refused here."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.hostile_pictures import hostile_pictures, zlib_bomb
from tests.bot.http.test_styles_tweens import JOBS, b64, submit

FIELDS = {"init_image": "the init image", "style_image": "the style image"}


@pytest.mark.parametrize("field", FIELDS)
async def test_each_hostile_picture_is_a_422_and_nothing_is_queued(client: TestClient, keys: dict, field: str) -> None:
    for name, data in hostile_pictures().items():
        if not data:
            continue  # empty is refused by the schema's minimum length, before storage sees it
        status, answer = await submit(client, keys["alpha"], prompt="OPEN", **{field: b64(data)})
        assert status == 422, (name, answer)
        assert answer["error"] == "invalid_job" and answer["message"].startswith(FIELDS[field]), (name, answer)
        assert "\n" not in answer["message"]
    assert (await (await client.get(JOBS, headers=keys["alpha"])).json())["jobs"] == []


async def test_a_photo_too_large_for_a_box_is_refused_at_submission(client: TestClient, keys: dict) -> None:
    status, answer = await submit(client, keys["alpha"], prompt="OPEN", init_image=b64(zlib_bomb(4100, 16)), box=[0, 0, 100, 16])
    assert status == 422 and answer["message"] == "the photo is 4100x16 px; photos from 16 to 4096 px a side can be written into"
    status, answer = await submit(client, keys["alpha"], prompt="OPEN", init_image=b64(zlib_bomb(64, 64)), box=[0, 0, 10, 10])
    assert status == 422 and answer["message"] == "box 0,0,10,10 is 10x10 px; a box needs at least 16 px a side"
    status, answer = await submit(client, keys["alpha"], prompt="OPEN", init_image=b64(zlib_bomb(4096, 16)), box=[0, 0, 100, 16])
    assert status == 201, answer
