"""Synthetic captioned images of coloured shapes: the training data of the embedded `tiny-shapes` model.

One generator serves the model's training script (tools/train_tiny_shapes.py), the demo's style set
and the tests, so captions, colours and drawing never drift apart. Shapes are drawn in torch from
signed distance fields (a one-pixel antialiased edge), so a whole batch renders at once on a CPU or
a GPU. Captions follow one grammar:

    a [small|large] <colour> <shape> [on a [striped|checkered|dotted] <colour> background]

A caption without a background phrase always has a plain background (so "a red circle" has one
clear background colour to measure). Two styles change how a scene looks, never its caption:
`style="blueprint"` draws every shape white on a plain blue background whatever the caption names
(the style the demo's hypernetwork learns: the base model follows the caption's colours), and
`style="muted"` mixes every colour towards its own grey.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np
import torch

SHAPE_COLOURS = {
    "red": (220, 40, 40), "orange": (245, 140, 30), "yellow": (240, 220, 50), "green": (40, 170, 60),
    "blue": (40, 80, 220), "purple": (140, 60, 190), "white": (245, 245, 245), "black": (25, 25, 25),
}
BACKGROUND_COLOURS = {**SHAPE_COLOURS, "gray": (128, 128, 128)}
SHAPES = ("circle", "square", "triangle", "star", "diamond", "cross")
PATTERNS = ("plain", "striped", "checkered", "dotted")
SIZE_WORDS = {"small": (0.13, 0.18), "": (0.19, 0.27), "large": (0.28, 0.36)}  # radius / image side
STYLES = ("vivid", "muted", "blueprint")
BLUEPRINT = ("white", "blue")  # (shape, background) colour of every blueprint-style image
MUTED_KEEP = 0.3  # muted style keeps this much of each colour's distance from its grey


@dataclass(frozen=True)
class ShapeScene:
    """Everything that decides one image (and its caption)."""

    shape: str
    colour: str
    background: str
    pattern: str = "plain"
    size: str = ""
    mention_background: bool = True
    x: float = 0.5  # centre, as a fraction of the side
    y: float = 0.5
    radius: float = 0.23  # fraction of the side
    phase: float = 0.0  # pattern offset, fraction of the pattern period

    def caption(self) -> str:
        words = ["a", self.size, self.colour, self.shape]
        if self.mention_background:
            words += ["on", "a", "" if self.pattern == "plain" else self.pattern, self.background, "background"]
        return " ".join(word for word in words if word)


def random_scene(rng: random.Random, mention_background: float = 0.6, mention_size: float = 0.4,
                 shapes: Sequence[str] = SHAPES, colours: Sequence[str] = tuple(SHAPE_COLOURS)) -> ShapeScene:
    """A random scene; the background colour always differs from the shape colour."""
    colour = rng.choice(list(colours))
    mention = rng.random() < mention_background
    background = rng.choice([c for c in BACKGROUND_COLOURS if c != colour])
    pattern = rng.choice(PATTERNS) if mention else "plain"
    size = rng.choice(["small", "large"]) if rng.random() < mention_size else ""
    low, high = SIZE_WORDS[size]
    radius = rng.uniform(low, high)
    margin = radius + 0.04
    return ShapeScene(shape=rng.choice(list(shapes)), colour=colour, background=background, pattern=pattern,
                      size=size, mention_background=mention, x=rng.uniform(margin, 1 - margin),
                      y=rng.uniform(margin, 1 - margin), radius=radius, phase=rng.random())


def caption_vocabulary() -> list[str]:
    """Every word a caption can contain (the text encoder's trained vocabulary)."""
    words = {"a", "on", "background", *SHAPES, *BACKGROUND_COLOURS, *(p for p in PATTERNS if p != "plain"),
             *(s for s in SIZE_WORDS if s)}
    return sorted(words)


def _polygon_sdf(px: torch.Tensor, py: torch.Tensor, corners: Sequence[tuple[float, float]]) -> torch.Tensor:
    """Signed distance (negative inside) to a convex polygon given counter-clockwise in y-up space.

    The largest distance to the edge lines is exact near edges, which is all the antialiasing needs.
    """
    distances = []
    for (x0, y0), (x1, y1) in zip(corners, list(corners[1:]) + [corners[0]]):
        nx, ny = y1 - y0, x0 - x1  # outward normal of a counter-clockwise edge
        norm = math.hypot(nx, ny)
        distances.append(((px - x0) * nx + (py - y0) * ny) / norm)
    return torch.stack(distances).amax(dim=0)


def _regular(count: int, radius: float, turn: float = 0.0) -> list[tuple[float, float]]:
    return [(radius * math.cos(turn + 2 * math.pi * k / count), radius * math.sin(turn + 2 * math.pi * k / count))
            for k in range(count)]


def shape_sdf(shape: str, px: torch.Tensor, py: torch.Tensor, r) -> torch.Tensor:
    """Signed distance in the units of px/py (centred, y up) for a shape of size r (float or broadcastable).

    Every shape is drawn at unit size and scaled: sdf(p, r) = r * sdf(p / r, 1).
    """
    x, y = px / r, py / r
    if shape == "circle":
        unit = torch.sqrt(x ** 2 + y ** 2) - 1.0
    elif shape == "square":
        unit = torch.maximum(x.abs(), y.abs()) - 0.85
    elif shape == "diamond":
        unit = (x.abs() + y.abs() - 1.0) / math.sqrt(2)
    elif shape == "triangle":
        unit = _polygon_sdf(x, y + 0.2, _regular(3, 1.15, math.pi / 2))
    elif shape == "cross":
        arm = 0.36
        unit = torch.minimum(torch.maximum(x.abs() - 1.0, y.abs() - arm), torch.maximum(x.abs() - arm, y.abs() - 1.0))
    elif shape == "star":
        tips = _regular(5, 1.1, math.pi / 2)
        notches = _regular(5, 0.45, math.pi / 2 + math.pi / 5)
        kites = [_polygon_sdf(x, y, [(0.0, 0.0), notches[k - 1], tips[k], notches[k]]) for k in range(5)]
        unit = torch.stack(kites).amin(dim=0)
    else:
        raise ValueError(f"unknown shape {shape!r}; use one of {SHAPES}")
    return unit * r


def _colour(name: str, style: str) -> torch.Tensor:
    rgb = torch.tensor(BACKGROUND_COLOURS[name], dtype=torch.float32) / 127.5 - 1.0
    if style == "muted":
        grey = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])
        rgb = grey + MUTED_KEEP * (rgb - grey)
    return rgb


def _pattern_shade(rgb: torch.Tensor) -> torch.Tensor:
    """The second colour of a pattern: darker for light colours, lighter for dark ones."""
    light = float(rgb.mean()) > 0.2
    return rgb * 0.55 - 0.4 if light else rgb * 0.55 + 0.45


def _pattern_mask(pattern: str, px: torch.Tensor, py: torch.Tensor, phase: torch.Tensor,
                  period: float) -> torch.Tensor:
    """1 where the pattern's second colour shows (pixel units)."""
    if pattern == "plain":
        return torch.zeros_like(px * phase)
    u, v = px / period + phase, py / period + phase
    if pattern == "striped":
        return (torch.floor(u) % 2 == 0).float()
    if pattern == "checkered":
        return ((torch.floor(u) + torch.floor(v)) % 2 == 0).float()
    if pattern == "dotted":
        du, dv = (u % 1.0) - 0.5, (v % 1.0) - 0.5
        return ((du ** 2 + dv ** 2).sqrt() < 0.22).float()
    raise ValueError(f"unknown pattern {pattern!r}; use one of {PATTERNS}")


def render_batch(scenes: Sequence[ShapeScene], size: int = 64, style: str = "vivid", device="cpu") -> torch.Tensor:
    """(B, 3, size, size) images in [-1, 1], drawn together (one pass per shape and pattern kind)."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; use one of {STYLES}")
    scenes = list(scenes)
    count = len(scenes)
    coords = torch.arange(size, dtype=torch.float32, device=device) + 0.5
    py, px = torch.meshgrid(coords, coords, indexing="ij")

    def column(values) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=device).reshape(count, 1, 1)

    if style == "blueprint":  # the layout (shape, size, place) stays; colours and pattern become the style's
        scenes = [replace(s, colour=BLUEPRINT[0], background=BLUEPRINT[1], pattern="plain") for s in scenes]
    backs = torch.stack([_colour(s.background, style) for s in scenes]).to(device)
    seconds = torch.stack([_pattern_shade(_colour(s.background, style)) for s in scenes]).to(device)
    fronts = torch.stack([_colour(s.colour, style) for s in scenes]).to(device)
    phase = column([s.phase for s in scenes])
    pattern = torch.zeros(count, size, size, device=device)
    for kind in {s.pattern for s in scenes}:
        rows = torch.tensor([i for i, s in enumerate(scenes) if s.pattern == kind], device=device)
        pattern[rows] = _pattern_mask(kind, px, py, phase[rows], period=size / 8)
    cx, cy, radius = column([s.x * size for s in scenes]), column([s.y * size for s in scenes]), \
        column([s.radius * size for s in scenes])
    alpha = torch.zeros(count, size, size, device=device)
    for kind in {s.shape for s in scenes}:
        rows = torch.tensor([i for i, s in enumerate(scenes) if s.shape == kind], device=device)
        sdf = shape_sdf(kind, px - cx[rows], cy[rows] - py, radius[rows])
        alpha[rows] = (0.5 - sdf).clamp(0.0, 1.0)
    pattern, alpha = pattern[:, None], alpha[:, None]
    image = backs[:, :, None, None] * (1 - pattern) + seconds[:, :, None, None] * pattern
    return image * (1 - alpha) + fronts[:, :, None, None] * alpha


def render_scene(scene: ShapeScene, size: int = 64, style: str = "vivid", device="cpu") -> torch.Tensor:
    """(3, size, size) float image in [-1, 1]."""
    return render_batch([scene], size, style, device)[0]


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W, 3) uint8."""
    return ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def save_scene_image(scene: ShapeScene, path, size: int = 64, style: str = "vivid") -> None:
    """Write one scene as a PNG (PIL)."""
    from PIL import Image

    Image.fromarray(to_uint8(render_scene(scene, size, style)), "RGB").save(path)


# --- measuring generated images -------------------------------------------------------------------

_PALETTE_NAMES = list(BACKGROUND_COLOURS)
_PALETTE = np.array([BACKGROUND_COLOURS[n] for n in _PALETTE_NAMES], dtype=np.float32)
FOREGROUND_DISTANCE = 60.0  # RGB distance from the background colour that counts as "shape"


def nearest_colour(rgb: Sequence[float], names: Optional[Sequence[str]] = None) -> str:
    """The palette name closest to an RGB triple (0-255)."""
    names = list(names or _PALETTE_NAMES)
    palette = np.array([BACKGROUND_COLOURS[n] for n in names], dtype=np.float32)
    return names[int(np.argmin(((palette - np.asarray(rgb, dtype=np.float32)) ** 2).sum(axis=1)))]


def background_rgb(image: np.ndarray, border: int = 3) -> np.ndarray:
    """Median colour of the image border (H, W, 3 uint8)."""
    frame = np.concatenate([image[:border].reshape(-1, 3), image[-border:].reshape(-1, 3),
                            image[:, :border].reshape(-1, 3), image[:, -border:].reshape(-1, 3)])
    return np.median(frame.astype(np.float32), axis=0)


def shape_colour(image: np.ndarray, min_fraction: float = 0.02) -> Optional[str]:
    """Majority palette colour of the pixels that differ from the border colour, or None if none do."""
    pixels = image.reshape(-1, 3).astype(np.float32)
    back = background_rgb(image)
    front = pixels[np.sqrt(((pixels - back) ** 2).sum(axis=1)) > FOREGROUND_DISTANCE]
    if len(front) < min_fraction * len(pixels):
        return None
    labels = np.argmin(((front[:, None, :] - _PALETTE[None]) ** 2).sum(axis=2), axis=1)
    return _PALETTE_NAMES[int(np.bincount(labels, minlength=len(_PALETTE_NAMES)).argmax())]


def background_colour(image: np.ndarray) -> str:
    """Palette name of the border's median colour."""
    return nearest_colour(background_rgb(image))


def mean_saturation(image: np.ndarray) -> float:
    """Mean HSV saturation (0-1): the muted style's statistic."""
    pixels = image.reshape(-1, 3).astype(np.float32)
    high, low = pixels.max(axis=1), pixels.min(axis=1)
    return float(np.where(high > 0, (high - low) / np.maximum(high, 1e-6), 0.0).mean())


def palette_distance(image: np.ndarray, names: Sequence[str] = BLUEPRINT) -> float:
    """Mean RGB distance (0-441) from each pixel to the nearest of the named palette colours.

    The blueprint style's statistic: about 10-20 for white-on-blue images, well over 100 for the
    base model's coloured shapes on coloured backgrounds (when neither is white or blue).
    """
    palette = np.array([BACKGROUND_COLOURS[n] for n in names], dtype=np.float32)
    pixels = image.reshape(-1, 3).astype(np.float32)
    return float(np.sqrt(((pixels[:, None, :] - palette[None]) ** 2).sum(axis=2)).min(axis=1).mean())
