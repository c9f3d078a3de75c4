import math

import pytest

from hypernet_ext.errors import InvalidOptionError
from hypernet_ext.training.schedule import (ClipSchedule, CosineWarmupRestarts, SchedulePiece, StepSchedule,
                                            parse_schedule)


def test_webui_example_pieces():
    pieces = parse_schedule("5e-5:100, 5e-6:1500, 5e-7:10000, 5e-8", 20000)
    assert pieces == [SchedulePiece(5e-5, 100), SchedulePiece(5e-6, 1500), SchedulePiece(5e-7, 10000),
                      SchedulePiece(5e-8, 20000)]


def test_value_at_boundaries():
    s = StepSchedule("5e-5:100, 5e-6:1500, 5e-8", 3000)
    assert s.value_at(0) == 5e-5 and s.value_at(99) == 5e-5
    assert s.value_at(100) == 5e-6 and s.value_at(1499) == 5e-6
    assert s.value_at(1500) == 5e-8 and s.value_at(2999) == 5e-8
    assert s.value_at(3000) is None


def test_exhausted_list_stops():
    s = StepSchedule("0.001:100", 1000)
    assert s.value_at(99) == 0.001
    assert s.value_at(100) is None
    assert s.end_step == 100


def test_minus_one_means_until_the_end_and_stops_parsing():
    assert parse_schedule("1e-3:10, 1e-4:-1, 1e-5:50", 40) == [SchedulePiece(1e-3, 10), SchedulePiece(1e-4, 40)]


def test_step_beyond_max_is_capped_and_stops_parsing():
    assert parse_schedule("1e-3:10, 1e-4:500, 1e-5", 100) == [SchedulePiece(1e-3, 10), SchedulePiece(1e-4, 100)]


def test_resume_drops_past_pieces():
    assert parse_schedule("1e-3:10, 1e-4:20, 1e-5", 100, cur_step=10) == [SchedulePiece(1e-4, 20),
                                                                          SchedulePiece(1e-5, 100)]
    s = StepSchedule("1e-3:10, 1e-4:20, 1e-5", 100, cur_step=15)
    assert s.value_at(15) == 1e-4 and s.value_at(20) == 1e-5


def test_resume_past_the_end_is_a_clear_error():
    with pytest.raises(InvalidOptionError, match="already at step 30"):
        StepSchedule("1e-3:10, 1e-4:20", 100, cur_step=30)


def test_single_value_and_extra_colons():
    assert parse_schedule("1e-5", 50) == [SchedulePiece(1e-5, 50)]
    assert parse_schedule(" , 2e-5:1:2", 50) == [SchedulePiece(2e-5, 50)]


@pytest.mark.parametrize("text,needle", [
    ("", "empty"), ("abc", "does not start with a number"), ("1e-5:ten", "whole number"),
    ("1e-5:-5", "negative"), ("1e-5:100, 1e-6:50", "not after"), ("-1e-5", "positive"), ("nan", "positive"),
])
def test_bad_schedules(text, needle):
    with pytest.raises(InvalidOptionError, match=needle):
        StepSchedule(text, 100)


def test_clip_schedule_keeps_last_value():
    c = ClipSchedule("0.5:10, 0.1:20", 100)
    assert c.value_at(5) == 0.5 and c.value_at(15) == 0.1 and c.value_at(50) == 0.1


def test_cosine_warmup_and_annealing_values():
    c = CosineWarmupRestarts(max_lr=1.0, first_cycle_steps=10, warmup_steps=2, min_lr=0.0)
    assert c.value_at(0) == 0.0
    assert c.value_at(1) == pytest.approx(0.5)
    assert c.value_at(2) == pytest.approx(1.0)
    assert c.value_at(6) == pytest.approx((1 + math.cos(math.pi * 4 / 8)) / 2)
    assert c.value_at(10) == 0.0  # restart: warmup again
    assert c.is_end_of_cycle(9) and not c.is_end_of_cycle(8)


def test_cosine_restarts_with_multiplier_and_gamma():
    c = CosineWarmupRestarts(max_lr=1.0, first_cycle_steps=4, cycle_mult=2.0, warmup_steps=0, min_lr=0.1, gamma=0.5)
    assert c.cycle_at(3) == (0, 3, 4)
    assert c.cycle_at(4) == (1, 0, 8)
    assert c.cycle_at(12) == (2, 0, 16)
    assert c.value_at(4) == pytest.approx(0.5)   # second cycle peaks at gamma * max
    assert c.value_at(12) == pytest.approx(0.25)
    assert c.value_at(8) == pytest.approx(0.1 + 0.4 * (1 + math.cos(math.pi * 4 / 8)) / 2)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(first_cycle_steps=0), "at least 1"), (dict(warmup_steps=10), "shorter than the first cycle"),
    (dict(cycle_mult=0.5), ">= 1"), (dict(min_lr=2.0), "below the maximum"), (dict(gamma=2.0), "gamma"),
])
def test_cosine_bad_options(kwargs, needle):
    args = dict(max_lr=1.0, first_cycle_steps=10, warmup_steps=0, min_lr=0.0)
    args.update(kwargs)
    with pytest.raises(InvalidOptionError, match=needle):
        CosineWarmupRestarts(**args)
