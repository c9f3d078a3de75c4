"""Shared builders for the UI tests: a PanelContext over folders and a given host."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from hypernet_ext.jobs import JobManager
from hypernet_ext.ui.context import PanelContext


def make_context(tmp: Path, host: Optional[Any] = None, widths=(768, 32, 64, 128)) -> PanelContext:
    hn_dir, log_dir = tmp / "hypernetworks", tmp / "runs"
    hn_dir.mkdir(exist_ok=True)

    def get_host():
        if host is None:
            from hypernet_ext.errors import HypernetError
            raise HypernetError("No model is loaded; load a checkpoint first.")
        return host
    return PanelContext(hypernetwork_dirs=lambda: [str(hn_dir)], log_dir=lambda: str(log_dir), host=get_host,
                        model_widths=lambda: widths, jobs=JobManager(), defaults={"width": 64, "height": 64})


def train_values(hypernetwork: str, data_dir: Path, log_dir: Path, **overrides) -> dict:
    """Every Train panel field with the panel's defaults, sized for the tiny model."""
    values = dict(
        hypernetwork=hypernetwork, log_dir=str(log_dir), steps=4, learning_rate="1e-3", lr_scheduler="schedule",
        cosine_cycle_steps=64, cosine_cycle_mult=1.0, cosine_warmup=5, cosine_min_lr=6e-7, cosine_gamma=1.0,
        grad_clip="none", grad_clip_value="0.1", optimizer="AdamW", optimizer_args="", grad_accum=1,
        precision="fp32", gradient_checkpointing=False, save_every=2, preview_every=2, save_final_to_source=False,
        loss_guard_threshold=0, loss_guard_steps=20, csv_every=1, tensorboard=False, save_optimizer_state=True,
        data_dir=str(data_dir), template="style_filewords", width=64.0, height=64.0, resize="crop", buckets=False,
        batch_size=1.0, shuffle_tags=False, keep_first_tags=0, tag_dropout=0.0, flip=False, latent_sampling="once",
        use_alpha_weight=False, seed=0, filename_word_regex="", filename_join_string=" ", recursive=False,
        preview_from_txt2img=False, preview_prompt="", preview_negative="", preview_steps=2, preview_cfg=7.0,
        preview_seed=1)
    values.update(overrides)
    return values
