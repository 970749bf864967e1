#!/usr/bin/env bash
# Every benchmark of the performance and training issues in one run on a lent GPU
# machine (one call of the device tool): generation, training steps, the alignment
# sweep and a long training run. Writes logs and results under $OUT.
#   OUT=/tmp/out bash benchmarks/gpu_session.sh
set -u
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
PY=${PY:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
$PY -c "import jax; print('jax', jax.__version__, jax.devices())" 2>&1 | tee "$OUT/env.txt"
timeout 120 $PY benchmarks/generation.py --sizes 10240,102400 --repeats 3 --batch-size 1024 2>&1 | tee "$OUT/generation.txt"
timeout 90 $PY benchmarks/training_step.py --repeats 200 --train-repeats 50 2>&1 | tee "$OUT/training_step.txt"
timeout 240 $PY benchmarks/alignment_sweep.py --steps 3000 --out "$OUT/sweep" 2>&1 | tail -12 | tee "$OUT/sweep.txt"
timeout "${LONG_SECONDS:-150}" $PY -m eqx_multimodal train --steps 60000 --out "$OUT/long" --quiet --no-report 2>&1 | tail -3
cp "$OUT/long/metrics.jsonl" "$OUT/long_metrics.jsonl" 2>/dev/null
ls -la "$OUT"
