"""Inference overhead of attached hypernetworks, measured side by side in one run.

For a tiny ldm UNet and an SD1.5-shaped one (random weights, small latent), times one UNet forward
for: no attachment, an empty attachment list, a default hypernetwork (every attention width,
1-2-1), the same without text-context sharing, and a text-width-only hypernetwork. Variants are
interleaved in every repeat and the median is reported as a ratio to the unpatched forward.

    .venv/bin/python bench/bench_inference.py [--repeats 7] [--latent 8] [--device cpu] [--dtype fp32]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypernet_ext import create_hypernetwork  # noqa: E402
from hypernet_ext.attach import attach_hypernetworks, attention_widths  # noqa: E402

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
SHAPES = {
    "tiny": dict(model_channels=32, channel_mult=(1, 2), attention_resolutions=(1, 2), num_res_blocks=1,
                 num_head_channels=16, context_dim=48),
    "sd15": dict(model_channels=320, channel_mult=(1, 2, 4, 4), attention_resolutions=(4, 2, 1),
                 num_res_blocks=2, num_heads=8, context_dim=768),
}


def build_unet(shape: str, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    from ldm.modules.diffusionmodules.openaimodel import UNetModel

    with torch.device("meta"):  # skip torch's slow default init of ~860M parameters
        unet = UNetModel(image_size=32, in_channels=4, out_channels=4, use_spatial_transformer=True,
                         transformer_depth=1, legacy=False, use_checkpoint=False, **SHAPES[shape])
    unet = unet.to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():  # random weights (ldm would zero-init output projections)
        for name, parameter in unet.named_parameters():
            if parameter.dim() == 1 and "norm" in name and name.endswith("weight"):
                parameter.fill_(1.0)
            else:
                parameter.normal_(0, 0.02, generator=generator)
    unet = unet.to(dtype=dtype).eval()
    unet.requires_grad_(False)
    return unet


def variants(unet, device, dtype):
    widths = attention_widths(unet)
    full = create_hypernetwork("full", sizes=widths, seed=1).to(device=device, dtype=dtype)
    text = create_hypernetwork("text", sizes=widths[:1], seed=2).to(device=device, dtype=dtype)
    return {
        "unpatched": None,
        "empty list": ([], True),
        f"all widths {list(widths)}": ([(full, 1.0)], True),
        "all widths, no text sharing": ([(full, 1.0)], False),
        f"text width {widths[0]} only": ([(text, 1.0)], True),
    }


def time_forward(unet, inputs, setting, device, inner: int) -> float:
    attachment = None
    if setting is not None:
        attachment = attach_hypernetworks(unet, setting[0], share_text_context=setting[1])
    try:
        _sync(device)
        start = time.perf_counter()
        with torch.no_grad():
            for _ in range(inner):
                unet(inputs[0], timesteps=inputs[1], context=inputs[2])
        _sync(device)
        return (time.perf_counter() - start) / inner
    finally:
        if attachment is not None:
            attachment.detach()


def count_flops(unet, inputs, setting) -> int:
    """Matmul/conv FLOPs of one forward (deterministic, unlike wall-clock on a busy machine)."""
    from torch.utils.flop_counter import FlopCounterMode

    attachment = attach_hypernetworks(unet, setting[0], share_text_context=setting[1]) if setting else None
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            unet(inputs[0], timesteps=inputs[1], context=inputs[2])
        return counter.get_total_flops()
    finally:
        if attachment is not None:
            attachment.detach()


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(shape: str, args, device, dtype) -> None:
    unet = build_unet(shape, device, dtype)
    context_dim = SHAPES[shape]["context_dim"]
    generator = torch.Generator().manual_seed(0)
    inputs = (torch.randn(args.batch, 4, args.latent, args.latent, generator=generator).to(device, dtype),
              torch.full((args.batch,), 500, device=device),
              torch.randn(args.batch, 77, context_dim, generator=generator).to(device, dtype))
    settings = variants(unet, device, dtype)
    times: dict[str, list[float]] = {name: [] for name in settings}
    order = list(settings)
    repeats, inner = (args.repeats, args.inner) if shape == "sd15" else (args.repeats * 2, args.inner * 3)
    for _ in range(args.warmup):
        for name in order:
            time_forward(unet, inputs, settings[name], device, inner)
    rng = random.Random(0)
    for _ in range(repeats):
        rng.shuffle(order)
        for name in order:
            times[name].append(time_forward(unet, inputs, settings[name], device, inner))
    base = statistics.median(times["unpatched"])
    flops = {name: count_flops(unet, inputs, settings[name]) for name in settings}
    print(f"\n{shape} UNet ({sum(p.numel() for p in unet.parameters()) / 1e6:.1f}M params), latent "
          f"{args.latent}x{args.latent}, batch {args.batch}, {args.dtype}, {device.type}: median of "
          f"{repeats} interleaved repeats of {inner} forward(s), ratio to unpatched")
    print(f"  {'variant':<40s} {'time':>7s} {'FLOPs':>7s}")
    for name in settings:
        print(f"  {name:<40s} {statistics.median(times[name]) / base:6.3f}x "
              f"{flops[name] / flops['unpatched']:6.3f}x")
    print("  (the empty list runs the same code as unpatched: its distance from 1.000x is this run's noise)")
    del unet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["tiny", "sd15"], choices=list(SHAPES))
    parser.add_argument("--repeats", type=int, default=7, help="timed samples per variant (x2 for tiny)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--inner", type=int, default=1, help="forwards per timed sample (x3 for tiny)")
    parser.add_argument("--latent", type=int, default=8, help="latent side (8 = 64 px image)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="fp32", choices=list(DTYPES))
    args = parser.parse_args()
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    for shape in args.shapes:
        bench(shape, args, device, dtype)


if __name__ == "__main__":
    main()
