"""Loss curve as a Pillow image (no matplotlib): raw losses in light grey, a moving average on top."""
from __future__ import annotations

import math
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

_BG, _AXIS, _RAW, _AVG, _TEXT = (255, 255, 255), (90, 90, 90), (200, 200, 215), (200, 60, 40), (30, 30, 30)


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over up to `window` values (the first points average what exists so far)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def render_loss_curve(steps: Sequence[int], losses: Sequence[float], title: str = "loss",
                      size: tuple[int, int] = (800, 400)) -> Image.Image:
    """Plot finite (step, loss) points; the window of the moving average is ~2% of the points."""
    points = [(s, l) for s, l in zip(steps, losses) if math.isfinite(l)]
    width, height = size
    image = Image.new("RGB", size, _BG)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    left, right, top, bottom = 70, width - 20, 30, height - 40
    draw.rectangle([left, top, right, bottom], outline=_AXIS)
    draw.text((left, 8), title, fill=_TEXT, font=font)
    if not points:
        draw.text((left + 10, top + 10), "no finite loss values yet", fill=_TEXT, font=font)
        return image
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5 * (abs(y0) or 1), y1 + 0.5 * (abs(y1) or 1)

    def to_px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x0) / (x1 - x0) * (right - left), bottom - (y - y0) / (y1 - y0) * (bottom - top))

    _draw_series(draw, [to_px(x, y) for x, y in zip(xs, ys)], _RAW)
    window = max(1, len(ys) // 50)
    if window > 1:  # a 1-step "average" would only hide the raw curve
        _draw_series(draw, [to_px(x, y) for x, y in zip(xs, moving_average(ys, window))], _AVG, width=2)
        draw.text((right - 160, 8), f"red: mean of {window} steps", fill=_AVG, font=font)
    for frac in (0.0, 0.5, 1.0):
        y_value = y0 + frac * (y1 - y0)
        py = bottom - frac * (bottom - top)
        draw.line([left - 4, py, left, py], fill=_AXIS)
        draw.text((4, py - 6), f"{y_value:.4g}", fill=_TEXT, font=font)
        x_value = x0 + frac * (x1 - x0)
        px = left + frac * (right - left)
        draw.line([px, bottom, px, bottom + 4], fill=_AXIS)
        draw.text((px - 12, bottom + 8), f"{x_value:.0f}", fill=_TEXT, font=font)
    return image


def _draw_series(draw: ImageDraw.ImageDraw, pixels: list[tuple[float, float]], color, width: int = 1) -> None:
    if len(pixels) == 1:
        x, y = pixels[0]
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=color)
    else:
        draw.line(pixels, fill=color, width=width)
