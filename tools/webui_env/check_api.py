"""Smoke-check a running verification webui through its HTTP API (standard library only).

Checks, in order: txt2img returns a PNG; a hypernetwork can be created; ``<hypernet:NAME:1>`` in
the prompt changes the image (same seed); a few training steps on a folder of generated images
finish without error and change the image again.

    python tools/webui_env/check_api.py --url http://127.0.0.1:7860 --work /work/webui-env/check
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import time
import urllib.request
from pathlib import Path

GEN = {"steps": 4, "width": 64, "height": 64, "sampler_name": "Euler a", "seed": 1, "cfg_scale": 5}


def call(url: str, path: str, body: dict | None = None, timeout: float = 1800) -> dict | list:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def txt2img(url: str, prompt: str, **overrides) -> bytes:
    reply = call(url, "/sdapi/v1/txt2img", {**GEN, "prompt": prompt, **overrides})
    png = base64.b64decode(reply["images"][0])
    if not png.startswith(b"\x89PNG"):
        raise SystemExit(f"txt2img for {prompt!r} did not return a PNG")
    return png


def digest(png: bytes) -> str:
    return hashlib.sha256(png).hexdigest()[:12]


def make_dataset(url: str, folder: Path, count: int = 4) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"img{i}.png").write_bytes(txt2img(url, "a blue sphere", seed=100 + i, steps=2))
        (folder / f"img{i}.txt").write_text("a blue sphere\n")


def train_request(name: str, data: Path, log: Path, steps: int) -> dict:
    return {
        "id_task": "check-api", "hypernetwork_name": name, "learn_rate": "0.001", "batch_size": 2,
        "gradient_step": 1, "data_root": str(data), "log_directory": str(log), "training_width": 64,
        "training_height": 64, "varsize": False, "steps": steps, "clip_grad_mode": "disabled",
        "clip_grad_value": "0.1", "shuffle_tags": False, "tag_drop_out": 0, "latent_sampling_method": "once",
        "use_weight": False, "create_image_every": 0, "save_hypernetwork_every": steps,
        "template_filename": "hypernetwork.txt", "preview_from_txt2img": False, "preview_prompt": "",
        "preview_negative_prompt": "", "preview_steps": 2, "preview_sampler_name": "Euler a",
        "preview_cfg_scale": 5, "preview_seed": 1, "preview_width": 64, "preview_height": 64,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:7860")
    p.add_argument("--work", type=Path, required=True, help="folder for the training images and logs")
    p.add_argument("--name", default="check-hn", help="hypernetwork name (overwritten if it exists)")
    p.add_argument("--steps", type=int, default=4)
    args = p.parse_args(argv)
    url, name, t0 = args.url.rstrip("/"), args.name, time.monotonic()

    base = digest(txt2img(url, "a red cube"))
    print(f"txt2img ok: {base}")
    created = call(url, "/sdapi/v1/create/hypernetwork", {
        "name": name, "enable_sizes": ["768", "320", "640", "1280"], "overwrite_old": True,
        "layer_structure": "1,2,1", "activation_func": "relu", "weight_init": "Normal"})
    listed = [h["name"] for h in call(url, "/sdapi/v1/hypernetworks")]
    if name not in listed:
        raise SystemExit(f"create failed: {created}; listed: {listed}")
    print(f"create ok: {created['info']}")
    with_hn = digest(txt2img(url, f"a red cube <hypernet:{name}:1>"))
    if with_hn == base:
        raise SystemExit("the hypernetwork prompt tag did not change the image")
    print(f"generate with <hypernet:{name}:1> ok: {with_hn} (differs from {base})")

    make_dataset(url, args.work / "data")
    info = call(url, "/sdapi/v1/train/hypernetwork",
                train_request(name, args.work / "data", args.work / "log", args.steps))["info"]
    if "error: None" not in info:
        raise SystemExit(f"training failed: {info}")
    trained = digest(txt2img(url, f"a red cube <hypernet:{name}:1>"))
    if trained == with_hn:
        raise SystemExit("training did not change the hypernetwork's effect")
    print(f"train {args.steps} steps ok: {info}; image now {trained}")
    print(f"all checks passed in {time.monotonic() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
