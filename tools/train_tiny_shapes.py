#!/usr/bin/env python
"""Train the embedded `tiny-shapes` model from scratch, offline, and record how it went.

    python tools/train_tiny_shapes.py --device cpu --threads 1 --max-minutes 60 --out cpu/tiny-shapes.safetensors  # 2 cores
    python tools/train_tiny_shapes.py --device cuda --preset gpu --out gpu/tiny-shapes.safetensors  # one GPU, minutes

Stages (all seeded by --seed; images come from `hypernet_ext.standalone.shapes_data`):
1. Render a pool of captioned shape images (64x64).
2. VAE: the ldm encoder/decoder of `TINY_SHAPES.vae` learns to reconstruct the pool (L1 + MSE and a tiny
   KL term); its latent is then rescaled exactly (1x1 convs) so scaled latents have unit
   standard deviation under SD's fixed factor 0.18215.
3. Text encoder + UNet, jointly: a one-layer CLIP text model (width 768) whose token rows for the
   caption vocabulary are trained (the rest stay zero) and whose position embedding is fixed at zero
   (the causal attention alone orders words, so extra words in a prompt do not shift the meaning of
   the others), and the ldm UNet with cross-attention at 768. Epsilon prediction on SD's scaled-linear
   schedule, min-SNR(5) loss weights, 10% empty captions so classifier-free guidance works, an EMA of
   the weights for the result.
4. Evaluation with the standalone host's own DDIM sampler: for every colour x shape x seed, "a <colour>
   <shape>" must draw a shape whose dominant colour is the prompt's; "... on a <colour> background"
   must colour the border. Rates go into the metrics.

Each stage ends at its step count or at its share of --max-minutes, whichever comes first; the
learning rate follows the progress through whichever ends first, so a time-bounded run still anneals.
Step counts therefore depend on the machine's speed: the metrics JSON records them, and passing them
back (--vae-steps N --unet-steps M with a --max-minutes that never binds) repeats the run's length on
any device; the schedule then follows steps instead of time, which differs only by the run's speed
variation, so the result is close to, not bit-identical with, the shipped weights.

The shipped weights: `--device cuda --preset gpu --max-minutes 3.5` on one H100 (torch 2.11,
transformers 4.57), 2297 VAE and 1354 UNet steps in 224 s; see weights/tiny-shapes.json. On a CPU:
`--device cpu --threads 1` (on a machine shared with other jobs one thread is far faster than two).
Output: the weights (fp16 safetensors, see `tiny_shapes` for the token-row packing), a metrics JSON
and a sample grid PNG beside them. Needs torch, transformers < 5, safetensors, einops, regex, numpy,
the `ldm` package (and omegaconf, which it imports) and the CLIP vocabulary file of open-clip-torch
(not open_clip itself); Pillow only for the sample grid. tools/make_gpu_vendor.sh gathers the
non-wheel parts for a bare GPU machine.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PRESETS = {
    # pool: images rendered once; batch sizes; step counts; learning rates
    "cpu": dict(pool=6000, vae_batch=16, vae_steps=1500, unet_batch=64, unet_steps=4000, eval_seeds=1, eval_limit=48),
    "gpu": dict(pool=60000, vae_batch=64, vae_steps=6000, unet_batch=256, unet_steps=16000, eval_seeds=4,
                eval_limit=48),
    "smoke": dict(pool=64, vae_batch=2, vae_steps=2, unet_batch=4, unet_steps=2, eval_seeds=1, eval_limit=4),
}


def _allow_missing_pillow() -> bool:
    """ldm.util imports PIL at the top for a text-drawing helper never used here; a bare GPU image may lack
    Pillow. Returns whether the real Pillow is there (the sample grid needs it)."""
    try:
        import PIL.Image  # noqa: F401
        return True
    except ImportError:
        stub = types.ModuleType("PIL")
        for name in ("Image", "ImageDraw", "ImageFont"):
            sub = types.ModuleType(f"PIL.{name}")
            setattr(stub, name, sub)
            sys.modules[f"PIL.{name}"] = sub
        sys.modules["PIL"] = stub
        return False


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="torch device: cpu or cuda (default cpu)")
    parser.add_argument("--preset", choices=tuple(PRESETS), default=None,
                        help="sizes and step counts (default: gpu on cuda, cpu otherwise)")
    parser.add_argument("--out", type=Path, default=None,
                        help="weights file (default hypernet_ext/standalone/weights/tiny-shapes.safetensors)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing weights file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-minutes", type=float, default=60.0,
                        help="wall-clock budget for training (VAE 40%%, UNet 60%%); evaluation comes on top")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    for name in ("pool", "vae_batch", "vae_steps", "unet_batch", "unet_steps", "eval_seeds", "eval_limit"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=None, help="override the preset")
    parser.add_argument("--vae-lr", type=float, default=1e-3)
    parser.add_argument("--unet-lr", type=float, default=6e-4)
    args = parser.parse_args(argv)
    args.preset = args.preset or ("gpu" if str(args.device).startswith("cuda") else "cpu")
    for name, value in PRESETS[args.preset].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


class Progress:
    """Fraction done of a stage: steps or time, whichever is further along."""

    def __init__(self, steps: int, seconds: float):
        self.steps, self.seconds, self.started = steps, seconds, time.monotonic()

    def fraction(self, step: int) -> float:
        return max(step / self.steps, (time.monotonic() - self.started) / self.seconds)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def learning_rate(peak: float, fraction: float, warmup: float = 0.03) -> float:
    """Linear warm-up then cosine decay to 5% of the peak."""
    if fraction < warmup:
        return peak * max(fraction / warmup, 0.01)
    done = min(1.0, (fraction - warmup) / (1 - warmup))
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * done)))


def render_pool(args, device) -> tuple[torch.Tensor, list[str]]:
    """The training images (uint8 on the device to save memory) and their captions."""
    from hypernet_ext.standalone.shapes_data import random_scene, render_batch

    rng = random.Random(args.seed)
    scenes = [random_scene(rng) for _ in range(args.pool)]
    chunks = [render_batch(scenes[i:i + 1024], device=device) for i in range(0, len(scenes), 1024)]
    pixels = torch.cat(chunks)
    return ((pixels + 1) * 127.5).round().to(torch.uint8), [scene.caption() for scene in scenes]


def as_float(pixels: torch.Tensor) -> torch.Tensor:
    return pixels.float() / 127.5 - 1.0


def train_vae(args, pool: torch.Tensor, device, seconds: float, log) -> tuple[torch.nn.Module, dict]:
    from hypernet_ext.standalone.tiny_shapes import TINY_SHAPES
    from hypernet_ext.standalone.vae import LatentAutoencoder

    vae = LatentAutoencoder(TINY_SHAPES.vae).to(device).train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0, betas=(0.9, 0.99))
    progress, generator = Progress(args.vae_steps, seconds), torch.Generator(device="cpu").manual_seed(args.seed + 1)
    losses, curve, step = [], [], 0
    while progress.fraction(step) < 1.0:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(args.vae_lr, progress.fraction(step))
        index = torch.randint(0, len(pool), (args.vae_batch,), generator=generator).to(device)
        x = as_float(pool[index])
        moments = vae.quant_conv(vae.encoder(x))
        mean, logvar = moments.chunk(2, dim=1)
        logvar = logvar.clamp(-30.0, 20.0)
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator).to(device)
        rebuilt = vae.decoder(vae.post_quant_conv(z))
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1.0 - logvar).mean()
        loss = F.l1_loss(rebuilt, x) + F.mse_loss(rebuilt, x) + 1e-6 * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        step += 1
        if step % 100 == 0 or step == 1:
            curve.append([step, round(sum(losses[-100:]) / len(losses[-100:]), 5)])
            log(f"vae step {step} loss {curve[-1][1]:.4f} ({progress.elapsed():.0f} s)")
    vae.eval()
    stats = normalise_latents(vae, pool, device)
    stats.update(steps=step, seconds=round(progress.elapsed(), 1), first_loss=losses[0],
                 final_loss=sum(losses[-50:]) / len(losses[-50:]), loss_curve=curve)
    return vae, stats


@torch.no_grad()
def normalise_latents(vae, pool: torch.Tensor, device, sample: int = 1024) -> dict:
    """Shift and scale the latent exactly (quant_conv / post_quant_conv) so mean 0, std 1 after the SD factor."""
    x = as_float(pool[:sample].to(device))
    moments = torch.cat([vae.quant_conv(vae.encoder(part)) for part in x.split(128)])
    z = moments.chunk(2, dim=1)[0]
    channels = z.shape[1]
    shift = z.mean(dim=(0, 2, 3))
    k = 1.0 / (vae.scale_factor * float(z.std()))
    quant, post = vae.quant_conv, vae.post_quant_conv
    post.bias += post.weight[:, :, 0, 0] @ shift
    post.weight /= k
    quant.weight[:channels] *= k
    quant.bias[:channels] = (quant.bias[:channels] - shift) * k
    quant.bias[channels:] += 2 * math.log(k)
    rebuilt = torch.cat([vae.decode(vae.encode_distribution(part)[0]) for part in x.split(128)])
    mse = float(F.mse_loss(rebuilt, x))
    return {"latent_scale": k, "reconstruction_mse": mse,
            "reconstruction_psnr_db": 10 * math.log10(4.0 / max(mse, 1e-12))}


class CompactTextEncoder(torch.nn.Module):
    """A CLIP text model whose token embedding holds only the caption vocabulary's rows during training."""

    def __init__(self, vocabulary_ids: torch.Tensor, seed: int):
        super().__init__()
        from hypernet_ext.standalone.text_encoder import build_clip_text_model
        from hypernet_ext.standalone.tiny_shapes import TINY_SHAPES

        torch.manual_seed(seed)
        self.model = build_clip_text_model(TINY_SHAPES.text)
        embeddings = self.model.text_model.embeddings
        embeddings.token_embedding = torch.nn.Embedding(len(vocabulary_ids), TINY_SHAPES.text.width)
        torch.nn.init.normal_(embeddings.token_embedding.weight, std=0.5)
        torch.nn.init.zeros_(embeddings.position_embedding.weight)
        embeddings.position_embedding.weight.requires_grad_(False)
        lookup = torch.full((TINY_SHAPES.text.vocab_size,), -1, dtype=torch.long)
        lookup[vocabulary_ids] = torch.arange(len(vocabulary_ids))
        self.register_buffer("lookup", lookup, persistent=False)
        self.vocabulary_ids = vocabulary_ids

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=self.lookup[token_ids]).last_hidden_state

    def checkpoint_weights(self) -> dict[str, torch.Tensor]:
        """`cond_stage_model.transformer.*` tensors with the full 49408-row embedding (zeros elsewhere)."""
        from hypernet_ext.standalone.model_config import SD1_TEXT_PREFIX
        from hypernet_ext.standalone.tiny_shapes import TINY_SHAPES

        weights = {SD1_TEXT_PREFIX + k: v.detach().float().cpu() for k, v in self.model.state_dict().items()}
        rows = weights[SD1_TEXT_PREFIX + "text_model.embeddings.token_embedding.weight"]
        full = torch.zeros((TINY_SHAPES.text.vocab_size, rows.shape[1]))
        full[self.vocabulary_ids] = rows
        weights[SD1_TEXT_PREFIX + "text_model.embeddings.token_embedding.weight"] = full
        weights[SD1_TEXT_PREFIX + "text_model.embeddings.position_ids"] = torch.arange(TINY_SHAPES.text.positions)[None]
        return weights


def tokenize(captions: list[str]) -> torch.Tensor:
    from hypernet_ext.standalone.tokenizer import shared_tokenizer

    tokenizer, cache = shared_tokenizer("clip"), {}
    rows = []
    for caption in captions:
        if caption not in cache:
            cache[caption] = tokenizer([caption])[0]
        rows.append(cache[caption])
    return torch.stack(rows)


class EMA:
    def __init__(self, modules, decay: float):
        self.params = [p for m in modules for p in m.parameters() if p.requires_grad]
        self.shadow = [p.detach().clone() for p in self.params]
        self.decay, self.updates = decay, 0

    @torch.no_grad()
    def update(self):
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1 - decay)

    @torch.no_grad()
    def copy_to_model(self):
        for p, s in zip(self.params, self.shadow):
            p.copy_(s)


def train_unet(args, vae, pool, captions, device, seconds: float, log):
    from hypernet_ext.standalone.host import sd_alphas_cumprod
    from hypernet_ext.standalone.tiny_shapes import TINY_SHAPES, caption_token_ids
    from hypernet_ext.standalone.unet import build_unet

    with torch.no_grad():
        stats = [vae.encode_distribution(as_float(part.to(device))) for part in pool.split(256)]
    means, stds = torch.cat([s[0] for s in stats]), torch.cat([s[1] for s in stats])
    tokens = tokenize(captions).to(device)
    empty = tokenize([""])[0].to(device)
    ids = caption_token_ids()
    torch.manual_seed(args.seed + 2)
    unet = build_unet(TINY_SHAPES.unet).to(device).train()
    text = CompactTextEncoder(ids, args.seed + 3).to(device).train()
    params = [p for m in (unet, text) for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.unet_lr, weight_decay=0.01, betas=(0.9, 0.99))
    ema = EMA((unet, text), decay=0.999 if args.unet_steps >= 5000 else 0.995)
    alphas = sd_alphas_cumprod().to(device)
    snr = alphas / (1 - alphas)
    weight_of_t = torch.clamp(snr, max=5.0) / snr  # min-SNR weighting for epsilon prediction
    progress, generator = Progress(args.unet_steps, seconds), torch.Generator(device="cpu").manual_seed(args.seed + 4)
    losses, curve, step = [], [], 0
    while progress.fraction(step) < 1.0:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(args.unet_lr, progress.fraction(step))
        index = torch.randint(0, len(pool), (args.unet_batch,), generator=generator).to(device)
        noise_latent = torch.randn((args.unet_batch, 4, 8, 8), generator=generator).to(device)
        latents = means[index] + stds[index] * noise_latent
        ids_batch = tokens[index]
        drop = (torch.rand(args.unet_batch, generator=generator) < 0.1).to(device)
        ids_batch = torch.where(drop[:, None], empty[None], ids_batch)
        t = torch.randint(0, 1000, (args.unet_batch,), generator=generator).to(device)
        eps = torch.randn(latents.shape, generator=generator).to(device)
        a = alphas[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * latents + (1 - a).sqrt() * eps
        out = unet(noisy, t, context=text(ids_batch))
        loss = (weight_of_t[t] * ((out - eps) ** 2).mean(dim=(1, 2, 3))).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        ema.update()
        losses.append(loss.item())
        step += 1
        if step % 200 == 0 or step == 1:
            curve.append([step, round(sum(losses[-200:]) / len(losses[-200:]), 5)])
            log(f"unet step {step} loss {curve[-1][1]:.4f} ({progress.elapsed():.0f} s)")
    ema.copy_to_model()
    unet.eval(), text.eval()
    return unet, text, {"steps": step, "seconds": round(progress.elapsed(), 1), "first_loss": losses[0],
                        "final_loss": sum(losses[-100:]) / len(losses[-100:]), "vocabulary_tokens": len(ids),
                        "loss_curve": curve}


def checkpoint_state_dict(unet, vae, text) -> dict[str, torch.Tensor]:
    from hypernet_ext.standalone.model_config import UNET_PREFIX, VAE_PREFIX

    weights = {UNET_PREFIX + k: v.detach().float().cpu() for k, v in unet.state_dict().items()}
    weights.update({VAE_PREFIX + k: v.detach().float().cpu() for k, v in vae.state_dict().items()})
    weights.update(text.checkpoint_weights())
    return weights


def evaluate(weights, device, seeds: int, limit: int, log) -> tuple[dict, list]:
    """Colour and background accuracy of images the standalone host generates from the checkpoint."""
    from hypernet_ext.standalone.host import host_from_state_dict
    from hypernet_ext.standalone.shapes_data import SHAPE_COLOURS, SHAPES
    from hypernet_ext.standalone.tiny_shapes import SAMPLING, prompt_accuracy

    host = host_from_state_dict(weights, source="tiny-shapes training", device=device)
    colour_hits, background_hits, total, samples = 0, 0, 0, []
    colours = list(SHAPE_COLOURS)
    pairs = [(c, s) for c in colours for s in SHAPES][:limit]
    for seed in range(seeds):
        found = prompt_accuracy(host, pairs, seed)
        colour_hits, background_hits = colour_hits + found["colour_hits"], background_hits + found["background_hits"]
        total += found["count"]
        if seed == 0:  # one image per colour (shapes rotating), plain and with a background
            picks = [i * len(SHAPES) + (i % len(SHAPES)) for i in range(len(colours))]
            picks = [i for i in picks if i < len(pairs)] or list(range(len(pairs)))
            samples = [found["images"][i] for i in picks] + [found["background_images"][i] for i in picks]
    result = {"colour_accuracy": colour_hits / total, "background_accuracy": background_hits / total,
              "prompts_per_test": total, "sampling": dict(SAMPLING)}
    log(f"colour accuracy {result['colour_accuracy']:.3f}, background accuracy {result['background_accuracy']:.3f}"
        f" over {total} prompts each")
    return result, samples


def save_grid(samples, path: Path) -> None:
    from PIL import Image

    from hypernet_ext.standalone.shapes_data import to_uint8

    row = len(samples) // 2
    grid = torch.cat([torch.cat(list(samples[:row]), dim=2), torch.cat(list(samples[row:]), dim=2)], dim=1)
    Image.fromarray(to_uint8(grid), "RGB").resize((grid.shape[2] * 2, grid.shape[1] * 2), Image.NEAREST).save(path)


def main(argv=None) -> int:
    args = parse_args(argv)
    has_pillow = _allow_missing_pillow()
    from safetensors.torch import save as safetensors_bytes

    from hypernet_ext.atomic_files import atomic_write
    from hypernet_ext.standalone.tiny_shapes import WEIGHTS_PATH, pack_token_embedding

    out = Path(args.out or WEIGHTS_PATH)
    if out.exists() and not args.overwrite:
        print(f"{out} already exists; pass --overwrite to replace it or --out for another file", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(args.seed)
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:7.1f} s] {message}", flush=True)

    budget = args.max_minutes * 60
    pool, captions = render_pool(args, device)
    log(f"rendered {len(captions)} images, e.g. {captions[0]!r}")
    vae, vae_stats = train_vae(args, pool, device, 0.4 * budget, log)
    log(f"vae: {vae_stats}")
    unet, text, unet_stats = train_unet(args, vae, pool, captions, device, budget - (time.monotonic() - started), log)
    log(f"unet: {unet_stats}")
    weights = checkpoint_state_dict(unet, vae, text)
    evaluation, samples = evaluate(weights, device, args.eval_seeds, args.eval_limit, log)
    packed = pack_token_embedding(weights, text.vocabulary_ids)
    packed = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in packed.items()}
    metadata = {"modelspec.architecture": "stable-diffusion-v1", "modelspec.title": "tiny-shapes",
                "modelspec.prediction_type": "eps", "hypernet_ext.trained_by": "tools/train_tiny_shapes.py",
                "hypernet_ext.seed": str(args.seed)}
    out.parent.mkdir(parents=True, exist_ok=True)
    data = safetensors_bytes(packed, metadata=metadata)
    atomic_write(out, lambda handle: handle.write(data))
    metrics = {
        "command": " ".join([os.path.basename(sys.argv[0])] + (argv if argv is not None else sys.argv[1:])),
        "seed": args.seed, "preset": args.preset, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "threads": torch.get_num_threads(), "torch": torch.__version__, "pool_images": args.pool,
        "vae": vae_stats, "unet": unet_stats, "evaluation": evaluation,
        "total_seconds": round(time.monotonic() - started, 1), "weights_bytes": out.stat().st_size,
    }
    text = (json.dumps(metrics, indent=2) + "\n").encode("utf-8")
    atomic_write(out.with_suffix(".json"), lambda handle: handle.write(text))
    if has_pillow:
        save_grid(samples, out.with_name(out.stem + "-samples.png"))
    log(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) and {out.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
