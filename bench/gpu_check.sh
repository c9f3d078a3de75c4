#!/usr/bin/env bash
# One prepared GPU check, under 8 minutes on one GPU: CUDA tests, training bench (SD1.5 64x64 and
# SDXL 128x128 latents, fp16 and bf16, SDPA), low-VRAM combinations and inference overhead.
# Every section is independent: it has its own time limit and a failure never stops the next one.
# All output goes to the console and to $OUT/gpu_check.txt ($OUT defaults to ./gpu_check_out).
#
# Run from the repository root:  bash bench/gpu_check.sh
# Packages the GPU image lacks (ldm, omegaconf, diffusers, bitsandbytes) are installed from .whl/
# when that folder exists (prepare it with `bash bench/gpu_wheels.sh` where pip has internet).
set -u
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_check.txt") 2>&1
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
PY="${PYTHON:-python3}"
START=$(date +%s)

section() {  # section NAME SECONDS COMMAND...
  local name=$1 limit=$2 t0 rc
  shift 2
  echo
  echo "=== $name (limit ${limit}s, at +$(( $(date +%s) - START ))s) ==="
  t0=$(date +%s)
  timeout -k 5 "$limit" "$@"
  rc=$?
  echo "=== $name: exit $rc after $(( $(date +%s) - t0 ))s$( [ $rc -eq 124 ] && echo ' (TIME LIMIT)') ==="
  return 0
}

if ls .whl/*.whl >/dev/null 2>&1; then
  section "install carried wheels" 40 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/gpu_check_site .whl/*.whl
  export PYTHONPATH="/tmp/gpu_check_site${PYTHONPATH:+:$PYTHONPATH}"
else
  echo "no .whl folder: ldm/diffusers/bitsandbytes sections run only if those are installed"
fi

section "environment" 30 bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; \
  $PY -c 'import torch; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, torch.cuda.get_device_name(0))'; \
  $PY -c 'import ldm, diffusers; print(\"ldm ok, diffusers\", diffusers.__version__)'; \
  $PY -c 'import bitsandbytes; print(\"bitsandbytes\", bitsandbytes.__version__)'"

for test_file in tests/test_attach.py tests/test_attach_speed.py tests/test_low_vram.py; do  # one file's import error spares the others
  section "CUDA tests $test_file" 25 "$PY" -m pytest -q -p no:cacheprovider "$test_file" -k cuda -rs
done

for dtype in fp16 bf16; do
  section "training SD1.5 64x64 $dtype" 30 "$PY" bench/bench_scale.py --shape sd15 --latent 64 --dtype $dtype --mode speed --repeats 5
done
for dtype in fp16 bf16; do
  section "training SDXL 128x128 $dtype" 60 "$PY" bench/bench_scale.py --shape sdxl --latent 128 --dtype $dtype --mode speed --repeats 4
done
section "low-VRAM SD1.5 64x64" 30 "$PY" bench/bench_scale.py --shape sd15 --latent 64 --dtype fp16 --mode memory --repeats 3
section "low-VRAM SDXL 128x128" 60 "$PY" bench/bench_scale.py --shape sdxl --latent 128 --dtype bf16 --mode memory --repeats 2
section "inference SD1.5 64x64 fp16" 30 "$PY" bench/bench_inference.py --shapes sd15 --latent 64 --dtype fp16 --steps 10 --repeats 5
section "inference SDXL 128x128 fp16" 60 "$PY" bench/bench_inference.py --shapes sdxl --latent 128 --dtype fp16 --steps 8 --repeats 3

echo
echo "gpu_check done in $(( $(date +%s) - START ))s; log: $OUT/gpu_check.txt"
