"""The Pillow loss-curve plot used in the log directory and the live view."""
import math

import numpy as np

from hypernet_ext.training.loss_plot import _AVG, _BG, _RAW, moving_average, render_loss_curve


def colour_pixels(image, colour):
    return int((np.asarray(image) == np.array(colour, dtype=np.uint8)).all(axis=-1).sum())


def test_short_run_draws_the_raw_curve_only():
    image = render_loss_curve([1, 2, 3], [1.0, 0.5, 0.8], "t", size=(400, 200))
    assert image.size == (400, 200)
    assert colour_pixels(image, _RAW) > 50 and colour_pixels(image, _AVG) == 0


def test_long_run_adds_the_moving_average_and_skips_non_finite_losses():
    steps = list(range(1, 501))
    losses = [1.0 / (1 + s / 50) + (0.1 if s % 2 else -0.1) for s in steps]
    losses[10] = math.nan
    image = render_loss_curve(steps, losses)
    assert colour_pixels(image, _AVG) > 100 and colour_pixels(image, _RAW) > 100


def test_no_finite_values_gives_a_blank_plot_with_a_note():
    image = render_loss_curve([1, 2], [math.nan, math.inf], size=(300, 150))
    assert colour_pixels(image, _RAW) == 0
    assert colour_pixels(image, _BG) < 300 * 150


def test_moving_average():
    assert moving_average([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
