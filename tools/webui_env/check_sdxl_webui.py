"""End-to-end SDXL check against a RUNNING real webui (v1.10.x) with this extension and an SDXL checkpoint.

    python tools/webui_env/check_sdxl_webui.py --webui-dir /path/to/stable-diffusion-webui \
        --hypernetwork-dir /path/to/hypernetworks [--port 7870] [--name sdxlcheck]

Needs only the standard library, numpy and Pillow (the webui's venv has them). Talks to the webui
through its REST API: our `/hypernet-ext/v1` routes and the webui's own `/sdapi/v1/txt2img`.
Checks, printing one line per check and exiting 1 if any fails:
  1. create: the Create panel offers exactly the loaded model's attention widths; REST create with them;
  2. train (REST, batch 2, buckets over two image sizes, checkpoints and previews every 2 steps): the
     last preview is pixel-identical to the webui's own txt2img with that step's checkpoint;
  3. resume that run from its last checkpoint to more steps;
  4. apply with `<hypernet:name:w>`: strength 0 pixel-identical to no tag; trained differs from
     untrained; two tags at once differ from each alone and depend on their order; a 0-strength
     tag beside another changes nothing.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request

import numpy as np
from PIL import Image, ImageDraw

GEN = {"steps": 4, "width": 64, "height": 64, "seed": 1, "sampler_name": "Euler a", "cfg_scale": 5}
FAILED: list[str] = []


def check(label: str, ok: bool, detail: str = "") -> bool:
    print(f"[{'ok' if ok else 'FAIL'}] {label}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILED.append(label)
    return ok


class Webui:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}"

    def call(self, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data, {"Content-Type": "application/json"})
        try:
            return json.loads(urllib.request.urlopen(req, timeout=3600).read())
        except urllib.error.HTTPError as e:
            raise SystemExit(f"{path}: HTTP {e.code}: {e.read().decode()[:800]}")

    def image(self, prompt: str, **settings) -> tuple[np.ndarray, str]:
        reply = self.call("/sdapi/v1/txt2img", {**GEN, **settings, "prompt": prompt})
        img = Image.open(io.BytesIO(base64.b64decode(reply["images"][0]))).convert("RGB")
        return np.asarray(img).astype(np.int16), json.loads(reply["info"])["infotexts"][0]

    def offered_widths(self) -> list[int]:
        for comp in self.call("/config")["components"]:
            props = comp.get("props", {})
            if props.get("elem_id") == "hnx_create_widths":
                return [int(c[0] if isinstance(c, (list, tuple)) else c) for c in props.get("choices", [])]
        raise SystemExit("the Create panel's widths (elem_id hnx_create_widths) are not in /config")

    def wait(self, label: str) -> dict:
        while True:
            s = self.call("/hypernet-ext/v1/status")
            if s["finished"]:
                print(f"  {label}: {s['state']}, step {s['step']}/{s['total']}, loss {s['loss']}, "
                      f"message {s.get('message')!r}, error {s['error']}", flush=True)
                return s
            time.sleep(3)


def make_dataset(folder: str) -> None:
    """Six captioned images in two sizes (64x64 and 96x64), so that buckets are used."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        size = (64, 64) if i % 2 else (96, 64)
        img = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 255, 3)))
        ImageDraw.Draw(img).ellipse([8 + i * 3, 8, 48, 48 - i * 3], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
        img.save(os.path.join(folder, f"img{i}.png"))
        with open(os.path.join(folder, f"img{i}.txt"), "w") as f:
            f.write("a blue sphere, simple background")


def differs(a: np.ndarray, b: np.ndarray) -> tuple[bool, str]:
    diff = np.abs(a - b)
    return bool(diff.any()), f"mean |diff| {diff.mean():.2f}/255"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--webui-dir", required=True)
    ap.add_argument("--hypernetwork-dir", required=True, help="the webui's --hypernetwork-dir")
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", "7870")))
    ap.add_argument("--name", default="sdxlcheck")
    ap.add_argument("--expect-widths", default="", help="comma-separated widths the Create panel must offer")
    args = ap.parse_args()
    w = Webui(args.port)
    name, other = args.name, args.name + "-b"
    out = os.path.join(os.path.abspath(args.webui_dir), "outputs", f"hnx-check-{name}")
    shutil.rmtree(out, ignore_errors=True)

    # 1. create
    widths = w.offered_widths()
    expected = [int(x) for x in args.expect_widths.split(",") if x]
    check("Create panel offers the model's widths", not expected or widths == expected, f"{widths}")
    sizes = ",".join(str(x) for x in widths)
    for net, seed in ((name, 1), (other, 2)):
        made = w.call("/hypernet-ext/v1/hypernetworks", {"name": net, "sizes": sizes, "overwrite": True,
                                                          "init_seed": seed, "weight_init": "Normal"})
        check(f"REST create {net}", made["info"]["sizes"] == widths, f"sizes {made['info']['sizes']}, {made['path']}")

    # 2. train with previews (through the webui's txt2img)
    data, logs = os.path.join(out, "data"), os.path.join(out, "logs")
    make_dataset(data)
    started = w.call("/hypernet-ext/v1/train", {
        "hypernetwork": name, "data_dir": data, "log_dir": logs, "steps": 4, "batch_size": 2, "buckets": True,
        "width": 64, "height": 64, "learning_rate": "0.001", "save_every": 2, "preview_every": 2,
        "preview_prompt": "a blue sphere", "preview_steps": 2, "preview_seed": 7, "preview_cfg": 5})
    print("  train:", started.get("message") or started.get("started"), flush=True)
    s = w.wait("train")
    check("train finished at step 4", s["state"] == "finished" and s["step"] == 4 and not s["error"])
    result = s["result"] or ""
    run = os.path.dirname(os.path.dirname(result))
    previews = sorted(f for f in os.listdir(os.path.join(run, "images")) if f.endswith(".png")) if run else []
    check("previews at steps 2 and 4", previews == [f"{name}-2.png", f"{name}-4.png"], f"{previews}")
    if previews:  # the step-4 preview is the webui's txt2img of the prompt with the step-4 checkpoint
        step4 = f"{name}-step4"
        shutil.copyfile(result, os.path.join(args.hypernetwork_dir, step4 + ".pt"))
        w.call("/hypernet-ext/v1/refresh", {})
        again, _ = w.image(f"a blue sphere <hypernet:{step4}:1>", steps=2, seed=7, cfg_scale=5, sampler_name="DPM++ 2M")
        preview = np.asarray(Image.open(os.path.join(run, "images", previews[-1])).convert("RGB")).astype(np.int16)
        check("step-4 preview pixel-identical to the webui's txt2img with the step-4 file (DPM++ 2M, the "
              "webui's default sampler)", not differs(again, preview)[0], differs(again, preview)[1])

    # 3. resume from that run's last checkpoint
    w.call("/hypernet-ext/v1/resume", {"run": run, "steps": 6, "log_dir": logs})
    s2 = w.wait("resume")
    check("resume finished at step 6", s2["state"] == "finished" and s2["step"] == 6 and not s2["error"])
    resumed = s2["result"] or ""
    check("resume wrote step 6 into the same run", os.path.dirname(os.path.dirname(resumed)) == run, resumed)

    # 4. apply with tags
    trained = f"{name}-trained"
    shutil.copyfile(resumed, os.path.join(args.hypernetwork_dir, trained + ".pt"))
    w.call("/hypernet-ext/v1/refresh", {})
    base, _ = w.image("a red cube")
    img = {}
    for tag in (f"{name}:1", f"{name}:0", f"{trained}:1", f"{trained}:0", f"{trained}:0.5", f"{other}:1"):
        img[tag], info = w.image(f"a red cube <hypernet:{tag}>")
    check("untrained :1 changes the image", *differs(img[f"{name}:1"], base))
    check("trained :1 differs from untrained :1", *differs(img[f"{trained}:1"], img[f"{name}:1"]))
    check("trained :0.5 differs from :1", *differs(img[f"{trained}:0.5"], img[f"{trained}:1"]))
    for tag in (f"{name}:0", f"{trained}:0"):
        check(f"<hypernet:{tag}> pixel-identical to no tag", not differs(img[tag], base)[0])
    ab, info_ab = w.image(f"a red cube <hypernet:{trained}:1> <hypernet:{other}:1>")
    ba, _ = w.image(f"a red cube <hypernet:{other}:1> <hypernet:{trained}:1>")
    check("two tags differ from the first alone", *differs(ab, img[f"{trained}:1"]))
    check("two tags differ from the second alone", *differs(ab, img[f"{other}:1"]))
    check("two tags depend on their order (chained)", *differs(ab, ba))
    check("both tags in the infotext", trained in info_ab and other in info_ab, info_ab.replace("\n", " | ")[-200:])
    a0, _ = w.image(f"a red cube <hypernet:{trained}:1> <hypernet:{other}:0>")
    check("a :0 tag beside another changes nothing", not differs(a0, img[f"{trained}:1"])[0])
    both0, _ = w.image(f"a red cube <hypernet:{trained}:0> <hypernet:{other}:0>")
    check("two :0 tags pixel-identical to no tag", not differs(both0, base)[0])

    print("ALL OK" if not FAILED else f"FAILED: {FAILED}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
