"""Inference overhead of attached hypernetworks, measured side by side in one run.

Shapes: a tiny ldm UNet, an SD1.5-shaped ldm UNet and an SDXL-shaped diffusers UNet
(`UNet2DConditionModel` with SDXL's widths and depths: 320/640/1280 channels, 0/2/10 transformer
blocks per level, text width 2048, pooled-text + size conditioning; needs `diffusers`), all with
random weights and SDPA attention. One timed sample is one short "generation": the network is
attached, then `--steps` UNet forwards run, each with a fresh copy of the same conditioning (as a
sampler builds it). Variants, interleaved in every repeat (median reported as a ratio to no tag):

- no tag (unpatched UNet) and a `:0` tag (the default network at strength 0: must cost nothing);
- the default network (every attention width, 1-2-1) with the text-context memo on and off, and
  without text-context sharing (every cross-attention layer computes its own K/V input);
- a text-width-only network with the memo on and off (memo on: its per-step cost goes to ~0).

FLOPs (matmul/conv, deterministic unlike wall-clock on a busy machine) are counted for one
forward after the first of a generation, i.e. what every later sampling step costs.

    .venv/bin/python bench/bench_inference.py [--shapes tiny sd15 sdxl] [--repeats 5] [--steps 4]
        [--latent 8] [--device cpu] [--dtype fp32] [--flops-only]
"""
from __future__ import annotations

import argparse
import contextlib
import io
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
LDM_SHAPES = {
    "tiny": dict(model_channels=32, channel_mult=(1, 2), attention_resolutions=(1, 2), num_res_blocks=1,
                 num_head_channels=16, context_dim=48),
    "sd15": dict(model_channels=320, channel_mult=(1, 2, 4, 4), attention_resolutions=(4, 2, 1),
                 num_res_blocks=2, num_heads=8, context_dim=768),
}
# SDXL base UNet (sgm config: transformer_depth [0, 2, 10], context_dim 2048, adm_in_channels 2816)
SDXL = dict(down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            block_out_channels=(320, 640, 1280), layers_per_block=2, transformer_layers_per_block=(1, 2, 10),
            attention_head_dim=(5, 10, 20), cross_attention_dim=2048, use_linear_projection=True,
            addition_embed_type="text_time", addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816, in_channels=4, out_channels=4, sample_size=128)
# SDXL's structure at toy widths, for checking the SDXL code path on a CPU
SDXL_TINY = {**SDXL, "block_out_channels": (32, 64, 64), "transformer_layers_per_block": (1, 1, 2),
             "attention_head_dim": (2, 4, 4), "norm_num_groups": 16}
CONTEXT_DIM = {"tiny": 48, "sd15": 768, "sdxl": 2048, "sdxl-tiny": 2048}
SHAPES = tuple(CONTEXT_DIM)


def _randomize(unet: torch.nn.Module, device: torch.device) -> None:
    """Random weights (ldm/diffusers would zero-init output projections, hiding attention)."""
    if device.type == "meta":
        return
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, parameter in unet.named_parameters():
            if parameter.dim() == 1 and "norm" in name and name.endswith("weight"):
                parameter.fill_(1.0)
            else:
                parameter.normal_(0, 0.02, generator=generator)


def build_unet(shape: str, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """A frozen, eval-mode UNet of this shape with random weights (built on meta: no slow init)."""
    with torch.device("meta"), contextlib.redirect_stdout(io.StringIO()):
        if shape.startswith("sdxl"):
            from diffusers import UNet2DConditionModel
            unet = UNet2DConditionModel(**(SDXL if shape == "sdxl" else SDXL_TINY))
        else:
            from ldm.modules.diffusionmodules.openaimodel import UNetModel
            from hypernet_ext.standalone.attention import use_sdpa_attention
            unet = UNetModel(image_size=32, in_channels=4, out_channels=4, use_spatial_transformer=True,
                             transformer_depth=1, legacy=False, use_checkpoint=False, **LDM_SHAPES[shape])
            use_sdpa_attention(unet)
    unet = unet.to(dtype=dtype).to_empty(device=device)  # allocated once, in the bench dtype
    _randomize(unet, device)
    unet = to_dtype(unet, dtype).eval()
    unet.requires_grad_(False)
    return unet


def to_dtype(unet: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Weights in `dtype`, ldm's GroupNorm32 layers kept in float32 (they normalise in float32, as the
    webui and the standalone host keep them)."""
    unet.to(dtype)
    for module in unet.modules():
        if type(module).__name__ == "GroupNorm32":
            module.float()
    return unet


def make_inputs(shape: str, batch: int, latent: int, device, dtype) -> dict:
    generator = torch.Generator().manual_seed(0)
    inputs = {"x": torch.randn(batch, 4, latent, latent, generator=generator).to(device, dtype),
              "t": torch.full((batch,), 500, device=device),
              "context": torch.randn(batch, 77, CONTEXT_DIM[shape], generator=generator).to(device, dtype)}
    if shape.startswith("sdxl"):
        inputs["added"] = {"text_embeds": torch.randn(batch, 1280, generator=generator).to(device, dtype),
                           "time_ids": torch.tensor([[1024.0, 1024, 0, 0, 1024, 1024]] * batch).to(device, dtype)}
    return inputs


def forward(unet, shape: str, inputs: dict) -> torch.Tensor:
    context = inputs["context"].clone()  # a sampler builds a new (equal) conditioning tensor every step
    x = inputs["x"]
    # half-precision weights run under autocast, as the webui runs them (ldm embeds timesteps in fp32)
    precision = (torch.autocast(x.device.type, dtype=x.dtype) if x.dtype != torch.float32
                 else contextlib.nullcontext())
    with precision:
        if shape.startswith("sdxl"):
            return unet(x, inputs["t"], encoder_hidden_states=context, added_cond_kwargs=inputs["added"]).sample
        return unet(x, timesteps=inputs["t"], context=context)


def variants(unet, device, dtype) -> dict:
    """name -> None (no tag) or (pairs, share_text_context, memoize)."""
    widths = attention_widths(unet)
    full = create_hypernetwork("full", sizes=widths, seed=1).to(device=device, dtype=dtype)
    text = create_hypernetwork("text", sizes=widths[:1], seed=2).to(device=device, dtype=dtype)
    return {
        "no tag": None,
        "default network at strength 0": ([(full, 0.0)], True, True),
        f"default network {list(widths)}": ([(full, 1.0)], True, True),
        "default network, memo off": ([(full, 1.0)], True, False),
        "default network, no text sharing": ([(full, 1.0)], False, False),
        f"text width {widths[0]} only": ([(text, 1.0)], True, True),
        f"text width {widths[0]} only, memo off": ([(text, 1.0)], True, False),
    }


@contextlib.contextmanager
def attached(unet, setting):
    if setting is None:
        yield
        return
    with attach_hypernetworks(unet, setting[0], share_text_context=setting[1], memoize=setting[2]):
        yield


def sync(device) -> None:
    """Wait for queued GPU work, so a timer reads what ran (device: a torch.device or its name)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device) -> float:
    """Seconds one call of `fn` takes on `device`, its queued GPU work included."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def time_generation(unet, shape, inputs, setting, device, steps: int) -> float:
    """Seconds per UNet forward over one attach + `steps` forwards."""
    with torch.no_grad(), attached(unet, setting):
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            forward(unet, shape, inputs)
        sync(device)
        return (time.perf_counter() - start) / steps


def later_step_flops(unet, shape, inputs, setting) -> int:
    """Matmul/conv FLOPs of the second forward of a generation (what every later step costs)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), attached(unet, setting):
        forward(unet, shape, inputs)
        with FlopCounterMode(display=False) as counter:
            forward(unet, shape, inputs)
    return counter.get_total_flops()


def bench(shape: str, args, device, dtype) -> None:
    unet = build_unet(shape, device, dtype)
    inputs = make_inputs(shape, args.batch, args.latent, device, dtype)
    settings = variants(unet, device, dtype)
    flops = {name: later_step_flops(unet, shape, inputs, setting) for name, setting in settings.items()}
    times: dict[str, list[float]] = {name: [] for name in settings}
    if not args.flops_only:
        order = list(settings)
        for _ in range(args.warmup):
            for name in order:
                time_generation(unet, shape, inputs, settings[name], device, args.steps)
        rng = random.Random(0)
        for _ in range(args.repeats):
            rng.shuffle(order)
            for name in order:
                times[name].append(time_generation(unet, shape, inputs, settings[name], device, args.steps))
    params = sum(p.numel() for p in unet.parameters()) / 1e6
    timing = (f"median of {args.repeats} interleaved generations of {args.steps} forwards"
              if not args.flops_only else "FLOPs only")
    print(f"\n{shape} UNet ({params:.0f}M params), latent {args.latent}x{args.latent}, batch {args.batch}, "
          f"{args.dtype}, {_device_name(device)}: {timing}; ratios to no tag", flush=True)
    print(f"  {'variant':<42s} {'time':>8s} {'FLOPs/step':>10s}")
    for name in settings:
        t = f"{statistics.median(times[name]) / statistics.median(times['no tag']):7.3f}x" if times[name] else "      -"
        print(f"  {name:<42s} {t} {flops[name] / flops['no tag']:9.3f}x")
    if times["no tag"]:
        base_ms = statistics.median(times["no tag"]) * 1e3
        print(f"  (no tag: {base_ms:.1f} ms per forward)")
    print("  (strength 0 must read 1.000x FLOPs and the same time as no tag, within this run's noise)", flush=True)
    del unet


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({torch.get_num_threads()} threads)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["tiny", "sd15"], choices=list(SHAPES))
    parser.add_argument("--repeats", type=int, default=5, help="timed generations per variant")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=4, help="UNet forwards per generation")
    parser.add_argument("--latent", type=int, default=8, help="latent side (8 = 64 px image)")
    parser.add_argument("--batch", type=int, default=2, help="2 = one image with its negative prompt")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="fp32", choices=list(DTYPES))
    parser.add_argument("--flops-only", action="store_true", help="count FLOPs, skip timing")
    args = parser.parse_args()
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    print(f"torch {torch.__version__}", flush=True)
    for shape in args.shapes:
        try:
            bench(shape, args, device, dtype)
        except ImportError as exc:
            print(f"\n{shape}: skipped ({exc}); `pip install diffusers` for the SDXL shape", flush=True)


if __name__ == "__main__":
    main()
