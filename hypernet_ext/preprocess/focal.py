"""Focal-point crop: find where the interesting part of an image is and crop around it.

Three detectors each give a set of points; the focal point is the weighted mean of their centroids,
weights normalised over the detectors that found something (the webui's rule):
- edges: Shi-Tomasi corner points (minimum eigenvalue of the structure tensor), written in numpy;
- entropy: the centre of the crop-sized window with the most varied grey levels;
- faces: OpenCV's bundled Haar cascade, only when `cv2` can be imported.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from .resize import scale_to_cover

Point = tuple[float, float]
ANALYSIS_MAX_SIDE = 768      # detectors run on a copy at most this large
CORNER_QUALITY = 0.04        # keep corners at least this fraction of the strongest
CORNER_MAX_POINTS = 100
CORNER_MIN_DISTANCE = 0.06   # of the short side
ENTROPY_STEP = 4
ENTROPY_BINS = 64
FACE_UNAVAILABLE = "face detection unavailable (OpenCV `cv2` is not installed); faces were not weighted"


@dataclass
class FocalWeights:
    faces: float = 0.9
    entropy: float = 0.15
    edges: float = 0.5


@dataclass
class FocalResult:
    image: Image.Image                 # the width x height crop
    point: Point                       # focal point in the scaled image
    box: tuple[int, int, int, int]     # crop box in the scaled image
    detections: dict[str, list[Point]] = field(default_factory=dict)
    face_boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    debug: Image.Image | None = None


def face_detector_available() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


def focal_crop(image: Image.Image, width: int, height: int, weights: FocalWeights,
               debug: bool = False) -> FocalResult:
    """Scale `image` to cover width x height and crop that size around its focal point."""
    big = scale_to_cover(image, width, height)
    grey = _analysis_grey(big)
    factor = big.width / grey.shape[1]
    crop_w, crop_h = width / factor, height / factor
    detections: dict[str, list[Point]] = {}
    face_boxes: list[tuple[int, int, int, int]] = []
    if weights.edges > 0:
        detections["edges"] = corner_points(grey)
    if weights.entropy > 0:
        detections["entropy"] = entropy_points(grey, crop_w, crop_h)
    if weights.faces > 0 and face_detector_available():
        boxes = detect_faces(grey)
        face_boxes = [tuple(round(v * factor) for v in b) for b in boxes]  # type: ignore[misc]
        detections["faces"] = [(x + w / 2, y + h / 2) for x, y, w, h in boxes]
    detections = {k: [(x * factor, y * factor) for x, y in pts] for k, pts in detections.items()}
    point = combine(detections, {"edges": weights.edges, "entropy": weights.entropy, "faces": weights.faces},
                    default=(big.width / 2, big.height / 2))
    box = crop_box(point, big.size, width, height)
    result = FocalResult(big.crop(box), point, box, detections, face_boxes)
    if debug:
        result.debug = debug_image(big, result)
    return result


def _analysis_grey(image: Image.Image) -> np.ndarray:
    """Grey copy as float32 in [0, 1], downscaled so its long side is at most ANALYSIS_MAX_SIDE."""
    grey = image.convert("L")
    long_side = max(grey.size)
    if long_side > ANALYSIS_MAX_SIDE:
        s = ANALYSIS_MAX_SIDE / long_side
        grey = grey.resize((max(1, round(grey.width * s)), max(1, round(grey.height * s))),
                           Image.Resampling.BILINEAR)
    return np.asarray(grey, dtype=np.float32) / 255.0


def combine(detections: dict[str, list[Point]], weights: dict[str, float], default: Point) -> Point:
    """Weighted mean of each detector's centroid, over detectors that found points."""
    total, x, y = 0.0, 0.0, 0.0
    for name, points in detections.items():
        w = weights.get(name, 0.0)
        if not points or w <= 0:
            continue
        cx, cy = np.mean(np.asarray(points, dtype=np.float64), axis=0)
        total += w
        x += w * cx
        y += w * cy
    return (x / total, y / total) if total > 0 else default


def crop_box(point: Point, size: tuple[int, int], width: int, height: int) -> tuple[int, int, int, int]:
    """A width x height box centred on `point`, moved inside an image of `size`."""
    left = int(round(point[0] - width / 2))
    top = int(round(point[1] - height / 2))
    left = min(max(left, 0), size[0] - width)
    top = min(max(top, 0), size[1] - height)
    return left, top, left + width, top + height


def _box_sum(a: np.ndarray, r: int) -> np.ndarray:
    """Sum over a (2r+1)-square window, edges padded by reflection."""
    p = np.pad(a, r + 1, mode="reflect")[: a.shape[0] + 2 * r + 1, : a.shape[1] + 2 * r + 1]
    c = p.cumsum(0).cumsum(1)
    k = 2 * r + 1
    return c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]


def corner_strength(grey: np.ndarray) -> np.ndarray:
    """Shi-Tomasi response: the smaller eigenvalue of the smoothed gradient structure tensor."""
    p = np.pad(grey, 1, mode="edge")
    gx = (p[1:-1, 2:] - p[1:-1, :-2]) * 2 + (p[:-2, 2:] - p[:-2, :-2]) + (p[2:, 2:] - p[2:, :-2])
    gy = (p[2:, 1:-1] - p[:-2, 1:-1]) * 2 + (p[2:, :-2] - p[:-2, :-2]) + (p[2:, 2:] - p[:-2, 2:])
    a, b, c = _box_sum(gx * gx, 1), _box_sum(gx * gy, 1), _box_sum(gy * gy, 1)
    return (a + c) / 2 - np.sqrt(((a - c) / 2) ** 2 + b * b)


def corner_points(grey: np.ndarray, max_points: int = CORNER_MAX_POINTS) -> list[Point]:
    """Strong, well separated corners; the bottom tenth is ignored (watermarks, captions)."""
    h, w = grey.shape
    if h < 3 or w < 3:
        return []
    response = corner_strength(grey)
    response[int(h * 0.9):, :] = 0
    peak = float(response.max())
    if peak <= 1e-6:
        return []
    padded = np.pad(response, 1, mode="constant")
    neighbours = np.max([padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], axis=0)
    ys, xs = np.nonzero((response >= CORNER_QUALITY * peak) & (response >= neighbours))
    order = np.argsort(-response[ys, xs], kind="stable")[: max_points * 20]
    min_dist2 = (CORNER_MIN_DISTANCE * min(h, w)) ** 2
    chosen: list[Point] = []
    for i in order:
        x, y = float(xs[i]), float(ys[i])
        if all((x - cx) ** 2 + (y - cy) ** 2 >= min_dist2 for cx, cy in chosen):
            chosen.append((x, y))
            if len(chosen) >= max_points:
                break
    return chosen


def entropy_points(grey: np.ndarray, crop_w: float, crop_h: float) -> list[Point]:
    """Centre of the crop-sized window, slid along the long axis, whose grey levels vary most."""
    h, w = grey.shape
    along_x = w / h > crop_w / crop_h
    length = w if along_x else h
    window = max(1, min(length, int(round(crop_w if along_x else crop_h))))
    if window >= length:
        return []
    levels = np.minimum((grey * ENTROPY_BINS).astype(np.int64), ENTROPY_BINS - 1)
    lines = levels.T if along_x else levels  # one row per position along the sliding axis
    hist = np.zeros((length + 1, ENTROPY_BINS), dtype=np.float64)
    for b in range(ENTROPY_BINS):
        hist[1:, b] = np.cumsum((lines == b).sum(axis=1))
    starts = np.arange(0, length - window + 1, ENTROPY_STEP)
    counts = hist[starts + window] - hist[starts]
    prob = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(prob > 0, prob * np.log2(prob), 0.0).sum(axis=1)
    best = int(starts[int(np.argmax(entropy))]) + window / 2
    return [(best, h / 2)] if along_x else [(w / 2, best)]


def detect_faces(grey: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) from OpenCV's bundled frontal-face Haar cascade."""
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    pixels = (grey * 255).astype(np.uint8)
    side = max(8, int(min(pixels.shape) * 0.05))
    faces = cascade.detectMultiScale(pixels, scaleFactor=1.1, minNeighbors=7, minSize=(side, side))
    return [tuple(int(v) for v in f) for f in faces]  # type: ignore[misc]


DEBUG_COLORS = {"edges": (0, 160, 255), "entropy": (255, 200, 0), "faces": (255, 0, 255)}


def debug_image(big: Image.Image, result: FocalResult) -> Image.Image:
    """The scaled image with detector points, face boxes, the crop box (red) and the focal point."""
    canvas = big.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    r = max(2, min(canvas.size) // 100)
    for name, points in result.detections.items():
        for x, y in points:
            draw.ellipse((x - r, y - r, x + r, y + r), outline=DEBUG_COLORS.get(name, (0, 255, 0)), width=2)
    for x, y, w, h in result.face_boxes:
        draw.rectangle((x, y, x + w, y + h), outline=DEBUG_COLORS["faces"], width=3)
    draw.rectangle(result.box, outline=(255, 0, 0), width=max(2, r // 2))
    fx, fy = result.point
    big_r = r * 3
    draw.ellipse((fx - big_r, fy - big_r, fx + big_r, fy + big_r), outline=(255, 0, 0), width=3)
    draw.line((fx - big_r, fy, fx + big_r, fy), fill=(255, 0, 0), width=2)
    draw.line((fx, fy - big_r, fx, fy + big_r), fill=(255, 0, 0), width=2)
    return canvas

