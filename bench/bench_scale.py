"""Training speed and peak memory on the SD1.5 and SDXL shapes, per precision and low-VRAM option.

`--mode speed`: for one precision (`--dtype`: frozen UNet weights in that dtype, run under autocast,
hypernetwork weights fp32, GradScaler for fp16, SDPA attention), the training step of the default
network (every attention width) and of a text-width-only network (768-only for SD1.5, 2048-only
for SDXL) against the limit (the same frozen UNet's forward + backward down to its attention
inputs, no hypernetwork), interleaved, medians: step/limit, it/s and peak memory.

`--mode memory`: the low-VRAM combinations for the default network, each on top of the previous:
fp32 UNet -> half-precision UNet weights (`--dtype`) -> + gradient checkpointing -> + 8-bit AdamW
(bitsandbytes; reported as skipped when it is not installed). Peak memory and step time for each.
On CUDA, peak = `torch.cuda.max_memory_allocated` over one step (weights, activations, gradients,
optimizer state: what must fit on the card); "above rest" is the part the step adds. On the CPU,
the step's peak RSS rise above the resting RSS (`/proc/self/clear_refs`), plus the weights' bytes.
The VAE and text encoders are not in these figures: with latents and conditioning cached and
`offload_encoders` on, they leave the GPU after caching (SD1.5: ~0.2 GB in fp16, SDXL: ~1.6 GB).

Models: random weights, real shapes (SD1.5: ldm UNetModel; SDXL: diffusers UNet2DConditionModel,
see bench_inference.py). Usage:
    python bench/bench_scale.py --shape sd15 --latent 64 --dtype fp16 --mode speed
    python bench/bench_scale.py --shape sdxl --latent 128 --dtype bf16 --mode memory
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_inference import DTYPES, build_unet, make_inputs, timed, to_dtype  # noqa: E402
from hypernet_ext import create_hypernetwork  # noqa: E402
from hypernet_ext.attach import attach_hypernetworks, attention_widths  # noqa: E402
from hypernet_ext.errors import InvalidOptionError  # noqa: E402
from hypernet_ext.training.grad_checkpoint import GradientCheckpointing  # noqa: E402
from hypernet_ext.training.optim import build_optimizer  # noqa: E402


def unet_call(unet, shape: str, inputs: dict, cond: torch.Tensor) -> torch.Tensor:
    if shape.startswith("sdxl"):
        return unet(inputs["x"], inputs["t"], encoder_hidden_states=cond, added_cond_kwargs=inputs["added"]).sample
    return unet(inputs["x"], timesteps=inputs["t"], context=cond)


class Runner:
    """One configuration: a callable doing one training step (or the limit) on fixed inputs."""

    def __init__(self, unet, shape, inputs, widths=None, optimizer="AdamW", checkpointing=False):
        self.unet, self.shape, self.inputs = unet, shape, inputs
        self.dtype = next(unet.parameters()).dtype
        self.checkpointing = checkpointing
        self.hn = None
        if widths is not None:
            device = inputs["x"].device
            self.hn = create_hypernetwork("bench", sizes=widths, seed=0).to(device)
            self.hn.train()
            self.optimizer = build_optimizer(optimizer, self.hn.parameters(), 1e-5)[1]
            self.scaler = torch.amp.GradScaler(device.type, enabled=self.dtype == torch.float16)
        self.noise = torch.randn_like(inputs["x"], dtype=torch.float32)

    def autocast(self):
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.inputs["x"].device.type, dtype=self.dtype)

    def __call__(self) -> None:
        cond = self.inputs["context"]
        with GradientCheckpointing(self.unet, self.checkpointing):
            if self.hn is None:  # the limit: gradient must reach every attention input, no further
                cond = cond.detach().clone().requires_grad_(True)
                with self.autocast():
                    loss = torch.nn.functional.mse_loss(unet_call(self.unet, self.shape, self.inputs, cond).float(),
                                                        self.noise)
                loss.backward()
                return
            with attach_hypernetworks(self.unet, [(self.hn, 1.0)]):
                with self.autocast():
                    loss = torch.nn.functional.mse_loss(unet_call(self.unet, self.shape, self.inputs, cond).float(),
                                                        self.noise)
                self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory(fn, device, weights_bytes: int) -> tuple[int, int]:
    """(peak bytes during one step incl. resident weights, bytes the step added above rest)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        resting = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        return peak, peak - resting
    try:  # Linux: writing 5 resets the peak RSS (VmHWM) to the current RSS
        Path("/proc/self/clear_refs").write_text("5")
        resting = _status_kib("VmRSS")
        fn()
        added = (_status_kib("VmHWM") - resting) * 1024
    except OSError:
        return -1, -1
    return weights_bytes + added, added


def tensor_bytes(*modules) -> int:
    return sum(p.numel() * p.element_size() for m in modules if m is not None for p in m.parameters())


def gib(n: int) -> str:
    return "   n/a" if n < 0 else f"{n / 2**30:6.2f}"


def speed(args, device, dtype) -> None:
    unet = build_unet(args.shape, device, dtype)
    inputs = make_inputs(args.shape, args.batch, args.latent, device, dtype)
    widths = attention_widths(unet)
    runners = {"limit": Runner(unet, args.shape, inputs),
               f"default {list(widths)}": Runner(unet, args.shape, inputs, widths),
               f"{widths[0]}-only": Runner(unet, args.shape, inputs, widths[:1])}
    memory = {}
    for name, runner in runners.items():
        runner()  # warm-up (kernels, allocator, optimizer state)
        memory[name] = peak_memory(runner, device, tensor_bytes(unet, runner.hn))
    times = {name: [] for name in runners}
    for _ in range(args.repeats):
        for name, runner in runners.items():
            times[name].append(timed(runner, device))
    limit = statistics.median(times["limit"])
    print(f"\n{args.shape} training, latent {args.latent}x{args.latent} (x8 = image side), batch {args.batch}, "
          f"UNet weights {args.dtype} + autocast, SDPA, {device_name(device)}; median of {args.repeats}", flush=True)
    print(f"  {'configuration':<30s} {'step/limit':>10s} {'it/s':>7s} {'peak GiB':>9s} {'above rest':>10s}")
    for name in runners:
        median = statistics.median(times[name])
        ratio = "      -" if name == "limit" else f"{median / limit:9.3f}x"
        print(f"  {name:<30s} {ratio:>10s} {1 / median:7.2f} {gib(memory[name][0]):>9s} {gib(memory[name][1]):>10s}",
              flush=True)


def low_vram(args, device, dtype) -> None:
    unet = build_unet(args.shape, device, torch.float32)
    inputs32 = make_inputs(args.shape, args.batch, args.latent, device, torch.float32)
    widths = attention_widths(unet)
    half = {k: (v.to(dtype) if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in inputs32.items()}
    if "added" in inputs32:
        half["added"] = {k: v.to(dtype) for k, v in inputs32["added"].items()}
    combos = [("fp32 UNet, AdamW", torch.float32, False, "AdamW"),
              (f"{args.dtype} UNet weights", dtype, False, "AdamW"),
              ("+ gradient checkpointing", dtype, True, "AdamW"),
              ("+ 8-bit AdamW", dtype, True, "AdamW8bit")]
    print(f"\n{args.shape} low-VRAM options, default network {list(widths)}, latent {args.latent}x{args.latent}, "
          f"batch {args.batch}, {device_name(device)} (cumulative, top to bottom)", flush=True)
    print(f"  {'combination':<30s} {'peak GiB':>9s} {'above rest':>10s} {'s/step':>8s}")
    for label, weights_dtype, checkpointing, optimizer in combos:
        to_dtype(unet, weights_dtype)
        inputs = inputs32 if weights_dtype == torch.float32 else half
        try:
            runner = Runner(unet, args.shape, inputs, widths, optimizer=optimizer, checkpointing=checkpointing)
        except InvalidOptionError as exc:
            print(f"  {label:<30s} skipped: {exc}", flush=True)
            continue
        runner()
        peak, added = peak_memory(runner, device, tensor_bytes(unet, runner.hn))
        seconds = statistics.median(timed(runner, device) for _ in range(args.repeats))
        print(f"  {label:<30s} {gib(peak):>9s} {gib(added):>10s} {seconds:8.3f}", flush=True)
        del runner
        if device.type == "cuda":
            torch.cuda.empty_cache()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="sd15", choices=["sd15", "sdxl", "sdxl-tiny"])
    parser.add_argument("--mode", default="speed", choices=["speed", "memory"])
    parser.add_argument("--latent", type=int, default=None, help="latent side (GPU default 64 sd15 / 128 sdxl; CPU 16)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="fp16", choices=[d for d in DTYPES if d != "fp32"] + ["fp32"])
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.latent is None:
        args.latent = 16 if device.type == "cpu" else (128 if args.shape == "sdxl" else 64)
    torch.backends.cuda.matmul.allow_tf32 = True
    print(f"torch {torch.__version__}", flush=True)
    (speed if args.mode == "speed" else low_vram)(args, device, DTYPES[args.dtype])


if __name__ == "__main__":
    main()
