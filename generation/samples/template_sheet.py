"""Draw the README's template sheet: one `glyphbot imagine` per template, run as a user runs it, and
the text written into a photo, laid out 3 by 4 with each command and what OCR read under it.

    .venv/bin/python generation/samples/template_sheet.py generation/samples/templates-shipped.jpg [--checkpoint-dir DIR]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ocr.fontrender import available_fonts

# (template, transcript); each is drawn with --template NAME --candidates 4 --seed 1.
TEMPLATE_TEXTS = (
    ("card", "GOOD MORNING\nSUNSHINE"),
    ("tweet", "Jo Park\n@jopark\njust watched a pigeon take the bus two stops and get off at the bakery. he knows something"),
    ("chat", "Sam: are you coming tonight\nAlex: on my way\nSam: bring snacks\nAlex: obviously"),
    ("meme", "Nobody:\nMe at 3am: what if fish get thirsty"),
    ("sign", "FRESH EGGS\n$3 A DOZEN"),
    ("poster", "Movie Night\nFriday at 7pm on the roof\nbring a blanket"),
    ("cover", "The Silent Orchard\nby Mara Quinn"),
    ("page", "Things to pack\n- tent\n- torch\n- two jumpers\n- the good kettle"),
    ("notice", "NOTICE\nThe lift is out of order until Friday. Please use the stairs."),
)
PHOTO = ("FRESH BREAD", ["--image", "generation/samples/features/photo-hills.jpg", "--where", "bottom", "--seed", "5"])
THUMB, LABEL = 256, 36


def imagine(text: str, options: list[str], out: Path, checkpoint_dir: str | None) -> str:
    """Run the CLI in this process's checkout; returns what OCR read in the winner."""
    command = [str(Path(sys.executable).parent / "glyphbot"), "imagine", text.replace("\n", "\\n"), *options, "--here", "--json", "--out", str(out)]
    if checkpoint_dir:
        command += ["--checkpoint-dir", checkpoint_dir]
    document = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    return document["ocr_text"] or ""


def main(target: str, checkpoint_dir: str | None = None) -> None:
    font = ImageFont.truetype(str(available_fonts()[0]), 11)
    runs = [(f"--template {name} --seed 1", text, ["--template", name, "--candidates", "4", "--seed", "1"]) for name, text in TEMPLATE_TEXTS]
    runs.append(("photo-hills --where bottom --seed 5", PHOTO[0], PHOTO[1]))
    columns, rows = 3, (len(runs) + 2) // 3
    sheet = Image.new("RGB", (columns * THUMB, rows * (THUMB + LABEL)), "white")
    with tempfile.TemporaryDirectory() as folder:
        for index, (label, text, options) in enumerate(runs):
            out = Path(folder) / f"{index}.png"
            reading = imagine(text, options, out, checkpoint_dir)
            picture = Image.open(out).convert("RGB")
            picture.thumbnail((THUMB, THUMB))
            x, y = (index % columns) * THUMB, (index // columns) * (THUMB + LABEL)
            sheet.paste(picture, (x + (THUMB - picture.width) // 2, y + (THUMB - picture.height) // 2))
            exact = " ".join(reading.split()) == " ".join(text.split())
            draw = ImageDraw.Draw(sheet)
            draw.text((x + 4, y + THUMB + 2), label, fill="black", font=font)
            said = "OCR: reads back exactly" if exact else "OCR: " + " ".join(reading.split())[:44]
            draw.text((x + 4, y + THUMB + 17), said, fill=(0, 120, 0) if exact else (170, 0, 0), font=font)
            print(f"{label}: {said}", flush=True)
    sheet.save(target, quality=88)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    chosen = arguments[arguments.index("--checkpoint-dir") + 1] if "--checkpoint-dir" in arguments else None
    main(arguments[0], chosen)
