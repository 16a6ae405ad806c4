#!/usr/bin/env bash
# One prepared run for a lent GPU box (device time is scarce: everything in one call).
# CUDA tests, the CUDA benchmark in parts, and the seed notebook's full experiment through the
# CLI; then the ResNet recipe (issue 23): one model (the 93% check), each kind's peak memory
# and s/epoch alone, and the headline sweep. Each step bounded and saved as soon as it ends
# ($OUT/gpu.tgz, $OUT/log.txt), so a call cut short still returns what finished.
#   DEVICE=cpu STEPS=20 EPOCHS=1 PY=python bash benchmarks/gpu_check.sh   # a dry run on a CPU
#   ONLY=resnet WIDTH=2 BATCH=64 RESNET_EPOCHS=1 SEEDS=0 TRAIN_SIZE=256 DEVICE=cpu PY=python \
#     bash benchmarks/gpu_check.sh                                        # its ResNet part
# shellcheck disable=SC2086  # the flag lists below split into words on purpose
set -u
OUT=${OUT:-/tmp/gpu_out}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-0}          # 0: one whole epoch (1,563 steps) per variant
EPOCHS=${EPOCHS:-20}
PY=${PY:-python3}
ONLY=${ONLY:-all}          # resnet: only the ResNet steps
W=$(mktemp -d)
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
step() {  # step SECONDS TITLE CMD...: run, log, save what exists so far
  local limit=$1 title=$2; shift 2
  echo "== $title ($(date -u +%T))" >> "$W/log.txt"
  timeout "$limit" "$@" >> "$W/log.txt" 2>&1
  local rc=$?
  echo "-- exit $rc ($(date -u +%T))" >> "$W/log.txt"  # gpu_report.py reads the times
  tar czf "$OUT/gpu.tgz" -C "$W" . && cp "$W/log.txt" "$OUT/log.txt"
}
{ nvidia-smi -L; $PY -c 'import torch; print("torch", torch.__version__)'; } >> "$W/log.txt" 2>&1
if [ "$ONLY" = all ]; then
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
fi
# -- the ResNet recipe (README, "Architectures"): Page's ResNet-9 DAWNBench schedule ----------
DATA_DIR=${DATA_DIR:-./data}
if [ -d "$DATA_DIR/cifar-10-batches-py" ]; then  # these boxes cannot download: bring it along
  DATA="--dataset cifar10 --data-dir $DATA_DIR --no-download"
else  # same shapes and work; the accuracy then says nothing about CIFAR-10
  DATA="--dataset synthetic"
  echo "!! CIFAR-10 not in $DATA_DIR: synthetic data, the 93% check is not made" >> "$W/log.txt"
fi
[ -n "${TRAIN_SIZE:-}" ] && DATA="$DATA --train-size $TRAIN_SIZE --test-size $TRAIN_SIZE"
RESNET="--arch resnet --depth ${DEPTH:-9} --width ${WIDTH:-64} --batch-size ${BATCH:-512} --lr 0.4
  --weight-decay 5e-4 --optimizer sgd --augment crop-flip --epochs ${RESNET_EPOCHS:-24}"
{ echo "card=$(nvidia-smi -L 2>/dev/null | head -1 || true)"; echo "date=$(date -u +%F)"
  echo "commit=$(git rev-parse --short HEAD 2>/dev/null)"; echo "resnet=$(echo $RESNET)"
  echo "data=$DATA"; echo "seeds=${SEEDS:-0-2}"
  echo "command=ONLY=$ONLY DEVICE=$DEVICE bash benchmarks/gpu_check.sh"
} > "$W/meta.txt"
SHARE="--gpus-per-run ${GPUS_PER_RUN:-0.34}"  # the 3 seeds' cells side by side on one GPU
[ "$DEVICE" = cpu ] && SHARE="--engine local"
step 600 "resnet: one model (the 93% check)" $PY -m bedash train $RESNET $DATA \
  --models single --device "$DEVICE" --quiet --out "$W/resnet_single"
step 900 "resnet: each kind alone, peak memory and s/epoch" $PY benchmarks/resnet_kinds.py \
  $RESNET $DATA --models single,batchensemble,ensemble --members 4 --device "$DEVICE" \
  --quiet --out "$W/resnet_kinds"
step 1500 "resnet: the headline sweep, 3 seeds, shift, paired verdicts" $PY -m bedash sweep \
  $RESNET $DATA --models single,batchensemble,ensemble --members 4 --seeds "${SEEDS:-0-2}" \
  --shift all --device "$DEVICE" $SHARE --quiet --out "$W/resnet_sweep"
# the figures into a copy of BENCHMARKS.md (its ResNet section), returned as $OUT/BENCHMARKS.md
# to copy over the checkout's (the working tree here is left as it was)
cp BENCHMARKS.md "$W/BENCHMARKS.md"
$PY benchmarks/gpu_report.py "$W" --benchmarks "$W/BENCHMARKS.md" >> "$W/log.txt" 2>&1 \
  && cp "$W/BENCHMARKS.md" "$OUT/BENCHMARKS.md"
tar czf "$OUT/gpu.tgz" -C "$W" . && cp "$W/log.txt" "$OUT/log.txt"
