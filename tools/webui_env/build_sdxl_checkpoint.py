"""Build an SDXL-architecture checkpoint with sgm's own DiffusionEngine from a webui-style yaml (webui venv).

    cd /work/webui-env && venv/bin/python /path/to/repo/tools/webui_env/build_sdxl_checkpoint.py \
        /path/to/repo/tools/webui_env/tiny-sdxl-wide.yaml tiny-sdxl-wide/tiny-sdxl-wide.safetensors
    cp /path/to/repo/tools/webui_env/tiny-sdxl-wide.yaml tiny-sdxl-wide/   # the webui reads the yaml beside it

The weights are sgm's initialisation with seed 0, except that zero-initialised output layers get
random weights (so images depend on the text) and LayerNorm biases are ~N(0, 0.1) (real text
encoders' norms have non-zero biases; the webui's "Original" emphasis divides by a mean). The text
towers need an offline HF cache holding a CLIP-L config (HF_HOME, default /work/webui-env/hf, as
`tools/webui_env/standalone_tiny_checkpoint.py --hf-home` writes) and the open_clip model config
`tiny-sdxl-g.json` (copied into the venv's open_clip/model_configs by this script).
"""
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WEBUI_ENV = Path(os.environ.get("WEBUI_ENV", "/work/webui-env"))
os.environ.setdefault("HF_HOME", str(WEBUI_ENV / "hf"))
os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"
sys.path.insert(0, str(WEBUI_ENV / "stable-diffusion-webui" / "repositories" / "generative-models"))

import open_clip  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from safetensors.torch import save_file  # noqa: E402


def offline_text_model(name, *args, **kwargs):
    """FrozenCLIPEmbedder asks for pretrained weights; the offline cache has only a config."""
    return transformers.CLIPTextModel(transformers.CLIPTextConfig.from_pretrained(name))


def main(yaml_path: Path, out_path: Path) -> None:
    shutil.copy(HERE / "tiny-sdxl-g.json", Path(open_clip.__file__).parent / "model_configs" / "tiny-sdxl-g.json")
    open_clip.factory._rescan_model_configs()
    transformers.CLIPTextModel.from_pretrained = offline_text_model
    import sgm.modules.encoders.modules as encoders
    encoders.CLIPTextModel.from_pretrained = offline_text_model
    from sgm.util import instantiate_from_config

    torch.manual_seed(0)
    model = instantiate_from_config(OmegaConf.load(yaml_path).model)
    with torch.no_grad():
        for module in model.modules():
            weight = getattr(module, "weight", None)
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)) and weight is not None and not weight.abs().any():
                module.reset_parameters()
            if isinstance(module, torch.nn.LayerNorm) and module.bias is not None:
                module.bias.normal_(0.0, 0.1)
        projection = getattr(model.conditioner.embedders[1].model, "text_projection", None)
        if projection is not None:
            torch.nn.init.normal_(projection, std=projection.shape[0] ** -0.5)
    state = {k: (v.detach().float() if v.is_floating_point() else v.detach()).contiguous()
             for k, v in model.state_dict().items()}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out_path), metadata={"format": "pt"})
    print(f"wrote {out_path}: {len(state)} tensors, {sum(v.numel() for v in state.values()) / 1e6:.1f}M values")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
