"""Stand-in of `modules.devices` (CPU only)."""
import contextlib

import torch

cpu = torch.device("cpu")
device = device_interrogate = device_gfpgan = device_esrgan = device_codeformer = cpu
dtype = dtype_vae = dtype_unet = dtype_inference = torch.float32
unet_needs_upcast = False


def autocast(disable: bool = False):
    """The webui enters torch autocast only for half precision; float32 runs plainly."""
    return contextlib.nullcontext()


def cond_cast_unet(x):
    return x.to(dtype_unet)


def cond_cast_float(x):
    return x.float()


def torch_gc() -> None:
    pass
