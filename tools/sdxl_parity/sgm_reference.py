"""Reference outputs of sgm's own code for tiny-sdxl.safetensors (run in the webui venv)."""
import os, shutil, sys
from pathlib import Path
HERE = Path(sys.argv[1]).resolve()  # folder with tiny-sdxl.safetensors/.yaml and ids.npz
WEBUI_ENV = Path("/work/webui-env")
os.environ.setdefault("HF_HOME", str(WEBUI_ENV / "hf"))
os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"
sys.path.insert(0, str(WEBUI_ENV / "stable-diffusion-webui" / "repositories" / "generative-models"))
import open_clip, torch, transformers, numpy as np
from omegaconf import OmegaConf
from safetensors.torch import load_file
open_clip.factory._rescan_model_configs()
def from_config(name, *a, **k):
    return transformers.CLIPTextModel(transformers.CLIPTextConfig.from_pretrained(name))
transformers.CLIPTextModel.from_pretrained = from_config
import sgm.modules.encoders.modules as enc
enc.CLIPTextModel.from_pretrained = from_config
from sgm.util import instantiate_from_config
model = instantiate_from_config(OmegaConf.load(HERE / "tiny-sdxl.yaml").model).eval()
missing, unexpected = model.load_state_dict(load_file(str(HERE / "tiny-sdxl.safetensors")), strict=False)
for _e in model.conditioner.embedders:
    if hasattr(_e, "device"): _e.device = "cpu"
print("missing", missing[:5], "unexpected", unexpected[:5])
ids = torch.tensor(np.load(HERE / "ids.npz")["ids_l"]); ids_g = torch.tensor(np.load(HERE / "ids.npz")["ids_g"])
out = {}
with torch.no_grad():
    e0, e1 = model.conditioner.embedders[0], model.conditioner.embedders[1]
    out["hidden_l"] = e0.transformer(input_ids=ids, output_hidden_states=True).hidden_states[e0.layer_idx].numpy()
    z = e1.encode_with_transformer(ids_g)
    out["pen_g"] = z["penultimate"].numpy(); out["pooled"] = z["pooled"].numpy()
    sizes = torch.tensor([[64., 96., 0., 8., 64., 64.], [128., 64., 16., 0., 64., 64.]])
    batch = {"txt": ["a cat", "a red cube"], "original_size_as_tuple": sizes[:, 0:2],
             "crop_coords_top_left": sizes[:, 2:4], "target_size_as_tuple": sizes[:, 4:6]}
    c = model.conditioner(batch)
    out["crossattn"], out["vector"] = c["crossattn"].numpy(), c["vector"].numpy()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 8, 8, generator=g); t = torch.tensor([10, 700])
    ctx = torch.randn(2, 77, 2048, generator=g); vec = torch.randn(2, 2816, generator=g)
    out["x"], out["t"], out["ctx"], out["vec"], out["sizes"] = x.numpy(), t.numpy(), ctx.numpy(), vec.numpy(), sizes.numpy()
    out["unet"] = model.model.diffusion_model(x, timesteps=t, context=ctx, y=vec).numpy()
    out["vector_sizes_part"] = torch.cat([model.conditioner.embedders[i](sizes[:, 2*(i-2):2*(i-2)+2]) for i in (2, 3, 4)], 1).numpy()
    pix = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    fs = model.first_stage_model
    moments = fs.quant_conv(fs.encoder(pix))
    out["pix"], out["moments"] = pix.numpy(), moments.numpy()
    lat = torch.randn(1, 4, 8, 8, generator=g)
    out["lat"], out["decoded"] = lat.numpy(), model.decode_first_stage(lat).numpy()
    out["scale_factor"] = np.array(model.scale_factor)
np.savez(HERE / "ref.npz", **out)
print("ok", {k: v.shape for k, v in out.items()})
