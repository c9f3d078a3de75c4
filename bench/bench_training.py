"""Training step time and peak memory versus the physical limit, measured side by side.

The limit: the same frozen UNet doing forward + backward down to its attention inputs with no
hypernetwork (latents and text conditioning cached; the conditioning requires grad, so backward
runs through every attention layer down to the first one, as it must to reach a hypernetwork's
first site, and no further: the latents need no gradient).
A training step: hypernetwork attached, forward, MSE loss, backward (hypernetwork weight grads),
AdamW step (built by the trainer's `build_optimizer`, i.e. the fused kernel where torch has
one). Both use the same cached inputs, noise and timesteps; repeats are interleaved and the
median is taken. Ratios only (step / limit), never seconds.

Models: an SD1.5-shaped UNet (`build_sd15_unet()`, random weights, SDPA, latent 16x16) with a
768-only and a default four-width (768, 320, 640, 1280) 1-2-1 hypernetwork; and the tiny test
model, whose default hypernetwork is larger than the UNet, with the hypernetwork's own share
(its MLPs alone, forward + backward on the tensors the UNet feeds them) separated.

Peak memory (CPU, no tracemalloc): each configuration runs in a fresh subprocess that builds the
model and runs one no-grad forward; then the kernel's peak-RSS mark is reset (`/proc/self/clear_refs`
= 5) and one step runs; the figure is the step's peak RSS (VmHWM) minus the resting RSS before it,
i.e. activations + gradients + optimizer state. RSS includes allocator caching, so it is an upper
bound on tensor memory; read the ratio step/limit.

SDXL (`--sdxl`): the full-size SDXL UNet (diffusers' UNet2DConditionModel with SDXL's widths and
depths, random weights, SDPA; latent 16x16; pooled vector and size numbers fixed) with a 2048-only
and the default (2048, 640, 1280) 1-2-1 hypernetwork; `--device cuda` runs it (and its peak
memory, from the CUDA allocator's peak counter) on a GPU. About 10 GB of fp32 weights.

Usage: python bench/bench_training.py [--repeats 3] [--batches 1,4] [--no-memory] [--no-tiny]
       python bench/bench_training.py --sdxl [--device cuda] [--batches 1,4] --no-tiny --no-sd15
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypernet_ext import create_hypernetwork  # noqa: E402
from hypernet_ext.attach import attach_hypernetworks  # noqa: E402
from hypernet_ext.training.optim import build_optimizer  # noqa: E402

SD15_WIDTHS = {"768-only": (768,), "default 4 widths": (768, 320, 640, 1280)}
SDXL_WIDTHS = {"2048-only": (2048,), "default 3 widths": (2048, 640, 1280)}
SDXL_TARGETS = {"2048-only": 1.20, "default 3 widths": 1.45}


class SDXLCall(torch.nn.Module):
    """The SDXL UNet behind the `unet(x, t, context=...)` call the bench uses (fixed pooled vector and sizes)."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet
        g = torch.Generator().manual_seed(1)
        self.register_buffer("pooled", torch.randn((1, 1280), generator=g))
        self.register_buffer("sizes", torch.tensor([[1024.0, 1024.0, 0.0, 0.0, 1024.0, 1024.0]]))

    def forward(self, x, timesteps, context):
        batch = x.shape[0]
        added = {"text_embeds": self.pooled.expand(batch, -1), "time_ids": self.sizes.expand(batch, -1)}
        return self.unet(x, timesteps, encoder_hidden_states=context, added_cond_kwargs=added).sample


def build_sdxl(device: str):
    from hypernet_ext.standalone.sdxl_checkpoint import SDXL_BASE_UNET, build_sdxl_unet
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(0)
        unet = SDXLCall(build_sdxl_unet(SDXL_BASE_UNET))
    return unet.requires_grad_(False).eval(), (4, 16, 16), 2048


def build(model: str):
    """(unet, latent shape per sample, text width)"""
    if model == "sd15":
        from hypernet_ext.standalone import build_sd15_unet
        return build_sd15_unet(), (4, 16, 16), 768
    from hypernet_ext.standalone import load_host
    return load_host("tiny").unet, (4, 8, 8), 768


def inputs(latent_shape, text_width: int, batch: int):
    g = torch.Generator().manual_seed(0)
    latents = torch.randn((batch, *latent_shape), generator=g)
    cond = torch.randn((batch, 77, text_width), generator=g)
    noise = torch.randn((batch, *latent_shape), generator=g)
    timesteps = torch.randint(0, 1000, (batch,), generator=g)
    return latents, cond, noise, timesteps


def limit_step(unet, latents, cond, noise, timesteps):
    c = cond.clone().requires_grad_(True)  # gradient must reach every attention input, not the latents
    loss = torch.nn.functional.mse_loss(unet(latents, timesteps, context=c), noise)
    loss.backward()


class TrainStep:
    def __init__(self, unet, widths):
        self.hn = create_hypernetwork("bench", sizes=widths, seed=0)
        self.hn.train()
        self.optimizer = build_optimizer("AdamW", self.hn.parameters(), 1e-5)[1]  # as the trainer builds it
        self.unet = unet

    def __call__(self, latents, cond, noise, timesteps):
        with attach_hypernetworks(self.unet, [(self.hn, 1.0)]):
            loss = torch.nn.functional.mse_loss(self.unet(latents, timesteps, context=cond), noise)
            loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


class HypernetworkAlone:
    """The hypernetwork's MLPs on the very tensors the UNet feeds its K/V projections."""

    def __init__(self, unet, widths, args):
        self.hn = create_hypernetwork("alone", sizes=widths, seed=0)
        self.hn.train()
        self.optimizer = build_optimizer("AdamW", self.hn.parameters(), 1e-5)[1]
        self.shapes: list[tuple[int, ...]] = []
        handles = [m.to_k.register_forward_pre_hook(lambda mod, a: self.shapes.append(tuple(a[0].shape)))
                   for m in unet.modules() if isinstance(getattr(m, "to_k", None), torch.nn.Linear)]
        with torch.no_grad():
            unet(args[0], args[3], context=args[1])
        for h in handles:
            h.remove()
        text = [s for s in self.shapes if s[1] == 77 and s[-1] == 768]
        # the text pair is computed once per forward (shared), self-attention pairs once per layer
        self.shapes = [s for s in self.shapes if s not in text] + text[:1]
        self.tensors = [torch.randn(s) for s in self.shapes if self.hn.pair(s[-1]) is not None]

    def __call__(self, *unused):
        total = 0.0
        for x in self.tensors:
            pair = self.hn.pair(x.shape[-1])
            total = total + pair.k(x).square().mean() + pair.v(x).square().mean()
        total.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def timed(fn, args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def compare(unet, runners: dict, args, repeats: int) -> dict[str, float]:
    """Median time of each runner, interleaved with the limit; returns ratios to the limit."""
    runners = {"limit": lambda *a: limit_step(unet, *a), **runners}
    for fn in runners.values():  # warm-up
        fn(*args)
    times = {name: [] for name in runners}
    for _ in range(repeats):
        for name, fn in runners.items():
            times[name].append(timed(fn, args))
    limit = statistics.median(times["limit"])
    return {name: statistics.median(t) / limit for name, t in times.items() if name != "limit"}


def time_sd15(batches, repeats):
    unet, shape, text_width = build("sd15")
    for batch in batches:
        args = inputs(shape, text_width, batch)
        runners = {label: TrainStep(unet, widths) for label, widths in SD15_WIDTHS.items()}
        ratios = compare(unet, runners, args, repeats)
        for label, ratio in ratios.items():
            target = 1.15 if label == "768-only" else 1.35
            verdict = "ok" if ratio <= target else "ABOVE TARGET"
            print(f"SD1.5 16x16 batch {batch}: step/limit {label:17s} = {ratio:.3f}  (target <= {target}, {verdict})",
                  flush=True)


def _on(device, tensors):
    return tuple(t.to(device) for t in tensors)


def time_sdxl(batches, repeats, device: str, memory: bool):
    unet, shape, text_width = build_sdxl(device)
    for batch in batches:
        args = _on(device, inputs(shape, text_width, batch))
        runners = {label: TrainStep(unet, widths) for label, widths in SDXL_WIDTHS.items()}
        for runner in runners.values():
            runner.hn.to(device)
        ratios = compare(unet, runners, args, repeats)
        peaks = sdxl_peaks(unet, runners, args, device) if memory and device.startswith("cuda") else {}
        for label, ratio in ratios.items():
            target = SDXL_TARGETS[label]
            verdict = "ok" if ratio <= target else "ABOVE TARGET"
            extra = (f"; peak memory step/limit {peaks[label] / peaks['limit']:.3f} (limit peak "
                     f"{peaks['limit'] / 2**20:.0f} MiB)") if peaks else ""
            print(f"SDXL 16x16 batch {batch} ({device}): step/limit {label:17s} = {ratio:.3f}  (target <= {target}, "
                  f"{verdict}){extra}", flush=True)


def sdxl_peaks(unet, runners, args, device) -> dict[str, int]:
    """CUDA: bytes allocated at the peak of one call above what was allocated before it."""
    out = {}
    for name, fn in {"limit": lambda *a: limit_step(unet, *a), **runners}.items():
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn(*args)
        torch.cuda.synchronize(device)
        out[name] = torch.cuda.max_memory_allocated(device) - before
    return out


def time_tiny(repeats):
    unet, shape, text_width = build("tiny")
    widths = (768, 32, 64, 128)
    args = inputs(shape, text_width, 1)
    ratios = compare(unet, {"step": TrainStep(unet, widths), "hn alone": HypernetworkAlone(unet, widths, args)},
                     args, repeats * 3)
    hn = create_hypernetwork("count", sizes=widths)
    unet_params = sum(p.numel() for p in unet.parameters())
    print(f"tiny 8x8 batch 1 (hypernetwork {hn.parameter_count() / 1e6:.1f}M params vs UNet "
          f"{unet_params / 1e6:.1f}M): step/limit = {ratios['step']:.3f}; the hypernetwork's own forward+backward"
          f"+AdamW = {ratios['hn alone']:.3f} x limit; step minus hypernetwork share = "
          f"{ratios['step'] - ratios['hn alone']:.3f} x limit", flush=True)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_probe(model: str, config: str, batch: int) -> int:
    """(run in a subprocess) bytes the peak RSS rose above the resting RSS during one step."""
    unet, shape, text_width = build(model)
    args = inputs(shape, text_width, batch)
    step = (lambda *a: limit_step(unet, *a)) if config == "limit" else TrainStep(unet, SD15_WIDTHS[config])
    with torch.no_grad():
        unet(args[0], args[3], context=args[1])
    try:  # Linux >= 4.0: writing 5 resets the peak RSS (VmHWM) to the current RSS
        Path("/proc/self/clear_refs").write_text("5")
        resting = _status_kib("VmRSS")
        step(*args)
        return (_status_kib("VmHWM") - resting) * 1024
    except OSError:  # no /proc: fall back to ru_maxrss, which may include the build's transient peak
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        step(*args)
        return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024


def measure_memory(batches):
    for batch in batches:
        peaks = {}
        for config in ["limit", *SD15_WIDTHS]:
            done = subprocess.run([sys.executable, __file__, "--probe", config, "--probe-batch", str(batch)],
                                  capture_output=True, text=True, check=True)
            peaks[config] = json.loads(done.stdout.strip().splitlines()[-1])["bytes"]
        for config in SD15_WIDTHS:
            print(f"SD1.5 16x16 batch {batch}: peak memory step/limit {config:17s} = "
                  f"{peaks[config] / max(peaks['limit'], 1):.3f} (limit peak {peaks['limit'] / 2**20:.0f} MiB above resting)",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-tiny", action="store_true")
    parser.add_argument("--no-sd15", action="store_true")
    parser.add_argument("--sdxl", action="store_true", help="also time the full-size SDXL UNet (about 10 GB)")
    parser.add_argument("--device", default="cpu", help="device for --sdxl (e.g. cuda)")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--probe-batch", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps({"bytes": memory_probe("sd15", args.probe, args.probe_batch)}))
        return
    batches = [int(b) for b in args.batches.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; ratios to the limit "
          f"(frozen UNet forward+backward to its attention inputs, no hypernetwork)", flush=True)
    if not args.no_tiny:
        time_tiny(args.repeats)
    if not args.no_sd15:
        time_sd15(batches, args.repeats)
    if args.sdxl:
        time_sdxl(batches, args.repeats, args.device, memory=not args.no_memory)
    if not args.no_memory and not args.no_sd15:
        measure_memory(batches)


if __name__ == "__main__":
    main()
