"""The training dataset: a folder of images and captions -> cached latents -> one batch per step.

`TrainingData(host, options)` reads every image once (odd or broken files are skipped and
reported), encodes latents at build time (`once` keeps one sample, `deterministic` the mean,
`random` keeps mean and std and samples per step) and, when prompts are static, the text
conditioning too. `batch(step)` is a pure function of (options.seed, step): data order, template
line, tag shuffle/dropout, flips and latent noise all come from keyed random streams, so training
2N steps in one go equals N steps plus a resumed N. Per-sample choices are keyed by the global
sample number step * batch_size + slot, so K accumulated batches of B draw the same prompts, flips
and noise as steps of K*B would for the same images.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image

from ..errors import HypernetError, InvalidOptionError
from ..images import IMAGE_SUFFIXES, ImageReadError, composite_on, list_image_files, open_image
from ..progress import Progress
from .alpha import alpha_weight_map, expand_to_channels
from .buckets import BatchSchedule
from .captions import CaptionReadError, PromptBuilder, caption_for_image, compile_word_regex, load_template
from .data_options import LATENT_SAMPLING, DataOptions
from .keyed_rng import FLIP, LATENT_NOISE, ONCE_NOISE, keyed_normal, keyed_rng
from .sizing import bucket_size, crop_top_left, resize_for_training
from . import conditioning
from .text_cache import TextConditionCache

__all__ = ["DataOptions", "DatasetEmptyError", "DatasetReport", "TrainingBatch", "TrainingData",
           "LATENT_SAMPLING"]

Size = tuple[int, int]


class DatasetEmptyError(HypernetError):
    """The dataset folder has no usable image."""


@dataclass
class DatasetReport:
    """What the dataset build used and skipped (per file, with the reason)."""

    used: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    buckets: dict[Size, int] = field(default_factory=dict)
    captions_from_txt: int = 0
    batch_size: int = 1

    def summary(self) -> str:
        lines = [f"{self.used} image(s) used ({self.captions_from_txt} caption(s) from .txt files, "
                 f"{self.used - self.captions_from_txt} from file names), batch size {self.batch_size}"]
        sizes = ", ".join(f"{w}x{h}: {n}" for (w, h), n in sorted(self.buckets.items()))
        lines.append(f"sizes: {sizes}")
        if self.skipped:
            lines.append(f"{len(self.skipped)} file(s) skipped:")
            lines.extend(f"  {name}: {reason}" for name, reason in self.skipped)
        return "\n".join(lines)


@dataclass
class TrainingBatch:
    """One step's batch. `loss_weight` is None unless alpha weighting is on."""

    latents: torch.Tensor            # (B, C, h, w) float32 on host.device
    cond: conditioning.Conditioning  # (B, T, D), or a dict for SDXL hosts (with per-sample "sizes")
    texts: list[str]
    loss_weight: Optional[torch.Tensor]  # (B, C, h, w) float32 or None
    sources: list[str]               # image paths relative to data_dir
    flipped: list[bool] = field(default_factory=list)


@dataclass
class _Prepared:
    index: int
    source: str
    caption: str
    from_txt: bool
    pixels: torch.Tensor             # (3, H, W) uint8
    alpha: Optional[Image.Image]
    size_numbers: Optional[torch.Tensor] = None  # (O, 6) SDXL size conditioning, see _size_numbers


@dataclass
class _Item:
    index: int
    source: str
    caption: str
    size: Size
    latents: torch.Tensor            # (O, C, h, w): the kept sample, or the mean for deterministic/random
    std: Optional[torch.Tensor]      # (O, C, h, w) for random sampling
    weight: Optional[torch.Tensor]   # (O, h, w) alpha loss weight
    size_numbers: Optional[torch.Tensor] = None  # (O, 6) original (h, w), crop (top, left), target (h, w)
    # O = 2 with flip (index 1 is the mirrored image), else 1


class TrainingData:
    """Images + captions of `options.data_dir` as cached latents and per-step batches."""

    def __init__(self, host, options: DataOptions, progress: Optional[Progress] = None, *,
                 text_cache_size: int = 256, encode_batch_size: int = 4):
        options.validate()
        self.host, self.options = host, options
        self.unit = 8 * int(host.latent_downscale)
        self._check_size_unit()
        self.prompts = PromptBuilder(tuple(load_template(options.template)), options.name, int(options.seed),
                                     options.shuffle_tags, int(options.keep_first_tags), float(options.tag_dropout))
        self._word_regex = compile_word_regex(options.filename_word_regex)
        self._size_conditioning = bool(getattr(host, "size_conditioning", False))
        self._root = Path(options.data_dir).expanduser()
        self._encode_batch_size = max(1, int(encode_batch_size))
        self.report = DatasetReport()
        files = self._list_files()
        self._items = self._load(files, progress)
        self._finish_report()
        self.batch_size = min(int(options.batch_size), len(self._items))
        self.report.batch_size = self.batch_size
        self.schedule = self._make_schedule()
        self._text_cache = TextConditionCache.for_host(host, capacity=text_cache_size)
        if self.prompts.is_static:
            self._text_cache.pin(self.prompts.static_text(item.caption) for item in self._items)

    # -- public --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._items)

    def steps_per_epoch(self) -> int:
        """Batches per epoch: every image once, batches never mix sizes."""
        return self.schedule.batches_per_epoch()

    def batch(self, step: int) -> TrainingBatch:
        """The batch of `step` (0-based); the same (seed, step) always gives the same batch."""
        indices = self.schedule.batch_indices(step)
        latents, weights, texts, sources, flipped, sizes = [], [], [], [], [], []
        for slot, i in enumerate(indices):
            item, sample = self._items[i], step * self.batch_size + slot
            o = self._orientation(sample)
            latent = item.latents[o]
            if item.std is not None:
                noise = keyed_normal(tuple(latent.shape), self.options.seed, LATENT_NOISE, sample)
                latent = latent + item.std[o] * noise
            latents.append(latent)
            if item.weight is not None:
                weights.append(expand_to_channels(item.weight[o], latent.shape[0]))
            texts.append(self.prompts.text(item.caption, sample))
            sources.append(item.source)
            flipped.append(o == 1)
            if item.size_numbers is not None:
                sizes.append(item.size_numbers[o])
        device = self.host.device
        loss_weight = torch.stack(weights).to(device) if weights else None
        cond = conditioning.to_device(self._text_cache.get_batch(texts), device)
        if sizes:
            cond = conditioning.with_sizes(cond, torch.stack(sizes).to(device))
        return TrainingBatch(torch.stack(latents).to(device), cond, texts, loss_weight, sources, flipped)

    def preview_prompt(self) -> str:
        """The default preview prompt: the first image's caption (file order) through the template's first
        line, all tags, no shuffle or dropout. A function of the dataset alone, so every step of a run,
        resumed or not, previews the same prompt and previews stay comparable."""
        return self.prompts.static_text(self._items[0].caption)

    def text_encode_cache_info(self) -> dict:
        """Text-conditioning cache counters: hits, misses (texts encoded), pinned, cached, capacity, static."""
        return {**self._text_cache.info(), "static": self.prompts.is_static}

    # -- build ---------------------------------------------------------------------------------
    def _check_size_unit(self) -> None:
        for name in ("width", "height"):
            value = getattr(self.options, name)
            if value % self.unit:
                near = max(self.unit, round(value / self.unit) * self.unit)
                raise InvalidOptionError(f"{name}={value} is not a multiple of {self.unit} (8 latent pixels "
                                         f"for this model); use {near}")

    def _list_files(self) -> list[Path]:
        files = list_image_files(self._root, recursive=self.options.recursive)
        if files:
            return files
        others = [p.name for p in self._root.iterdir()] if self._root.is_dir() else []
        where = "or its sub-folders " if self.options.recursive else ""
        hint = "" if self.options.recursive else "; set recursive=True if the images are in sub-folders"
        raise DatasetEmptyError(
            f"no images in {str(self._root)!r} {where}({len(others)} other file(s)); add "
            f"{', '.join(IMAGE_SUFFIXES)} images{hint}")

    def _load(self, files: list[Path], progress: Optional[Progress]) -> list[_Item]:
        if progress is not None:
            progress.start(len(files), "Preparing dataset")
        pending: dict[Size, list[_Prepared]] = {}
        items: list[_Item] = []
        for index, path in enumerate(files):
            if progress is not None:
                progress.raise_if_cancelled()
            prepared = self._prepare(index, path)
            if prepared is not None:
                size = (prepared.pixels.shape[2], prepared.pixels.shape[1])
                group = pending.setdefault(size, [])
                group.append(prepared)
                if len(group) >= self._encode_batch_size:
                    items.extend(self._encode(pending.pop(size)))
            if progress is not None:
                progress.advance()
        for group in pending.values():
            items.extend(self._encode(group))
        if not items:
            reasons = "".join(f"\n  {name}: {why}" for name, why in self.report.skipped[:10])
            more = len(self.report.skipped) - 10
            raise DatasetEmptyError(  # one line per file, so front ends can show them as a list
                f"none of the {len(files)} image(s) in {str(self._root)!r} could be used; fix or replace "
                f"these files:{reasons}" + (f"\n  ... and {more} more" if more > 0 else ""))
        return sorted(items, key=lambda item: item.index)

    def _skip(self, source: str, reason: str) -> None:
        self.report.skipped.append((source, reason))

    def _prepare(self, index: int, path: Path) -> Optional[_Prepared]:
        """Caption and training-size pixels of one file, or None (recorded as skipped)."""
        source = path.relative_to(self._root).as_posix()
        opts = self.options
        try:
            caption, origin = caption_for_image(path, self._word_regex, opts.filename_join_string)
            # size conditioning needs the real original size, so no reduced-scale JPEG decoding then
            draft = None if opts.buckets or self._size_conditioning else (opts.width, opts.height)
            image = open_image(path, keep_alpha=opts.use_alpha_weight, draft_size=draft)
        except CaptionReadError as exc:
            return self._skip(source, str(exc))
        except ImageReadError as exc:
            return self._skip(source, exc.reason)
        if min(image.size) < self.unit:
            return self._skip(source, f"too small ({image.size[0]}x{image.size[1]}); training needs at least "
                                      f"{self.unit} pixels per side: use a larger version or remove it")
        rgb, alpha = (composite_on(image, (255, 255, 255)), image.getchannel("A")) if image.mode == "RGBA" \
            else (image, None)
        if opts.buckets:
            size, mode = bucket_size(image.size, opts.width * opts.height, self.unit), "bucket"
        else:
            size, mode = (opts.width, opts.height), opts.resize
        rgb, alpha = resize_for_training(rgb, alpha, size, mode)
        pixels = torch.from_numpy(np.array(rgb.convert("RGB"), dtype=np.uint8)).permute(2, 0, 1).contiguous()
        numbers = self._size_numbers(image.size, size, mode) if self._size_conditioning else None
        return _Prepared(index, source, caption, origin == "txt", pixels,
                         alpha if opts.use_alpha_weight else None, numbers)

    def _size_numbers(self, original: Size, size: Size, mode: str) -> torch.Tensor:
        """(O, 6) per orientation: original (h, w), crop (top, left), target (h, w), as SDXL was trained."""
        rows = []
        for mirrored in ((False, True) if self.options.flip else (False,)):
            top, left = crop_top_left(original, size, mode, mirrored)
            rows.append([original[1], original[0], top, left, size[1], size[0]])
        return torch.tensor(rows, dtype=torch.float32)

    def _encode(self, group: list[_Prepared]) -> list[_Item]:
        """VAE-encode one same-size group (and its mirror images when flipping)."""
        pixels = torch.stack([p.pixels for p in group]).to(torch.float32) / 127.5 - 1.0
        orientations = 2 if self.options.flip else 1
        if self.options.flip:
            pixels = torch.cat([pixels, pixels.flip(-1)])
        with torch.no_grad():
            mean, std = self.host.encode_latent_distribution(pixels.to(self.host.device))
        mean = mean.detach().float().cpu().unflatten(0, (orientations, len(group))).transpose(0, 1)
        std = std.detach().float().cpu().unflatten(0, (orientations, len(group))).transpose(0, 1)
        return [self._item(p, mean[b].contiguous(), std[b].contiguous()) for b, p in enumerate(group)]

    def _item(self, p: _Prepared, mean: torch.Tensor, std: torch.Tensor) -> _Item:
        mode = self.options.latent_sampling
        latents, kept_std = mean, None
        if mode == "once":
            key = zlib.crc32(p.source.encode("utf-8"))
            latents = mean + std * keyed_normal(tuple(mean.shape), self.options.seed, ONCE_NOISE, key)
        elif mode == "random":
            kept_std = std
        weight = None
        if self.options.use_alpha_weight:
            w = alpha_weight_map(p.alpha, tuple(mean.shape[-2:]))
            weight = torch.stack([w, w.flip(-1)]) if self.options.flip else w.unsqueeze(0)
        size = (p.pixels.shape[2], p.pixels.shape[1])
        if p.from_txt:
            self.report.captions_from_txt += 1
        return _Item(p.index, p.source, p.caption, size, latents, kept_std, weight, p.size_numbers)

    def _finish_report(self) -> None:
        self.report.used = len(self._items)
        for item in self._items:
            self.report.buckets[item.size] = self.report.buckets.get(item.size, 0) + 1

    def _make_schedule(self) -> BatchSchedule:
        """Items grouped by training size (one group per bucket), batched per (seed, step)."""
        groups: dict[Size, list[int]] = {}
        for i, item in enumerate(self._items):
            groups.setdefault(item.size, []).append(i)
        return BatchSchedule([groups[k] for k in sorted(groups)], self.batch_size, int(self.options.seed))

    def _orientation(self, sample: int) -> int:
        if not self.options.flip:
            return 0
        return int(keyed_rng(self.options.seed, FLIP, sample).random() < 0.5)
