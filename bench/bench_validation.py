"""Cost of one validation-loss evaluation versus one training step, measured side by side.

A training step here is what the trainer does per optimizer step at batch size B: the keyed
diffusion loss through the UNet with the hypernetwork attached, backward, AdamW step. A validation
evaluation is `ValidationSet.loss()` over M held-out images at 8 timesteps each (no gradients,
hypernetwork in eval mode, latents/noise/conditioning cached), which is what runs at every saved
checkpoint. The one-off cost of building the validation set (VAE + text encoding of M images) is
reported too. Repeats are interleaved and the median taken; ratios only, never seconds.

Usage: python bench/bench_validation.py [--model tiny|CHECKPOINT] [--device cpu|cuda] [--images 4,16]
       [--size 64] [--batch 1] [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_inference import timed  # noqa: E402

from hypernet_ext import create_hypernetwork  # noqa: E402
from hypernet_ext.attach import attach_hypernetworks  # noqa: E402
from hypernet_ext.standalone import load_host  # noqa: E402
from hypernet_ext.training.data import DataOptions, TrainingData  # noqa: E402
from hypernet_ext.training.loss import diffusion_loss  # noqa: E402
from hypernet_ext.training.optim import build_optimizer  # noqa: E402
from hypernet_ext.training.validation import VALIDATION_TIMESTEPS, ValidationSet  # noqa: E402


def write_images(folder: Path, count: int, size: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
        (folder / f"{i}.txt").write_text(f"a photo, tag{i}")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", default="4,16", help="validation set sizes to measure")
    parser.add_argument("--size", type=int, default=None, help="image side (default 64 tiny, 512 otherwise)")
    parser.add_argument("--batch", type=int, default=1, help="training batch size")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    size = args.size or (64 if args.model == "tiny" else 512)
    host = load_host(args.model, device=args.device)
    hn = create_hypernetwork("bench", sizes=host.attention_widths, seed=0).to(host.device)
    root = Path(tempfile.mkdtemp(prefix="bench-validation-"))
    train_options = DataOptions(str(write_images(root / "train", max(4, args.batch), size)), "bench", width=size,
                                height=size, batch_size=args.batch)
    data = TrainingData(host, train_options)
    _, optimizer = build_optimizer("AdamW", hn.parameters(), 1e-5, {})
    print(f"model {args.model} on {args.device}, {size}x{size}, training batch {args.batch}, "
          f"{VALIDATION_TIMESTEPS} timesteps per validation image, median of {args.repeats}")
    print(f"{'images':>6} {'eval/step':>10} {'eval/(image*t) per step':>24} {'build/step':>11}")
    attachment = attach_hypernetworks(host.unet, [(hn, 1.0)])
    try:
        for count in (int(n) for n in args.images.split(",")):
            folder = write_images(root / f"val{count}", count, size)
            build_times, eval_times, step_times = [], [], []
            vset = None
            for repeat in range(args.repeats):
                def build():
                    nonlocal vset
                    vset = ValidationSet(host, train_options, folder=str(folder))
                build_times.append(timed(build, args.device))

                def step():
                    hn.train()
                    batch = data.batch(repeat)
                    loss = diffusion_loss(host, batch.latents, batch.cond, 0, repeat * args.batch)
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                step_times.append(timed(step, args.device))

                def evaluate():
                    hn.eval()
                    vset.loss()
                eval_times.append(timed(evaluate, args.device))
            step_t, eval_t, build_t = (statistics.median(x) for x in (step_times, eval_times, build_times))
            print(f"{count:>6} {eval_t / step_t:>10.2f} {eval_t / (count * VALIDATION_TIMESTEPS) / step_t:>24.3f} "
                  f"{build_t / step_t:>11.2f}")
    finally:
        attachment.detach()


if __name__ == "__main__":
    main()
