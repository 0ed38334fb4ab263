#!/usr/bin/env bash
# Sets up glyphbot on a fresh Debian machine: system packages when missing, then a virtualenv in .venv.
# Idempotent: a second run only checks. torch is installed first, pinned, so pip never pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
command -v tesseract >/dev/null 2>&1 || need_apt+=(tesseract-ocr tesseract-ocr-eng)
# The synthetic-data renderer and the OCR checks draw text with these font families and words.
for pkg in fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-freefont-ttf wamerican; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if ((${#need_apt[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "setup: installing Debian packages: ${need_apt[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.glyphbot-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q torch==2.13.0
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
echo "setup: ready (.venv/bin/glyphbot)"
