"""Build a tiny, randomly initialised SD1-layout checkpoint for the verification webui.

Writes three things, none of which needs a download:

* ``<out-dir>/<name>.safetensors``: a state dict with the key layout of a real SD1 checkpoint
  (``model.diffusion_model.*``, ``first_stage_model.*``, ``cond_stage_model.transformer.*`` and the
  noise-schedule buffers), built from real ``ldm`` and ``transformers`` modules with small widths;
* ``<out-dir>/<name>.yaml``: the model config the webui reads from beside the checkpoint;
* an offline Hugging Face cache under ``--hf-home`` that answers ``openai/clip-vit-large-patch14``
  with a 768-wide, two-layer ``CLIPTextModel`` config and a CLIP tokenizer whose vocabulary is
  rebuilt from open_clip's ``bpe_simple_vocab_16e6.txt.gz``.

Run it with the webui venv's Python and ``--ldm-path`` pointing at the Stability-AI
``stablediffusion`` checkout (``<webui>/repositories/stable-diffusion-stability-ai``).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

CLIP_REPO = "openai/clip-vit-large-patch14"
TEXT_WIDTH = 768
LATENT_CHANNELS = 4
SCALE_FACTOR = 0.18215
LINEAR_START, LINEAR_END, TIMESTEPS = 0.00085, 0.0120, 1000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", type=Path, required=True, help="folder for the .safetensors and .yaml")
    p.add_argument("--name", default="tiny-sd1", help="checkpoint file stem (default: tiny-sd1)")
    p.add_argument("--hf-home", type=Path, required=True, help="HF_HOME folder to fill with the offline cache")
    p.add_argument("--ldm-path", type=Path, required=True, help="checkout of Stability-AI/stablediffusion")
    p.add_argument("--unet-channels", type=int, default=32, help="UNet base width, a multiple of 32 (320 = real SD1)")
    p.add_argument("--channel-mult", default="1,2", help="UNet width multipliers per level (SD1: 1,2,4,4)")
    p.add_argument("--text-layers", type=int, default=2, help="CLIP text encoder depth (SD1: 12)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="overwrite an existing checkpoint of that name")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- model config

def unet_params(channels: int, mult: list[int]) -> dict:
    """UNet arguments: SD1 structure (spatial transformers, context 768) at a small width."""
    if channels % 32:
        raise SystemExit(f"--unet-channels must be a multiple of 32 (GroupNorm uses 32 groups), got {channels}")
    return {
        "image_size": 32, "in_channels": LATENT_CHANNELS, "out_channels": LATENT_CHANNELS,
        "model_channels": channels, "attention_resolutions": [2 ** i for i in range(len(mult))],
        "num_res_blocks": 1, "channel_mult": mult, "num_heads": 8, "use_spatial_transformer": True,
        "transformer_depth": 1, "context_dim": TEXT_WIDTH, "use_checkpoint": True, "legacy": False,
    }


def vae_params() -> dict:
    """Autoencoder arguments: four levels (latent factor 8, as the webui assumes), 32 channels."""
    return {
        "double_z": True, "z_channels": LATENT_CHANNELS, "resolution": 256, "in_channels": 3, "out_ch": 3,
        "ch": 32, "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0,
    }


def model_config(unet: dict, vae: dict) -> dict:
    """The LatentDiffusion config the webui instantiates with ``instantiate_from_config``."""
    return {"model": {
        "base_learning_rate": 1.0e-04,
        "target": "ldm.models.diffusion.ddpm.LatentDiffusion",
        "params": {
            "linear_start": LINEAR_START, "linear_end": LINEAR_END, "num_timesteps_cond": 1,
            "log_every_t": 200, "timesteps": TIMESTEPS, "first_stage_key": "jpg", "cond_stage_key": "txt",
            "image_size": 64, "channels": LATENT_CHANNELS, "cond_stage_trainable": False,
            "conditioning_key": "crossattn", "monitor": "val/loss_simple_ema",
            "scale_factor": SCALE_FACTOR, "use_ema": False,
            "unet_config": {"target": "ldm.modules.diffusionmodules.openaimodel.UNetModel", "params": unet},
            "first_stage_config": {
                "target": "ldm.models.autoencoder.AutoencoderKL",
                "params": {"embed_dim": LATENT_CHANNELS, "monitor": "val/rec_loss", "ddconfig": vae,
                           "lossconfig": {"target": "torch.nn.Identity"}},
            },
            "cond_stage_config": {"target": "ldm.modules.encoders.modules.FrozenCLIPEmbedder"},
        },
    }}


def clip_config(layers: int, mlp_width: int = 4 * TEXT_WIDTH) -> dict:
    """A CLIPConfig whose text tower is 768 wide; the vision tower is tiny and never loaded."""
    text = {"hidden_size": TEXT_WIDTH, "intermediate_size": mlp_width, "num_hidden_layers": layers,
            "num_attention_heads": 12, "max_position_embeddings": 77, "vocab_size": 49408,
            "projection_dim": TEXT_WIDTH, "hidden_act": "quick_gelu", "bos_token_id": 0, "eos_token_id": 2,
            "pad_token_id": 1, "model_type": "clip_text_model"}
    vision = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 2,
              "image_size": 32, "patch_size": 16, "projection_dim": TEXT_WIDTH, "model_type": "clip_vision_model"}
    return {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": TEXT_WIDTH,
            "logit_scale_init_value": 2.6592, "text_config": text, "vision_config": vision,
            "torch_dtype": "float32"}


# ----------------------------------------------------------------------------- tokenizer files

def byte_symbols() -> list[str]:
    """The printable stand-in character of each byte, in CLIP's vocabulary order (GPT-2/CLIP byte-level BPE).

    The order is the one CLIP's vocabulary uses (ids 0-255): bytes that are printable themselves
    first, in byte order, then the others, whose stand-ins are chr(256), chr(257), ... So "!" is id 0
    and "a</w>" is id 320, as in openai/clip-vit-large-patch14's vocab.json.
    """
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    others = [b for b in range(256) if b not in keep]
    return [chr(b) for b in keep] + [chr(256 + i) for i in range(len(others))]


def clip_bpe_files(vocab_gz: Path) -> tuple[dict[str, int], list[str]]:
    """Token→id map and merge list of the CLIP tokenizer, rebuilt from the BPE merges file."""
    lines = gzip.decompress(vocab_gz.read_bytes()).decode("utf-8").split("\n")
    merges = lines[1:49152 - 256 - 2 + 1]
    symbols = byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {tok: i for i, tok in enumerate(tokens)}, merges


def find_bpe_vocab() -> Path:
    """open_clip ships the merges file as package data; find it without importing open_clip."""
    import importlib.util
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("open_clip is not installed in this Python; install open-clip-torch (it ships the BPE vocab)")
    path = Path(list(spec.submodule_search_locations)[0]) / "bpe_simple_vocab_16e6.txt.gz"
    if not path.is_file():
        raise SystemExit(f"{path} is missing; reinstall open-clip-torch")
    return path


def write_hf_cache(hf_home: Path, layers: int, mlp_width: int = 4 * TEXT_WIDTH) -> Path:
    """Create ``hub/models--openai--clip-vit-large-patch14`` with a config and tokenizer snapshot."""
    vocab, merges = clip_bpe_files(find_bpe_vocab())
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
               "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    files = {
        "config.json": json.dumps(clip_config(layers, mlp_width), indent=2),
        "vocab.json": json.dumps(vocab, ensure_ascii=False),
        "merges.txt": "#version: 0.2\n" + "\n".join(merges) + "\n",
        "special_tokens_map.json": json.dumps(special, indent=2),
        "tokenizer_config.json": json.dumps({**special, "model_max_length": 77, "do_lower_case": True,
                                             "errors": "replace", "add_prefix_space": False,
                                             "tokenizer_class": "CLIPTokenizer"}, indent=2),
    }
    revision = hashlib.sha1("".join(files.values()).encode()).hexdigest()
    repo_dir = hf_home / "hub" / ("models--" + CLIP_REPO.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / revision
    for name, text in files.items():
        write_atomic(snapshot / name, text.encode("utf-8"))
    write_atomic(repo_dir / "refs" / "main", revision.encode())
    # transformers looks for this marker; without it, offline runs print a cache-migration warning
    write_atomic(hf_home / "hub" / "version.txt", b"1")
    return snapshot


# ----------------------------------------------------------------------------- weights

def noise_schedule() -> dict:
    """The DDPM buffers an SD1 checkpoint stores (linear-in-sqrt beta schedule)."""
    import torch
    betas = torch.linspace(LINEAR_START ** 0.5, LINEAR_END ** 0.5, TIMESTEPS, dtype=torch.float64) ** 2
    alphas = 1.0 - betas
    ac = torch.cumprod(alphas, dim=0)
    ac_prev = torch.cat([torch.ones(1, dtype=torch.float64), ac[:-1]])
    post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
    buffers = {
        "betas": betas, "alphas_cumprod": ac, "alphas_cumprod_prev": ac_prev,
        "sqrt_alphas_cumprod": ac.sqrt(), "sqrt_one_minus_alphas_cumprod": (1.0 - ac).sqrt(),
        "log_one_minus_alphas_cumprod": (1.0 - ac).log(), "sqrt_recip_alphas_cumprod": (1.0 / ac).sqrt(),
        "sqrt_recipm1_alphas_cumprod": (1.0 / ac - 1).sqrt(), "posterior_variance": post_var,
        "posterior_log_variance_clipped": post_var.clamp(min=1e-20).log(),
        "posterior_mean_coef1": betas * ac_prev.sqrt() / (1.0 - ac),
        "posterior_mean_coef2": (1.0 - ac_prev) * alphas.sqrt() / (1.0 - ac),
    }
    return {k: v.float() for k, v in buffers.items()}


def unzero(module) -> None:
    """Give zero-initialised output layers random weights, so gradients reach earlier layers."""
    import torch
    for sub in module.modules():
        weight = getattr(sub, "weight", None)
        if isinstance(sub, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.Conv1d)) and not weight.abs().any():
            sub.reset_parameters()


def build_state_dict(unet: dict, vae: dict, layers: int, snapshot: Path) -> dict:
    """Instantiate the three real sub-models and prefix their weights as SD1 checkpoints do."""
    import torch
    from ldm.modules.diffusionmodules.model import Decoder, Encoder
    from ldm.modules.diffusionmodules.openaimodel import UNetModel
    from transformers import CLIPTextConfig, CLIPTextModel

    parts = {"model.diffusion_model.": UNetModel(**unet)}
    parts["first_stage_model.encoder."] = Encoder(**vae)
    parts["first_stage_model.decoder."] = Decoder(**vae)
    parts["first_stage_model.quant_conv."] = torch.nn.Conv2d(2 * LATENT_CHANNELS, 2 * LATENT_CHANNELS, 1)
    parts["first_stage_model.post_quant_conv."] = torch.nn.Conv2d(LATENT_CHANNELS, LATENT_CHANNELS, 1)
    text_cfg = CLIPTextConfig.from_pretrained(str(snapshot))
    if text_cfg.num_hidden_layers != layers:
        raise SystemExit(f"HF cache config has {text_cfg.num_hidden_layers} text layers, expected {layers}")
    text_model = CLIPTextModel(text_cfg)
    with torch.no_grad():
        # Real CLIP's final LayerNorm has a non-zero bias. With zeros every token vector averages to
        # exactly 0 for some prompts, and the webui's default "Original" emphasis divides by that mean.
        text_model.text_model.final_layer_norm.bias.normal_(0.0, 0.1)
    parts["cond_stage_model.transformer."] = text_model
    state = {}
    for prefix, module in parts.items():
        unzero(module)
        state.update({prefix + k: (v.float() if v.is_floating_point() else v).detach().contiguous()
                      for k, v in module.state_dict().items()})
    position_ids = "cond_stage_model.transformer.text_model.embeddings.position_ids"
    state.setdefault(position_ids, torch.arange(77).unsqueeze(0))
    state.update(noise_schedule())
    state["scale_factor"] = torch.tensor(SCALE_FACTOR)
    return state


# ----------------------------------------------------------------------------- output

def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes through a temp file in the same folder, then rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ckpt = args.out_dir / f"{args.name}.safetensors"
    if ckpt.exists() and not args.force:
        raise SystemExit(f"{ckpt} already exists; pass --force to replace it")
    if not (args.ldm_path / "ldm").is_dir():
        raise SystemExit(f"--ldm-path {args.ldm_path} has no ldm/ package; point it at the stablediffusion checkout")
    sys.path.insert(0, str(args.ldm_path))

    import torch
    import yaml
    from safetensors.torch import save

    torch.manual_seed(args.seed)
    mult = [int(m) for m in args.channel_mult.split(",")]
    unet, vae = unet_params(args.unet_channels, mult), vae_params()
    snapshot = write_hf_cache(args.hf_home, args.text_layers)
    state = build_state_dict(unet, vae, args.text_layers, snapshot)
    write_atomic(ckpt, save(state, metadata={"format": "pt"}))
    write_atomic(ckpt.with_suffix(".yaml"), yaml.safe_dump(model_config(unet, vae), sort_keys=False).encode())
    params = sum(v.numel() for v in state.values())
    print(f"wrote {ckpt} ({params / 1e6:.1f}M values, {ckpt.stat().st_size / 2**20:.1f} MiB), "
          f"{ckpt.with_suffix('.yaml').name}, and HF cache {snapshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
