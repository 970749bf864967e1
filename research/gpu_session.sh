#!/usr/bin/env bash
# Every benchmark of the performance and training issues in one run on a lent GPU
# machine (one call of the device tool): generation, training steps, the alignment
# sweep and a long training run. Writes small result files into $OUT (runs go to
# /tmp/runs).   OUT=/tmp/out bash benchmarks/gpu_session.sh
set -u
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu-out}
RUNS=/tmp/runs
mkdir -p "$OUT" "$RUNS"
PY=${PY:-python3}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $PY -c "import jax; print('jax', jax.__version__, jax.devices())"; } > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
timeout 90 $PY benchmarks/generation.py --sizes 10240,102400 --repeats 3 --batch-size 1024 \
    > "$OUT/generation.txt" 2>&1; tail -12 "$OUT/generation.txt"
timeout 60 $PY benchmarks/training_step.py --repeats 200 --train-repeats 50 \
    > "$OUT/training_step.txt" 2>&1; tail -8 "$OUT/training_step.txt"
timeout 270 $PY benchmarks/alignment_sweep.py --steps 3000 --out "$RUNS/sweep" \
    > "$OUT/sweep.txt" 2>&1; tail -12 "$OUT/sweep.txt"
cp "$RUNS/sweep/sweep.json" "$OUT/" 2>/dev/null
timeout "${LONG_SECONDS:-150}" $PY -m eqx_multimodal train --steps 60000 --out "$RUNS/long" \
    --quiet --no-report > "$OUT/long.txt" 2>&1
cp "$RUNS/long/metrics.jsonl" "$OUT/long_metrics.jsonl" 2>/dev/null
tail -c 600 "$OUT/long_metrics.jsonl"
