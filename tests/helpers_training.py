"""Shared builders for trainer and CLI tests: a tiny dataset, a saved hypernetwork, options."""
from __future__ import annotations

from pathlib import Path

import torch

from hypernet_ext import create_hypernetwork
from hypernet_ext.storage import save_hypernetwork
from hypernet_ext.training.data import DataOptions
from hypernet_ext.training.options import TrainingOptions
from hypernet_ext.training.run_folder import CHECKPOINT_FOLDER

from helpers_data import write_image
from helpers_webui import write_hypernetwork

SMALL_SIZES = (32, 64, 128)


def make_dataset(folder: Path, count: int = 3, identical: bool = False) -> Path:
    """`count` 64x64 noise images with captions (all the same image and caption when identical)."""
    for i in range(count):
        seed = 0 if identical else i
        caption = "a red photo, tag" if identical else f"a photo, tag{i}, red"
        write_image(folder, f"img{i}.png", seed=seed, caption=caption)
    return folder


def make_hypernetwork(folder: Path, name: str = "hn", sizes=SMALL_SIZES, dropout=None, seed: int = 0,
                      **kwargs) -> Path:
    hn = create_hypernetwork(name, sizes=sizes, dropout_structure=dropout, seed=seed, **kwargs)
    return save_hypernetwork(hn, Path(folder) / f"{name}.pt")


def make_options(tmp: Path, hypernetwork: Path, data_dir: Path, steps: int = 4, log: str = "log",
                 data: dict | None = None, **kwargs) -> TrainingOptions:
    data_options = DataOptions(str(data_dir), "hn", width=64, height=64, **(data or {}))
    defaults = dict(learning_rate="1e-3", save_every=0, preview_every=0)
    defaults.update(kwargs)
    return TrainingOptions(hypernetwork=str(hypernetwork), log_dir=str(tmp / log), steps=steps,
                           data=data_options, **defaults)


def state(path: Path) -> dict[str, torch.Tensor]:
    from hypernet_ext.storage import load_hypernetwork
    return {k: v.clone() for k, v in load_hypernetwork(path).state_dict().items()}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def make_run(root, name="style", stamp="20260102-030405", steps=(2, 4)):
    """A run folder as training writes it: `<root>/<name>/<stamp>/hypernetworks/<name>-<step>.pt` (+ loss.csv)."""
    run = root / name / stamp
    for step in steps:
        write_hypernetwork(run / CHECKPOINT_FOLDER, f"{name}-{step}", seed=100 + step)
    (run / "loss.csv").write_text("step,epoch,epoch_step,loss,learn_rate\n" + "".join(
        f"{s},0,{s},{0.5 / s},0.001\n" for s in steps))
    return run
