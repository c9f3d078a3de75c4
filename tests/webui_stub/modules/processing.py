"""Stand-in of `modules.processing`: the extra-network call sequence of `process_images`.

Per batch: parse tags from the batch prompts, `extra_networks.activate`, one UNet evaluation on
seeded noise; with hires fix, `activate` again with the hires prompts and a second evaluation;
after all batches `deactivate` (only when the first pass found any tag, as in the webui).
Sampling is reduced to that single evaluation per pass, decoded by the tiny VAE.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from modules import extra_networks, shared


class StableDiffusionProcessing:
    def __init__(self, sd_model=None, prompt="", negative_prompt="", seed=-1, steps=20, cfg_scale=7.0,
                 width=64, height=64, batch_size=1, n_iter=1, sampler_name=None, do_not_save_grid=False,
                 do_not_save_samples=False, override_settings=None, **kwargs):
        self.sd_model = sd_model
        self.prompt, self.negative_prompt = prompt, negative_prompt
        self.seed, self.steps, self.cfg_scale = seed, steps, cfg_scale
        self.width, self.height = width, height
        self.batch_size, self.n_iter = batch_size, n_iter
        self.sampler_name = sampler_name
        self.do_not_save_grid, self.do_not_save_samples = do_not_save_grid, do_not_save_samples
        self.override_settings = override_settings or {}
        self.extra_generation_params: dict = {}
        self.disable_extra_networks = False
        self.scripts = None
        self.iteration = 0
        self.all_prompts = self.prompts = self.extra_network_data = None
        self.closed = False
        self.comments: dict = {}

    def comment(self, text):
        self.comments[text] = 1

    def setup_prompts(self):
        self.all_prompts = [self.prompt] * (self.batch_size * self.n_iter)

    def parse_extra_network_prompts(self):
        self.prompts, self.extra_network_data = extra_networks.parse_prompts(self.prompts)

    def close(self):
        self.closed = True


class StableDiffusionProcessingTxt2Img(StableDiffusionProcessing):
    def __init__(self, enable_hr=False, hr_prompt="", **kwargs):
        super().__init__(**kwargs)
        self.enable_hr, self.hr_prompt = enable_hr, hr_prompt
        self.all_hr_prompts = self.hr_prompts = self.hr_extra_network_data = None

    def setup_prompts(self):
        super().setup_prompts()
        self.all_hr_prompts = [self.hr_prompt or self.prompt] * (self.batch_size * self.n_iter)

    def parse_extra_network_prompts(self):
        super().parse_extra_network_prompts()
        if self.enable_hr:
            hr = self.all_hr_prompts[self.iteration * self.batch_size:(self.iteration + 1) * self.batch_size]
            self.hr_prompts, self.hr_extra_network_data = extra_networks.parse_prompts(hr)


class Processed:
    def __init__(self, p, images, outputs, infotexts):
        self.images, self.outputs, self.infotexts = images, outputs, infotexts
        self.all_prompts = p.all_prompts
        self.prompt = p.prompt


def _evaluate(p, prompts, seed):
    model = shared.sd_model
    generator = torch.Generator().manual_seed(int(seed) if seed not in (None, -1) else 0)
    noise = torch.randn(len(prompts), 4, p.height // 8, p.width // 8, generator=generator)
    cond = model.get_learned_conditioning(prompts)  # the webui's prompt_parser calls this
    with torch.no_grad():
        return model.apply_model(noise, torch.full((len(prompts),), 500, dtype=torch.long), cond)


def _to_image(latent):
    with torch.no_grad():
        pixels = shared.sd_model.decode_first_stage(latent[None])[0]
    array = ((pixels.clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).to(torch.uint8).numpy()
    return Image.fromarray(np.ascontiguousarray(array))


def create_infotext(p, index=0):
    params = {k: v for k, v in p.extra_generation_params.items() if v is not None}
    return p.all_prompts[index] + "\n" + ", ".join(f"{k}: {_quote(str(v))}" for k, v in params.items())


def _quote(text):
    import json
    return text if not any(c in text for c in ",:\n") else json.dumps(text, ensure_ascii=False)


def process_images(p) -> Processed:
    p.setup_prompts()
    outputs, images = [], []
    for n in range(p.n_iter):
        p.iteration = n
        p.prompts = p.all_prompts[n * p.batch_size:(n + 1) * p.batch_size]
        p.parse_extra_network_prompts()
        if not p.disable_extra_networks:
            extra_networks.activate(p, p.extra_network_data)
        latent = _evaluate(p, p.prompts, p.seed)
        if getattr(p, "enable_hr", False):
            if not p.disable_extra_networks:
                extra_networks.activate(p, p.hr_extra_network_data)
            latent = _evaluate(p, p.hr_prompts, p.seed)
        outputs.append(latent)
        images.extend(_to_image(x) for x in latent)
    infotexts = [create_infotext(p, i) for i in range(len(images))]
    if not p.disable_extra_networks and p.extra_network_data:
        extra_networks.deactivate(p, p.extra_network_data)
    return Processed(p, images, outputs, infotexts)
