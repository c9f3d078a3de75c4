"""Turn a folder of raw images into a training set: resize/crop, split, flip, caption, report."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from PIL import Image, ImageOps

from ..errors import HypernetError
from ..images import IMAGE_SUFFIXES, ImageReadError, list_image_files, open_image
from ..progress import Progress
from ..safe_paths import inside
from .autosize import choose_size, crop_to_aspect
from .captioners import REGISTRY, SOURCE_PATH_KEY, Captioner, CaptionerRegistry, combine_captions
from .focal import FACE_UNAVAILABLE, FocalWeights, face_detector_available, focal_crop
from .options import PreprocessOptions
from .outputs import (DEBUG_FOLDER, OutputWriteError, output_name, read_existing_caption, safe_stem,
                      save_caption, save_image)
from .resize import cover_scale, resize_to, upscale_factor
from .split import should_split, split_tiles

UPSCALE_TOLERANCE = 1.0 + 1e-6


@dataclass
class PreprocessReport:
    """What a run did: per-source outputs, skipped sources with reasons, warnings."""

    processed: list[tuple[Path, list[Path]]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    written: int = 0                  # image files written (captions and debug images not counted)
    cancelled: bool = False
    warnings: list[str] = field(default_factory=list)
    captions_written: int = 0

    def summary(self) -> str:
        lines = [f"Preprocessed {len(self.processed)} image(s) into {self.written} file(s)"
                 f" ({self.captions_written} caption(s)); skipped {len(self.skipped)}"
                 + (" - cancelled before the end" if self.cancelled else "") + "."]
        lines += [f"  skipped {src.name}: {reason}" for src, reason in self.skipped]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


class _Skip(Exception):
    """This source produces no output; the message is the reason."""


@dataclass
class _Run:
    options: PreprocessOptions
    captioners: list[Captioner]
    report: PreprocessReport
    sources: frozenset[Path]


def preprocess(options: PreprocessOptions, progress: Optional[Progress] = None,
               captioners: Optional[CaptionerRegistry] = None) -> PreprocessReport:
    """Process every image in `options.source` into `options.destination`; never raises on bad images."""
    options.validate()
    registry = captioners if captioners is not None else REGISTRY
    registry.check(list(options.captioners))
    files = list_image_files(options.source, options.recursive)
    subfolders = [] if options.recursive else _subfolders(Path(options.source))
    if not files:
        raise NoImagesError(_no_images_message(Path(options.source), subfolders))
    report = PreprocessReport()
    if subfolders:  # images there are not read without recursive: say so, or they are lost silently
        report.warnings.append(f"{len(subfolders)} sub-folder(s) skipped ({_names(subfolders)}); "
                               f"set recursive=True to include their images")
    if options.focal_crop and options.focal_face_weight > 0 and not face_detector_available():
        report.warnings.append(FACE_UNAVAILABLE)
    Path(options.destination).mkdir(parents=True, exist_ok=True)
    progress = progress or Progress()
    progress.start(len(files), "Preprocess")
    active: list[Captioner] = []
    try:
        active.extend(registry.get(n, options) for n in options.captioners)
        run = _Run(options, active, report, frozenset(_resolved(p) for p in files))
        for index, source in enumerate(files):
            if progress.cancelled:
                report.cancelled = True
                break
            _process_source(run, index, source)
            progress.advance(message=source.name)
    except Exception as exc:
        progress.finish(error=str(exc))
        raise
    finally:
        _close_captioners(active)
    progress.finish("cancelled" if report.cancelled else
                    f"{len(report.processed)} processed, {len(report.skipped)} skipped")
    return report


class NoImagesError(HypernetError):
    """The source folder holds no image to preprocess (it may hold sub-folders or other files)."""


def _subfolders(root: Path) -> list[Path]:
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name.lower())


def _names(paths: list[Path], most: int = 5) -> str:
    shown = ", ".join(p.name for p in paths[:most])
    return shown + (f" and {len(paths) - most} more" if len(paths) > most else "")


def _no_images_message(root: Path, subfolders: list[Path]) -> str:
    others = sum(1 for p in root.iterdir() if p.is_file())
    text = f"no images to preprocess in {str(root)!r}"
    if subfolders:
        return (f"{text}: it holds no image, only sub-folders ({_names(subfolders)}) and {others} other file(s); "
                f"set recursive=True to include images in sub-folders")
    if others:
        return f"{text}: it holds {others} file(s), none of them an image; add {', '.join(IMAGE_SUFFIXES)} images"
    return f"{text}: the folder is empty; put the images to preprocess in it"


def _process_source(run: _Run, index: int, source: Path) -> None:
    opts, report = run.options, run.report
    stem = safe_stem(source, Path(opts.source))
    destination = Path(opts.destination)
    try:
        first = destination / output_name(index, 0, stem)
        if opts.existing == "skip" and first.exists():
            raise _Skip(f"already preprocessed ({first.name} exists); set existing='replace' to redo it")
        image = open_image(source, keep_alpha=opts.keep_alpha, background=opts.background,
                           max_pixels=opts.max_pixels, draft_size=_draft_size(opts))
        results, debug_images = _transform(image, opts)
        existing = read_existing_caption(source) if opts.caption_action != "ignore" else ""
    except ImageReadError as exc:
        report.skipped.append((source, exc.reason))
        return
    except (_Skip, HypernetError) as exc:  # unreadable caption file, unconvertible mode, no auto size
        report.skipped.append((source, str(exc)))
        return
    written: list[Path] = []
    try:
        for sub, result in enumerate(results):
            result.info[SOURCE_PATH_KEY] = str(source)
            caption = combine_captions(existing, _caption(run, result, source), opts.caption_action,
                                       opts.caption_separator)
            for variant, picture in _with_flips(result, opts):
                path = inside(destination, output_name(index, sub, stem, variant))
                written.append(path)
                _write(run, picture, path, caption)
        for sub, debug in enumerate(debug_images):
            _write(run, debug, inside(destination, DEBUG_FOLDER, output_name(index, sub, stem, "focal-debug")), "",
                   count=False)
    except HypernetError as exc:  # this source's output cannot be written (name, permissions): skip it, go on
        report.skipped.append((source, str(exc)))
        return
    report.processed.append((source, written))


def _draft_size(opts: PreprocessOptions) -> tuple[int, int] | None:
    """Smallest decode size that still serves every enabled operation (JPEG only).

    Square, so an EXIF rotation applied after decoding cannot leave a side short of the target.
    """
    if opts.keep_original_size:
        return None
    side = max(opts.width, opts.height, opts.auto_max_size if opts.auto_size else 0)
    return side, side


def _transform(image: Image.Image, opts: PreprocessOptions) -> tuple[list[Image.Image], list[Image.Image]]:
    """The output images for one source (before flipping), and any focal debug images."""
    w, h = opts.width, opts.height
    outputs: list[Image.Image] = []
    debug: list[Image.Image] = []
    applied = False
    if opts.split and should_split(image.size, w, h, opts.split_threshold):
        _check_small(image.size, cover_scale(image.size, w, h), opts)
        outputs += split_tiles(image, w, h, opts.split_overlap)
        applied = True
    if opts.focal_crop and image.width * h != image.height * w:
        _check_small(image.size, cover_scale(image.size, w, h), opts)
        weights = FocalWeights(opts.focal_face_weight, opts.focal_entropy_weight, opts.focal_edges_weight)
        result = focal_crop(image, w, h, weights, debug=opts.focal_debug)
        outputs.append(result.image)
        debug += [result.debug] if result.debug is not None else []
        applied = True
    if opts.auto_size:
        outputs.append(_auto_sized(image, opts))
        applied = True
    if opts.keep_original_size:
        outputs.append(image)
        applied = True
    if not applied:
        _check_small(image.size, upscale_factor(image.size, w, h, opts.resize_mode), opts)
        outputs.append(resize_to(image, w, h, opts.resize_mode, opts.fit_background))
    return outputs, debug


def _auto_sized(image: Image.Image, opts: PreprocessOptions) -> Image.Image:
    size = choose_size(image.size, opts.auto_min_size, opts.auto_max_size, opts.auto_min_area,
                       opts.auto_max_area, opts.auto_objective, opts.auto_threshold)
    if size is None:
        raise _Skip(f"auto-sized crop found no size for {image.width}x{image.height} within error threshold "
                    f"{opts.auto_threshold}; raise auto_threshold or widen the size/area bounds")
    _check_small(image.size, cover_scale(image.size, *size), opts, target=size)
    return crop_to_aspect(image, *size)


def _check_small(size: tuple[int, int], factor: float, opts: PreprocessOptions,
                 target: tuple[int, int] | None = None) -> None:
    if opts.small_images == "skip" and factor > UPSCALE_TOLERANCE:
        tw, th = target or (opts.width, opts.height)
        raise _Skip(f"too small: {size[0]}x{size[1]} would be upscaled x{factor:.2f} for {tw}x{th} "
                    "(small_images='skip'; set it to 'upscale' to keep such images)")


def _with_flips(image: Image.Image, opts: PreprocessOptions) -> list[tuple[str, Image.Image]]:
    out = [("", image)]
    if opts.flip and opts.flip_direction in ("horizontal", "both"):
        out.append(("flip", ImageOps.mirror(image)))
    if opts.flip and opts.flip_direction in ("vertical", "both"):
        out.append(("vflip", ImageOps.flip(image)))
    return out


def _caption(run: _Run, image: Image.Image, source: Path) -> str:
    """The captioners' texts joined; a captioner failing on one image becomes a warning."""
    texts = []
    for captioner in run.captioners:
        try:
            texts.append(str(captioner.caption(image) or "").strip())
        except Exception as exc:  # noqa: BLE001 - a third-party model failing must not lose the image
            run.report.warnings.append(f"captioner {captioner.name!r} failed on {source.name}: {exc}")
    return run.options.caption_separator.join(t for t in texts if t)


def _write(run: _Run, image: Image.Image, path: Path, caption: str, count: bool = True) -> None:
    if _resolved(path) in run.sources:
        raise OutputWriteError(f"refusing to overwrite source image {path}; pick another destination")
    if run.options.existing == "skip" and path.exists():
        run.report.warnings.append(f"kept existing {path.name} (existing='skip')")
        return
    save_image(image, path)
    if count:
        run.report.written += 1
    if caption:
        save_caption(caption, path.with_suffix(".txt"))
        run.report.captions_written += 1


def _resolved(path: Path) -> Path:
    """`path` with symlinks resolved; a link loop or unreadable link stays as it is (it is skipped later)."""
    try:
        return Path(os.path.realpath(path))
    except (OSError, RuntimeError, ValueError):
        return path


def _close_captioners(captioners: list[Captioner]) -> None:
    for captioner in captioners:
        close = getattr(captioner, "close", None)
        if callable(close):
            close()
