#!/usr/bin/env bash
# Fill the git-ignored .whl/ and .fonts/ that a GPU loan carries (see generation/TRAINING.md): the wheels
# the device lacks (diffusers, typer, rich and what they need, binary ones for CPython 3.10-3.13 since
# the device's Python version is not known in advance) and the fonts and word list the data generator
# draws with. About 50 MB of the 64 MB a call may carry. Run from anywhere, after `bash setup.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
pip=.venv/bin/pip
rm -rf .whl .fonts && mkdir -p .whl .fonts
$pip download -q -d .whl diffusers==0.42.1 typer==0.29.1 'rich>=13' 'fonttools>=4.50' exceptiongroup
# pydantic pins its core exactly: fetch that version for the other Pythons.
core=$(ls .whl | sed -n 's/^pydantic_core-\([0-9.]*\)-.*/\1/p' | head -n 1)
for version in 3.10 3.12 3.13; do
  $pip download -q -d .whl --python-version "$version" --only-binary=:all: --no-deps \
    "pydantic_core==$core" regex pyyaml charset_normalizer tomli
done
rm -f .whl/numpy-* .whl/pillow-*  # the device has its own, matched to its torch
.venv/bin/python - <<'PY'
import shutil
from generation.layout import find_fonts
for path in find_fonts():
    shutil.copy(path, ".fonts/")
PY
cp /usr/share/dict/words .fonts/words
du -sh .whl .fonts
