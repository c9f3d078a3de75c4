"""The standalone `tiny` SD1 model as a single-file checkpoint the real webui can load.

The prompt-parity reference (tests/data/webui_conditioning_reference.json) is computed by the
webui's own code from this file, and tests/test_prompt_parity_webui.py rebuilds it bit for bit, so
both sides condition with the same weights. It is `hypernet_ext.standalone.tiny.tiny_checkpoint
("sd1", seed=0)` with one change: the text encoder's final LayerNorm gets a seeded non-zero bias
(real CLIP's is non-zero; with zeros the webui's "Original" emphasis divides by a zero mean for
some prompts, see README).

Writes ``<out-dir>/<name>.safetensors`` and ``<name>.yaml`` (the LatentDiffusion config the webui
reads from beside a checkpoint), and with ``--hf-home`` the offline Hugging Face cache whose
``openai/clip-vit-large-patch14`` config matches this text encoder (2 layers, MLP 1536).

    python tools/webui_env/standalone_tiny_checkpoint.py --out-dir /work/webui-env/models --hf-home /work/webui-env/hf
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BIAS_SEED = 12  # seed of the final LayerNorm bias (std 0.1)
FINAL_NORM_BIAS = "cond_stage_model.transformer.text_model.final_layer_norm.bias"


def _sibling():
    """tools/webui_env/make_tiny_checkpoint.py (config layout and HF cache writer), loaded by path."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_tiny_checkpoint", HERE / "make_tiny_checkpoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checkpoint_state() -> tuple[dict, dict]:
    """(state dict, safetensors metadata): deterministic for a given torch version."""
    import torch

    from hypernet_ext.standalone.tiny import tiny_checkpoint

    weights, metadata = tiny_checkpoint("sd1", seed=0)
    generator = torch.Generator().manual_seed(BIAS_SEED)
    bias = weights[FINAL_NORM_BIAS]
    weights[FINAL_NORM_BIAS] = (torch.randn(bias.shape, generator=generator) * 0.1).to(bias.dtype)
    return weights, metadata


def webui_config() -> dict:
    """The webui-readable LatentDiffusion config with the standalone tiny model's sizes."""
    from hypernet_ext.standalone.tiny import TINY_SD1

    model_config = _sibling().model_config
    unet = TINY_SD1.unet.ldm_kwargs()
    unet.update(use_checkpoint=True)
    unet.pop("use_fp16", None)
    vae = TINY_SD1.vae
    ddconfig = {"double_z": True, "z_channels": vae.latent_channels, "resolution": 256, "in_channels": 3,
                "out_ch": 3, "ch": vae.base_channels, "ch_mult": list(vae.channel_mult),
                "num_res_blocks": vae.num_res_blocks, "attn_resolutions": [], "dropout": 0.0}
    return model_config(unet, ddconfig)


def write(out_dir: Path, name: str, hf_home: Path | None) -> Path:
    import yaml
    from safetensors.torch import save

    from hypernet_ext.atomic_files import atomic_write
    from hypernet_ext.standalone.tiny import TINY_SD1

    weights, metadata = checkpoint_state()
    path = out_dir / f"{name}.safetensors"
    out_dir.mkdir(parents=True, exist_ok=True)
    data = save(weights, metadata=metadata)
    atomic_write(path, lambda f: f.write(data))
    config = yaml.safe_dump(webui_config(), sort_keys=False).encode()
    atomic_write(path.with_suffix(".yaml"), lambda f: f.write(config))
    if hf_home is not None:
        _sibling().write_hf_cache(hf_home, TINY_SD1.text.layers, TINY_SD1.text.mlp_width)
    print(f"wrote {path} (sha256 {hashlib.sha256(data).hexdigest()[:16]}) and {path.with_suffix('.yaml').name}")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--name", default="tiny-standalone-sd1")
    p.add_argument("--hf-home", type=Path, help="also write the matching offline HF cache here")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    write(args.out_dir, args.name, args.hf_home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
