#!/usr/bin/env bash
# Sets up glyphbot on a fresh Debian machine: system packages when missing, then a virtualenv in .venv.
#   bash setup.sh           what `glyphbot` needs to run
#   bash setup.sh --tests   that, plus what only the tests need (pytest and friends, Debian's chromium)
# Idempotent: a second run only checks. torch is installed first, pinned, so pip never pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")"

tests=false
case "${1:-}" in
  "") ;;
  --tests) tests=true ;;
  *) echo "usage: bash setup.sh [--tests]" >&2; exit 2 ;;
esac

need_apt=()
command -v tesseract >/dev/null 2>&1 || need_apt+=(tesseract-ocr tesseract-ocr-eng)
# The synthetic-data renderer and the OCR checks draw text with these font families and words; the
# templates' meme captions use Bebas Neue; the scene engine draws emoji and GNOME's wallpapers.
for pkg in fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-freefont-ttf wamerican \
           fonts-bebas-neue fonts-noto-color-emoji gnome-backgrounds; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
# The moderator web app's browser test drives the system Chromium (Playwright downloads no browser).
$tests && { [ -x /usr/bin/chromium ] || need_apt+=(chromium); }
# Another apt or dpkg (unattended upgrades on a fresh machine, a second shell) may hold the lock:
# apt waits for it this long instead of failing at once.
apt_lock_timeout_s=600
if ((${#need_apt[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "setup: installing Debian packages: ${need_apt[*]}"
  echo "setup: if another apt or dpkg is running, setup waits up to ${apt_lock_timeout_s} s for it to finish"
  apt=($sudo_cmd apt-get -o "DPkg::Lock::Timeout=$apt_lock_timeout_s")
  "${apt[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
target=.
stamp=.venv/.glyphbot-installed
if $tests; then
  target=".[test]"
  stamp=.venv/.glyphbot-installed-tests
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q torch==2.13.0
  .venv/bin/python -m pip install -q -e "$target"
  touch "$stamp"
fi
echo "setup: ready (.venv/bin/glyphbot)"
