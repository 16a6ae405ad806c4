#!/usr/bin/env bash
# One prepared run for a lent GPU box (device time is scarce: everything in one call).
# CUDA tests, the CUDA benchmark in parts, and the seed notebook's full experiment through the
# CLI; each step bounded and saved as soon as it ends ($OUT/gpu.tgz, $OUT/log.txt), so a
# call cut short still returns what finished.
#   DEVICE=cpu STEPS=20 EPOCHS=1 PY=python bash benchmarks/gpu_check.sh   # a dry run on a CPU
set -u
OUT=${OUT:-/tmp/gpu_out}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-0}          # 0: one whole epoch (1,563 steps) per variant
EPOCHS=${EPOCHS:-20}
PY=${PY:-python3}
W=$(mktemp -d)
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
step() {  # step SECONDS TITLE CMD...: run, log, save what exists so far
  local limit=$1 title=$2; shift 2
  echo "== $title ($(date -u +%T))" >> "$W/log.txt"
  timeout "$limit" "$@" >> "$W/log.txt" 2>&1
  echo "-- exit $?" >> "$W/log.txt"
  tar czf "$OUT/gpu.tgz" -C "$W" . && cp "$W/log.txt" "$OUT/log.txt"
}
{ nvidia-smi -L; $PY -c 'import torch; print("torch", torch.__version__)'; } >> "$W/log.txt" 2>&1
step 90 "CUDA tests" $PY -m pytest tests/test_cuda.py -q -p no:cacheprovider
step 150 "bench: training, inference, memory" $PY -m bedash bench --device "$DEVICE" \
  --steps "$STEPS" --repeats 3 --memory --out "$W/bench"
step 120 "the seed's experiment, $EPOCHS epochs, CLI" $PY -m bedash train --dataset synthetic \
  --epochs "$EPOCHS" --device "$DEVICE" --quiet --out "$W/seed_run"
step 60 "bench: scaling with E and hidden width" $PY -m bedash bench --device "$DEVICE" \
  --no-train --scaling --scaling-steps 200 --out "$W/scaling"
if [ -n "${COMPILE:-}" ]; then
  step 120 "bench: torch.compile modes" $PY -m bedash bench --device "$DEVICE" --steps "$STEPS" \
    --no-train --compile --out "$W/compile"
fi
