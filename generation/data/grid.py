"""Contact grids: many same-sized tiles in one PNG, for training samples and data previews."""

from __future__ import annotations

import math
from typing import Sequence

from PIL import Image


def tile_grid(tiles: Sequence[Image.Image], columns: int | None = None) -> Image.Image:
    """Tiles left to right, top to bottom; `columns` defaults to one row for up to 8 tiles, else a square."""
    if not tiles:
        raise ValueError("a grid needs at least one tile")
    columns = columns or (len(tiles) if len(tiles) <= 8 else math.ceil(math.sqrt(len(tiles))))
    width, height = tiles[0].size
    rows = math.ceil(len(tiles) / columns)
    grid = Image.new("RGB", (columns * width, rows * height), "white")
    for index, tile in enumerate(tiles):
        grid.paste(tile.convert("RGB"), ((index % columns) * width, (index // columns) * height))
    return grid
