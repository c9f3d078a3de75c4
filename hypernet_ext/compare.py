"""Comparison grid: one column per hypernetwork (plus "none" with the baseline), one row per seed.

    python -m hypernet_ext compare --model M --hypernetworks A.pt B.pt --seeds 1,2,3 --prompt P --out grid.png

Each column header names the file, its training step and, when the file sits in a run folder with
a `validation.csv`, its validation loss; each row is labelled with its seed. Every cell uses the
same prompt, negative prompt, steps, CFG scale, size and seed of its row, so the columns differ only
by the hypernetwork. The PNG's `parameters` text records everything needed to redo the grid
(settings, files with their short hashes, and the command line).
"""
from __future__ import annotations

import io
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from .atomic_files import atomic_write_bytes
from .errors import InvalidOptionError

BASELINE = "none"
LINE_HEIGHT = 14
PAD = 4
_SEED_PART = re.compile(r"^(-?\d+)(?:-(-?\d+))?$")


@dataclass
class Column:
    """One column: a hypernetwork file (None for the baseline) and its header lines."""

    path: Optional[Path]
    label: list[str]


@dataclass
class CompareSettings:
    prompt: str
    seeds: list[int]
    negative_prompt: str = ""
    strength: float = 1.0
    width: int = 512
    height: int = 512
    steps: int = 20
    cfg_scale: float = 7.0
    with_baseline: bool = False
    sampler: Optional[str] = None


@dataclass
class Grid:
    """The grid image, its infotext, and where each cell is (for the UI and tests)."""

    image: Image.Image
    infotext: str
    columns: list[Column]
    seeds: list[int]
    cell_size: tuple[int, int]
    origin: tuple[int, int]       # top-left pixel of the first cell (after the label margins)
    cells: dict = field(default_factory=dict)  # (column index, row index) -> the cell's PIL image

    def cell_box(self, column: int, row: int) -> tuple[int, int, int, int]:
        w, h = self.cell_size
        x, y = self.origin[0] + column * w, self.origin[1] + row * h
        return (x, y, x + w, y + h)


def parse_seeds(text: str) -> list[int]:
    """'1,2,3' or '1-4' or '1,5-7' -> seeds, in order, without repeats."""
    seeds: list[int] = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        match = _SEED_PART.match(part)
        if match is None:
            raise InvalidOptionError(f"--seeds {text!r}: {part!r} is not a whole number or range; write e.g. "
                                     "1,2,3 or 1-4.")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        values = range(first, last + 1)
        seeds.extend(v for v in values if v not in seeds)
    if not seeds:
        raise InvalidOptionError(f"--seeds {text!r} names no seed; write e.g. 1,2,3.")
    return seeds


def column_label(path: Optional[Path]) -> list[str]:
    """Header lines: file name, step, validation loss (when the run recorded one)."""
    if path is None:
        return [BASELINE, "no hypernetwork"]
    from .storage import read_header
    from .training.validation import validation_loss_for
    lines = [Path(path).name]
    try:
        lines.append(f"step {int(read_header(path).get('step') or 0)}")
    except Exception:  # a label must not stop the grid; the file's loader reports real problems
        lines.append("step ?")
    val = validation_loss_for(Path(path))
    lines.append(f"val {val:.5f}" if val is not None else "val -")
    return lines


def _font():
    try:
        return ImageFont.load_default(size=LINE_HEIGHT - 2)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def render_grid(host, hypernetworks: Sequence[Path], settings: CompareSettings, command: str = "") -> Grid:
    """Generate every cell on `host` and lay out the labelled grid."""
    from .attach import attach_hypernetworks
    from .storage import load_hypernetwork
    if not hypernetworks and not settings.with_baseline:
        raise InvalidOptionError("Give at least one hypernetwork to compare (or --with-baseline).")
    paths: list[Optional[Path]] = ([None] if settings.with_baseline else []) + [Path(p) for p in hypernetworks]
    columns = [Column(p, column_label(p)) for p in paths]
    cells = {}
    for c, column in enumerate(columns):
        pairs = [] if column.path is None else [(load_hypernetwork(column.path), float(settings.strength))]
        with attach_hypernetworks(host.unet, pairs):
            for r, seed in enumerate(settings.seeds):
                cells[(c, r)] = host.generate(settings.prompt, settings.negative_prompt, steps=settings.steps,
                                              cfg_scale=settings.cfg_scale, seed=seed, width=settings.width,
                                              height=settings.height, **({"sampler": settings.sampler}
                                                                         if settings.sampler else {}))
    cell_w, cell_h = cells[(0, 0)].size
    font = _font()
    header_h = PAD * 2 + LINE_HEIGHT * max(len(c.label) for c in columns)
    row_labels = [f"seed {s}" for s in settings.seeds]
    draw_probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    margin_w = PAD * 2 + max(int(draw_probe.textlength(t, font=font)) for t in row_labels)
    image = Image.new("RGB", (margin_w + cell_w * len(columns), header_h + cell_h * len(settings.seeds)), "white")
    draw = ImageDraw.Draw(image)
    for c, column in enumerate(columns):
        for i, line in enumerate(column.label):
            draw.text((margin_w + c * cell_w + PAD, PAD + i * LINE_HEIGHT), _fit(draw, line, font, cell_w - 2 * PAD),
                      fill="black", font=font)
    for r, label in enumerate(row_labels):
        draw.text((PAD, header_h + r * cell_h + cell_h // 2 - LINE_HEIGHT // 2), label, fill="black", font=font)
    for (c, r), cell in cells.items():
        image.paste(cell.convert("RGB"), (margin_w + c * cell_w, header_h + r * cell_h))
    infotext = grid_infotext(host, columns, settings, command)
    return Grid(image, infotext, columns, list(settings.seeds), (cell_w, cell_h), (margin_w, header_h), cells)


def _fit(draw, text: str, font, width: int) -> str:
    """`text` shortened with '...' in the middle until it fits `width` pixels."""
    if draw.textlength(text, font=font) <= width or len(text) < 6:
        return text
    keep = len(text)
    while keep > 4 and draw.textlength(text[:keep // 2] + "..." + text[-(keep // 2):], font=font) > width:
        keep -= 2
    return text[:keep // 2] + "..." + text[-(keep // 2):]


def grid_infotext(host, columns: Sequence[Column], s: CompareSettings, command: str = "") -> str:
    """webui-style parameters text plus the columns (files with hashes) and the command line."""
    from .storage import short_hash
    files = []
    for column in columns:
        if column.path is None:
            files.append(BASELINE)
        else:
            files.append(f"{column.path} [{short_hash(column.path)}] ({'; '.join(column.label[1:])})")
    lines = [s.prompt, f"Negative prompt: {s.negative_prompt}",
             f"Steps: {s.steps}, CFG scale: {s.cfg_scale:g}, Size: {s.width}x{s.height}, "
             f"Seeds: {','.join(map(str, s.seeds))}, Hypernetwork strength: {s.strength:g}, "
             f"Sampler: {s.sampler or 'default'}, Model: {getattr(host, 'model_name', None) or '?'}, "
             f"Model hash: {getattr(host, 'model_hash', None) or '?'}",
             "Columns: " + " | ".join(files)]
    if command:
        lines.append(f"Command: {command}")
    return "\n".join(lines)


def save_grid(grid: Grid, out, overwrite: bool = False) -> Path:
    out = Path(out)
    if out.exists() and not overwrite:
        raise InvalidOptionError(f"{out} already exists; pass --overwrite or choose another --out.")
    info = PngInfo()
    info.add_text("parameters", grid.infotext)
    buffer = io.BytesIO()
    grid.image.save(buffer, format="PNG", pnginfo=info)
    return atomic_write_bytes(out, buffer.getvalue())


def redo_command(model: str, hypernetworks: Sequence[Path], s: CompareSettings, out: str) -> str:
    parts = ["python", "-m", "hypernet_ext", "compare", "--model", str(model), "--hypernetworks",
             *map(str, hypernetworks), "--seeds", ",".join(map(str, s.seeds)), "--prompt", s.prompt,
             "--negative-prompt", s.negative_prompt, "--strength", f"{s.strength:g}",
             "--size", f"{s.width}x{s.height}", "--steps", str(s.steps), "--cfg-scale", f"{s.cfg_scale:g}",
             "--out", str(out)]
    if s.with_baseline:
        parts.append("--with-baseline")
    return shlex.join(parts)


# -- the `compare` command -----------------------------------------------------------------------
def add_arguments(parser) -> None:
    from .model_arguments import add_model_options
    parser.add_argument("--model", required=True, help="'tiny' or an SD1/SD2 checkpoint file")
    parser.add_argument("--hypernetworks", nargs="+", default=[], metavar="FILE", help="one column each")
    parser.add_argument("--seeds", default="1,2,3", help="one row each, e.g. 1,2,3 or 1-4 (default %(default)s)")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--negative-prompt", default="")
    parser.add_argument("--strength", type=float, default=1.0, help="hypernetwork strength (default 1)")
    parser.add_argument("--size", metavar="WxH", help="default 512x512 (64x64 for --model tiny)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg-scale", type=float, default=7.0)
    parser.add_argument("--with-baseline", action="store_true", help='add a "none" column without hypernetwork')
    parser.add_argument("--out", required=True, metavar="PNG")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    add_model_options(parser)


def run(args) -> int:
    from .model_arguments import load_host_from_args
    from .training.command import parse_size
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise InvalidOptionError(f"{out} already exists; pass --overwrite or choose another --out.")
    for path in args.hypernetworks:
        if not Path(path).is_file():
            raise InvalidOptionError(f"--hypernetworks: {path} does not exist; give existing .pt/.safetensors files.")
    if args.steps < 1:
        raise InvalidOptionError(f"--steps {args.steps} must be at least 1.")
    width, height = parse_size(args.size or ("64x64" if args.model == "tiny" else "512x512"))
    settings = CompareSettings(args.prompt, parse_seeds(args.seeds), args.negative_prompt, args.strength,
                               width, height, args.steps, args.cfg_scale, args.with_baseline)
    hypernetworks = [Path(p) for p in args.hypernetworks]
    host = load_host_from_args(args)
    grid = render_grid(host, hypernetworks, settings, redo_command(args.model, hypernetworks, settings, out))
    path = save_grid(grid, out, overwrite=args.overwrite)
    print(f"Wrote {path}: {len(grid.columns)} column(s) x {len(grid.seeds)} seed(s)")
    return 0
