#!/usr/bin/env bash
# Download (here, with internet) the wheels bench/gpu_check.sh installs on the GPU machine, which has
# torch/einops/safetensors/numpy/pillow/pytest and transformers 5, but not ldm, omegaconf, diffusers,
# bitsandbytes or a transformers 4.x. Run from the repository root: bash bench/gpu_wheels.sh [DIR]   (default .whl)
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
get diffusers==0.36.0                  # SDXL-shaped UNet2DConditionModel (0.42 needs huggingface_hub 1.x,
                                       # which transformers 4.x refuses)
get transformers==4.57.6 tokenizers==0.22.2 huggingface_hub==0.36.2  # the image has transformers 5,
                                       # whose CLIP state-dict keys differ (tests build tiny CLIP models)
get open-clip-torch==3.3.0             # only its CLIP vocabulary file is read (tiny models' tokenizer)
get bitsandbytes==0.50.2               # 8-bit AdamW (optional)
# The run tool carries at most 64 MiB with the working tree: keep only bitsandbytes' CUDA 13 and CPU
# libraries (the image's torch is built for CUDA 13.0); the wheel shrinks from 43 MB to 7 MB.
for wheel in "$dir"/bitsandbytes-*.whl; do
  [ -f "$wheel" ] && zip -q -d "$wheel" 'bitsandbytes/libbitsandbytes_cuda1[12]*.so' \
    'bitsandbytes/libbitsandbytes_rocm*.so' 'bitsandbytes/libbitsandbytes_xpu*.so' || true
done
ls -la "$dir"
du -sh "$dir"
