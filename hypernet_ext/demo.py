"""The end-to-end demo: every user-facing step on the embedded tiny model, offline, in minutes on a CPU.

raw images -> preprocess -> create -> train -> resume from a checkpoint -> generate with
`<hypernet:NAME:weight>`. Everything is written under one output folder.
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from .errors import InvalidOptionError
from .hypernetwork import create_hypernetwork
from .library import HypernetworkLibrary
from .preprocess import PreprocessOptions, preprocess
from .progress import terminal_progress
from .storage import save_hypernetwork
from .tagged_generation import generate_with_tags
from .training.data_options import DataOptions
from .training.options import TrainingOptions
from .training.trainer import Trainer

SUBJECTS = ("circle", "square", "triangle", "stripes")
PALETTES = {"warm": ((220, 90, 40), (250, 200, 80)), "cool": ((40, 90, 200), (120, 220, 230))}


def write_sample_images(folder: Path, count: int = 8, seed: int = 0) -> list[Path]:
    """Generate a small captioned image set of simple shapes in two colour styles (plus one broken file)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        subject = SUBJECTS[i % len(SUBJECTS)]
        palette = "warm" if i % 2 == 0 else "cool"
        size = rng.choice([(96, 96), (128, 96), (96, 128), (160, 120)])
        image = _draw(subject, PALETTES[palette], size, rng)
        path = folder / f"{i:02d}-{subject}.png"
        image.save(path)
        path.with_suffix(".txt").write_text(f"{subject}, {palette} colours, flat shapes", encoding="utf-8")
        paths.append(path)
    (folder / "broken.png").write_bytes(b"not really a png")
    return paths


def _draw(subject: str, palette, size, rng: random.Random) -> Image.Image:
    back, front = palette
    image = Image.new("RGB", size, back)
    draw = ImageDraw.Draw(image)
    w, h = size
    cx, cy, r = w // 2 + rng.randint(-8, 8), h // 2 + rng.randint(-8, 8), min(w, h) // 3
    if subject == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=front)
    elif subject == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=front)
    elif subject == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=front)
    else:
        for x in range(0, w, 12):
            draw.rectangle([x, 0, x + 5, h], fill=front)
    return image


def run_demo(out: Path, steps: int = 40, seed: int = 0, model: str = "tiny") -> dict:
    """Run the whole pipeline under `out` and return a summary dict (paths, losses, timings)."""
    from .standalone import load_host  # the standalone stack (ldm, transformers): only when the demo runs

    if steps < 2:
        raise InvalidOptionError("The demo needs at least 2 steps (it resumes from the halfway checkpoint).")
    if out.exists() and any(out.iterdir()):
        raise InvalidOptionError(f"{out} already exists and is not empty; pass --out with a new folder.")
    started = time.monotonic()
    summary: dict = {"out": str(out)}
    print(f"[1/6] writing sample images to {out / 'raw'}")
    write_sample_images(out / "raw", seed=seed)

    print("[2/6] preprocessing (64x64, crop to fill, flipped copies)")
    report = preprocess(PreprocessOptions(source=str(out / "raw"), destination=str(out / "dataset"), width=64,
                                          height=64, caption_action="copy", flip=True),
                        progress=terminal_progress(description="preprocess"))
    print(report.summary())

    host = load_host(model)
    torch.manual_seed(seed)
    print(f"[3/6] creating a hypernetwork for widths {list(host.attention_widths)}")
    hn = create_hypernetwork("demo", sizes=host.attention_widths, layer_structure=(1, 2, 1),
                             activation="relu", weight_init="XavierNormal", seed=seed)
    source = save_hypernetwork(hn, out / "hypernetworks" / "demo.pt")

    half = steps // 2
    log_dir = out / "train"
    data = DataOptions(data_dir=str(out / "dataset"), name="demo", template="style_filewords", width=64,
                       height=64, batch_size=2, shuffle_tags=True, seed=seed)

    def train(hypernetwork: Path, until: int, resume: bool):
        options = TrainingOptions(hypernetwork=str(hypernetwork), log_dir=str(log_dir), steps=until, data=data,
                                  learning_rate="1e-4", save_every=half, preview_every=half, resume=resume)
        return Trainer(host, options, terminal_progress(description="train")).run()

    print(f"[4/6] training {half} steps")
    first = train(source, half, resume=False)
    print(first.message)
    checkpoint = first.final_path
    print(f"[5/6] resuming from {checkpoint.name} (optimizer state {checkpoint.name}.optim) to step {steps}")
    second = train(checkpoint, steps, resume=True)
    print(second.message)
    summary.update(checkpoints=[str(p) for p in first.checkpoints + second.checkpoints],
                   previews=[str(p) for p in first.previews + second.previews], final=str(second.final_path))

    print("[6/6] generating with and without the trained hypernetwork")
    library = HypernetworkLibrary([second.final_path.parent])
    prompt = f"circle, warm colours, flat shapes <hypernet:{second.final_path.stem}:1.0>"
    sampling = dict(steps=12, seed=seed, width=64, height=64)
    styled = generate_with_tags(host, library, prompt, **sampling)
    for warning in styled.warnings:
        print("warning:", warning)
    if not styled.applied:
        raise InvalidOptionError(f"the trained hypernetwork was not found next to {second.final_path}")
    plain, styled = host.generate(styled.prompt, **sampling), styled.image
    plain_path, styled_path = out / "generated-plain.png", out / "generated-hypernet.png"
    plain.save(plain_path)
    styled.save(styled_path)
    difference = _mean_abs_difference(plain, styled)
    summary.update(prompt=prompt, generated=[str(plain_path), str(styled_path)], pixel_difference=difference,
                   seconds=round(time.monotonic() - started, 1))
    print(f"prompt: {prompt}\nwrote {plain_path.name} and {styled_path.name}; mean pixel difference "
          f"{difference:.2f}/255 (the hypernetwork changes the image)\ndone in {summary['seconds']} s; "
          f"everything is in {out}")
    return summary


def _mean_abs_difference(a: Image.Image, b: Image.Image) -> float:
    import numpy as np

    return float(np.abs(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)).mean())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("hypernet-demo"), help="new folder for every output")
    parser.add_argument("--steps", type=int, default=40, help="total training steps (resumes at half)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", choices=("tiny", "tiny-sdxl"), default="tiny",
                        help="built-in toy model: SD1 architecture (tiny) or SDXL architecture (tiny-sdxl)")


def run(args: argparse.Namespace) -> int:
    run_demo(args.out, steps=args.steps, seed=args.seed, model=args.model)
    return 0
