"""The end-to-end demo: a hypernetwork learns a style on the embedded `tiny-shapes` model, offline, on a CPU.

raw images -> preprocess -> create -> train -> resume from a checkpoint -> generate with and without
`<hypernet:NAME:weight>` -> a before/after grid. The raw images are shapes in the "blueprint" style
(`shapes_data`): white on blue, whatever colours their captions name; `tiny-shapes` draws the colours
a prompt names, so white-on-blue shapes in the grid's tagged row come from the hypernetwork.
Everything is written under one output folder.
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from PIL import Image

from .errors import InvalidOptionError

DEMO_MODEL = "tiny-shapes"
STYLE = "blueprint"
# Held-out prompts for the before/after grid: shape/colour pairs the style set's captions do not contain,
# and no white or blue, so that the style's colours in the tagged row cannot come from the prompt.
HELD_OUT_PROMPTS = ("a red star", "a yellow circle on a green background", "a green cross on a purple background",
                    "a purple square")
# Measured on the grid's 8 images: mean distance to white/blue 148 untagged; tagged 16 after 200 steps at
# 3e-4 (every image white on blue), 74 at 1e-4 (white shapes, half the backgrounds still the prompt's).
DEMO_STEPS = 200
DEMO_LEARNING_RATE = "3e-4"
SAMPLING = dict(steps=20, cfg_scale=5.0, width=64, height=64)


def write_sample_images(folder: Path, count: int = 24, seed: int = 0, size: int = 96) -> list[Path]:
    """Write `count` blueprint-style shape images with their captions (.txt), plus one broken file."""
    from .standalone.shapes_data import random_scene, save_scene_image

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    held_out = {tuple(p.split()[1:3]) for p in HELD_OUT_PROMPTS}
    paths = []
    while len(paths) < count:
        scene = random_scene(rng)
        if (scene.colour, scene.shape) in held_out:
            continue
        path = folder / f"{len(paths):02d}-{scene.colour}-{scene.shape}.png"
        save_scene_image(scene, path, size=size, style=STYLE)
        path.with_suffix(".txt").write_text(scene.caption(), encoding="utf-8")
        paths.append(path)
    (folder / "broken.png").write_bytes(b"not really a png")
    return paths


def run_demo(out: Path, steps: int = DEMO_STEPS, seed: int = 0, model: str = DEMO_MODEL,
             learning_rate: str = DEMO_LEARNING_RATE,
             grid_path: Path | None = None) -> dict:
    """Run the whole pipeline under `out` and return a summary dict (paths, statistics, timings)."""
    import torch

    from . import create_hypernetwork
    from .library import HypernetworkLibrary
    from .preprocess import PreprocessOptions, preprocess
    from .progress import terminal_progress
    from .standalone import load_host
    from .storage import save_hypernetwork
    from .training.data import DataOptions
    from .training.host import PreviewParams
    from .training.options import TrainingOptions
    from .training.trainer import Trainer

    if steps < 2:
        raise InvalidOptionError("The demo needs at least 2 steps (it resumes from the halfway checkpoint).")
    if out.exists() and any(out.iterdir()):
        raise InvalidOptionError(f"{out} already exists and is not empty; pass --out with a new folder.")
    started = time.monotonic()
    summary: dict = {"out": str(out), "model": model}
    print(f"[1/6] writing {STYLE}-style shape images (white on blue, captions naming other colours) to "
          f"{out / 'raw'}")
    write_sample_images(out / "raw", seed=seed)

    print("[2/6] preprocessing (64x64, crop to fill, flipped copies)")
    report = preprocess(PreprocessOptions(source=str(out / "raw"), destination=str(out / "dataset"), width=64,
                                          height=64, caption_action="copy", flip=True),
                        progress=terminal_progress(description="preprocess"))
    print(report.summary())

    host = load_host(model)
    torch.manual_seed(seed)
    print(f"[3/6] creating a hypernetwork for widths {list(host.attention_widths)} on the {model} model")
    hn = create_hypernetwork("demo", sizes=host.attention_widths, layer_structure=(1, 2, 1),
                             activation="linear", weight_init="Normal", seed=seed)
    source = save_hypernetwork(hn, out / "hypernetworks" / "demo.pt")

    half = steps // 2
    log_dir = out / "train"
    # "[filewords]" alone: the captions are already in the words the model was trained on.
    data = DataOptions(data_dir=str(out / "dataset"), name="demo", template="filewords", width=64,
                       height=64, batch_size=4, seed=seed)
    preview = PreviewParams(prompt=HELD_OUT_PROMPTS[0], seed=seed, **SAMPLING)

    def train(hypernetwork: Path, until: int, resume: bool):
        options = TrainingOptions(hypernetwork=str(hypernetwork), log_dir=str(log_dir), steps=until, data=data,
                                  learning_rate=learning_rate, save_every=half, preview_every=half,
                                  preview=preview, resume=resume)
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

    print("[6/6] generating held-out prompts without and with the trained hypernetwork")
    library = HypernetworkLibrary([second.final_path.parent])
    comparison = compare_style(host, library, second.final_path.stem, HELD_OUT_PROMPTS, seeds=(seed, seed + 1))
    grid_path = grid_path or out / "compare.png"
    comparison["grid"].save(grid_path)
    summary.update(grid=str(grid_path), distance_plain=comparison["distance_plain"],
                   distance_tagged=comparison["distance_tagged"], pixel_difference=comparison["difference"],
                   seconds=round(time.monotonic() - started, 1))
    print(f"mean distance to the white/blue palette without the tag {summary['distance_plain']:.1f}, with "
          f"<hypernet:{second.final_path.stem}:1> {summary['distance_tagged']:.1f} (0 = only white and blue)\n"
          f"wrote {grid_path} (top row: no tag; bottom row: with the tag)\n"
          f"done in {summary['seconds']} s; everything is in {out}")
    return summary


def compare_style(host, library, name: str, prompts, seeds=(0, 1), weight: float = 1.0) -> dict:
    """Generate every prompt x seed without and with `<hypernet:name:weight>`.

    Returns the images, their mean distance to the blueprint palette (the style's statistic, see
    `shapes_data.palette_distance`), the mean absolute pixel difference and a grid image: top row
    without the tag, bottom row with it.
    """
    import numpy as np

    from .standalone.shapes_data import palette_distance
    from .tagged_generation import generate_with_tags

    plain, tagged = [], []
    for prompt in prompts:
        for seed in seeds:
            plain.append(host.generate(prompt, seed=seed, **SAMPLING))
            result = generate_with_tags(host, library, f"{prompt} <hypernet:{name}:{weight:g}>", seed=seed, **SAMPLING)
            if not result.applied and weight != 0:
                raise InvalidOptionError(f"the hypernetwork {name!r} was not found: {result.warnings}")
            tagged.append(result.image)
    arrays = [[np.asarray(image) for image in row] for row in (plain, tagged)]
    return {
        "plain": plain, "tagged": tagged, "grid": _grid([plain, tagged]),
        "distance_plain": float(np.mean([palette_distance(a) for a in arrays[0]])),
        "distance_tagged": float(np.mean([palette_distance(a) for a in arrays[1]])),
        "difference": float(np.mean([np.abs(a.astype(np.float32) - b.astype(np.float32)).mean()
                                     for a, b in zip(*arrays)])),
    }


def _grid(rows: list[list[Image.Image]], scale: int = 2, gap: int = 4) -> Image.Image:
    """Rows of equally sized images, scaled up (nearest) with a white gap between them."""
    width, height = rows[0][0].size
    cell_w, cell_h = width * scale, height * scale
    grid = Image.new("RGB", (len(rows[0]) * (cell_w + gap) - gap, len(rows) * (cell_h + gap) - gap), "white")
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            grid.paste(image.resize((cell_w, cell_h), Image.NEAREST), (c * (cell_w + gap), r * (cell_h + gap)))
    return grid


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("hypernet-demo"), help="new folder for every output")
    parser.add_argument("--steps", type=int, default=DEMO_STEPS, help="total training steps (resumes at half)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=DEMO_MODEL, help="built-in model or SD1 checkpoint (default %(default)s)")
    parser.add_argument("--learning-rate", default=DEMO_LEARNING_RATE,
                        help="hypernetwork learning rate (default %(default)s)")
    parser.add_argument("--grid", type=Path, default=None, help="also where to write the before/after grid PNG")


def run(args: argparse.Namespace) -> int:
    run_demo(args.out, steps=args.steps, seed=args.seed, model=args.model, learning_rate=args.learning_rate,
             grid_path=args.grid)
    return 0
