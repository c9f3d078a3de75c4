#!/bin/sh
# Copy what tools/train_tiny_shapes.py needs but a bare GPU image lacks into ./gpu_vendor (git-ignored):
# the `ldm` package (UNet/VAE classes), omegaconf (imported by ldm's UNet module) and open-clip-torch's
# CLIP vocabulary file (not open_clip itself). Run from the repository root with the project's venv
# python; then PYTHONPATH=gpu_vendor on the GPU. The GPU image must also have transformers < 5 (its CLIP
# classes changed in 5): if it has 5.x, carry wheels of transformers 4.x, tokenizers and huggingface_hub
# too (the 2026-11-27 run used transformers 4.57.6, tokenizers 0.22.2, huggingface_hub 0.36.2).
set -eu
PY=${PYTHON:-.venv/bin/python}
SITE=$($PY -c 'import ldm, os; print(os.path.dirname(os.path.dirname(ldm.__file__)))')
rm -rf gpu_vendor
mkdir -p gpu_vendor/open_clip
cp -r "$SITE/ldm" gpu_vendor/ldm
cp -r "$SITE/omegaconf" gpu_vendor/omegaconf
find gpu_vendor -name __pycache__ -type d -prune -exec rm -rf {} +
cp "$SITE/open_clip/bpe_simple_vocab_16e6.txt.gz" gpu_vendor/open_clip/
du -sh gpu_vendor
