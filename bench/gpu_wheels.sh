#!/usr/bin/env bash
# Download (here, with internet) the wheels bench/gpu_check.sh installs on the GPU machine, which has
# torch/transformers/einops/safetensors/numpy/pillow/pytest but not ldm, omegaconf, diffusers or
# bitsandbytes. Run from the repository root: bash bench/gpu_wheels.sh [DIR]   (default .whl)
# Python 3.12, x86-64 manylinux, no dependencies resolved (each needed one is named).
set -euo pipefail
dir="${1:-.whl}"
mkdir -p "$dir"
py="${PYTHON:-python3}"
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
           --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64
           --platform any)
get() {
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$dir" "$@" || echo "gpu_wheels: could not download $* (that section will be skipped)" >&2
}
get stable-diffusion-sdkit==2.1.5      # ldm (UNetModel) for the SD1.5 shape and the CUDA tests
get omegaconf==2.4.0                   # ldm's UNetModel imports omegaconf (2.4 needs only PyYAML)
get diffusers==0.42.1                  # SDXL-shaped UNet2DConditionModel
get bitsandbytes                       # 8-bit AdamW (optional; large wheel)
ls -la "$dir"
du -sh "$dir"
