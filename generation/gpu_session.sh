#!/usr/bin/env bash
# Train the cascade on a lent GPU within one ~30-minute loan (generation/TRAINING.md explains the plan).
# Run from the repository root on the device, with .whl/ and .fonts/ carried (see TRAINING.md).
#
#   generation/gpu_session.sh start MINUTES   install, then train base and SR side by side in the background
#                                             for MINUTES; each run checkpoints, stops and exports by itself
#   generation/gpu_session.sh status          the last lines of both logs and the GPU's use
#   generation/gpu_session.sh collect         wait for both exports, then pack models, logs and the latest
#                                             sample grids into $OUT as models.tar.part-* (16 MB pieces)
#
# Both runs continue from the checkpoints shipped in generation/checkpoints when they exist and no
# config is named; naming BASE_CONFIG / SR_CONFIG (e.g. base-64 and sr-256-from-64, the 25M cascade)
# starts that larger cascade fresh instead, to be shipped only if it scores higher. The SR run
# warm-starts from the shipped base when no SR checkpoint is used and the shapes allow it.
# Environment overrides (defaults in brackets): RUN [/root/glyphbot-run], BASE_CONFIG [the shipped
# base, else cpu-base-64], SR_CONFIG [the shipped SR, else cpu-sr-256], BASE_BATCH [256], SR_BATCH [32], BASE_WORKERS [9], SR_WORKERS [6],
# PRECISION [bf16], LR [2e-4], MAX_LINES [3], MAX_CHARS [40].
set -euo pipefail
cd "$(dirname "$0")/.."

RUN=${RUN:-/root/glyphbot-run}
SHIPPED=generation/checkpoints
PYTHON=${PYTHON:-$(command -v python || command -v python3)}
export PYTHONPATH=$PWD
python() { "$PYTHON" "$@"; }
pip() { "$PYTHON" -m pip "$@"; }


install() {
  # The device has torch, accelerate, transformers, safetensors, pillow and numpy, and no network.
  python -c 'import diffusers, typer, rich, fontTools' 2>/dev/null ||
    pip install -q --no-index --find-links .whl diffusers==0.42.1 typer rich fonttools
  if ! python -c 'from generation.layout import find_fonts; find_fonts()' 2>/dev/null; then
    mkdir -p /usr/share/fonts/truetype/glyphbot
    cp .fonts/*.[to]tf /usr/share/fonts/truetype/glyphbot/
  fi
  [ -f /usr/share/dict/words ] || { mkdir -p /usr/share/dict && cp .fonts/words /usr/share/dict/words; }
}

shipped() { [ -f "$SHIPPED/$1/training.json" ]; }

launch() {  # name, minutes, then `glyphbot train` arguments
  local name=$1 minutes=$2
  shift 2
  mkdir -p "$RUN"
  setsid nohup "$PYTHON" -c 'import sys; sys.argv[0] = "glyphbot"; from bot.cli import main; main()' \
    train "$@" --output "$RUN/$name" --steps 10000000 --learning-rate "${LR:-2e-4}" --max-minutes "$minutes" --mixed-precision "${PRECISION:-bf16}" \
    --max-lines "${MAX_LINES:-3}" --max-chars "${MAX_CHARS:-40}" --save-every 2000 --sample-every 2000 \
    >"$RUN/$name.log" 2>&1 &
  echo "started $name (pid $!), log $RUN/$name.log"
}

start() {
  local minutes=${1:?usage: start MINUTES}
  install
  local base_args=(base --batch-size "${BASE_BATCH:-256}" --num-workers "${BASE_WORKERS:-9}")
  if [ -z "${BASE_CONFIG:-}" ] && shipped base; then
    base_args+=(--init-from "$SHIPPED/base")
  else
    base_args+=(--config "generation/configs/${BASE_CONFIG:-cpu-base-64}.json")
  fi
  local sr_args=(sr --batch-size "${SR_BATCH:-32}" --num-workers "${SR_WORKERS:-6}")
  if [ -z "${SR_CONFIG:-}" ] && shipped sr; then
    sr_args+=(--init-from "$SHIPPED/sr")
  else
    sr_args+=(--config "generation/configs/${SR_CONFIG:-cpu-sr-256}.json")
  fi
  launch base "$minutes" "${base_args[@]}"
  launch sr "$minutes" "${sr_args[@]}"
}

status() {
  for name in base sr; do
    echo "== $name"
    tr '\r' '\n' <"$RUN/$name.log" | grep -v '^$' | tail -n 3
  done
  nvidia-smi --query-gpu=utilization.gpu,memory.used,memory.total --format=csv,noheader || true
}

collect() {
  : "${OUT:?collect writes to \$OUT}"
  for name in base sr; do
    while [ ! -f "$RUN/$name/model/training.json" ]; do
      pgrep -f "output $RUN/$name" >/dev/null || { echo "$name run ended without exporting; see its log"; break; }
      sleep 5
    done
  done
  local pack=$RUN/pack
  rm -rf "$pack" && mkdir -p "$pack"
  for name in base sr; do
    [ -d "$RUN/$name/model" ] && cp -r "$RUN/$name/model" "$pack/$name"
    cp "$RUN/$name.log" "$pack/$name.log"
    latest=$(ls "$RUN/$name/samples/"*.png 2>/dev/null | tail -n 1 || true)
    [ -n "$latest" ] && cp "$latest" "$pack/$name-samples.png"
  done
  tar -C "$pack" -cf - . | split -b 16000000 - "$OUT/models.tar.part-"
  ls -la "$OUT"
}

case ${1:-} in
  start) start "${2:-}" ;;
  status) status ;;
  collect) collect ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
