"""The matplotlib loss plot used in the run folder and the live view."""
import math

import numpy as np
from PIL import ImageColor

from hypernet_ext.training.loss_plot import (AVERAGE_COLOUR, LR_COLOUR, RAW_COLOUR, VALIDATION_COLOUR,
                                             moving_average, render_loss_curve)


def colour_pixels(image, colour, tolerance=12):
    target = np.array(ImageColor.getrgb(colour), dtype=np.int16)
    return int((np.abs(np.asarray(image).astype(np.int16) - target).max(axis=-1) <= tolerance).sum())


def test_short_run_draws_the_raw_curve_only():
    image = render_loss_curve([1, 2, 3], [1.0, 0.5, 0.8], "t", size=(400, 200))
    assert image.size == (400, 200)
    assert colour_pixels(image, RAW_COLOUR) > 20 and colour_pixels(image, AVERAGE_COLOUR) == 0


def test_long_run_adds_the_moving_average_learning_rate_and_validation_and_skips_non_finite_losses():
    steps = list(range(1, 501))
    losses = [1.0 / (1 + s / 50) + (0.1 if s % 2 else -0.1) for s in steps]
    losses[10] = math.nan
    plain = render_loss_curve(steps, losses)
    assert colour_pixels(plain, AVERAGE_COLOUR) > 100 and colour_pixels(plain, RAW_COLOUR) > 100
    assert colour_pixels(plain, LR_COLOUR) == 0 and colour_pixels(plain, VALIDATION_COLOUR) == 0
    full = render_loss_curve(steps, losses, learning_rates=[1e-3 * (1 - s / 600) for s in steps],
                             validation={100: 0.5, 300: 0.3, 500: 0.25})
    assert colour_pixels(full, LR_COLOUR) > 50 and colour_pixels(full, VALIDATION_COLOUR) > 50


def test_no_finite_values_gives_an_empty_plot_with_a_note():
    image = render_loss_curve([1, 2], [math.nan, math.inf], size=(300, 150))
    assert image.size == (300, 150) and colour_pixels(image, RAW_COLOUR) == 0


def test_moving_average():
    assert moving_average([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
