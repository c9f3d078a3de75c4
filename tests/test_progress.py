"""The polled progress object and its terminal line."""
import io
import threading

import pytest

from hypernet_ext.progress import Cancelled, Progress, format_seconds


def test_snapshot_tracks_steps_fields_and_eta():
    progress = Progress(10, "job")
    progress.update(step=4, loss=0.25, preview="a.png")
    snap = progress.snapshot()
    assert (snap["step"], snap["total"], snap["fraction"]) == (4, 10, 0.4)
    assert snap["loss"] == 0.25 and snap["preview"] == "a.png"
    assert snap["rate"] > 0 and snap["eta"] is not None and snap["eta"] >= 0
    progress.advance(2)
    assert progress.snapshot()["step"] == 6
    progress.finish("done")
    snap = progress.snapshot()
    assert snap["finished"] and snap["message"] == "done" and snap["error"] is None


def test_elapsed_time_and_speed_stop_counting_at_finish(monkeypatch):
    """A finished job's live view must not keep counting: elapsed and speed are frozen at the end."""
    clock = [100.0]
    monkeypatch.setattr("hypernet_ext.progress.time.monotonic", lambda: clock[0])
    progress = Progress(10, "job")
    clock[0] += 4.0
    progress.update(step=8)
    running = progress.snapshot()
    assert (running["elapsed"], running["rate"]) == (4.0, 2.0)
    clock[0] += 1.0
    progress.finish("done")
    clock[0] += 60.0  # the page keeps polling long after the end
    snap = progress.snapshot()
    assert (snap["elapsed"], snap["rate"]) == (5.0, 1.6)
    progress.start(10, "again")  # a new start counts afresh
    clock[0] += 2.0
    assert progress.snapshot()["elapsed"] == 2.0


def test_cancel_from_another_thread():
    progress = Progress(5)
    assert not progress.cancelled
    thread = threading.Thread(target=progress.cancel)
    thread.start()
    thread.join()
    assert progress.snapshot()["cancelled"]
    with pytest.raises(Cancelled):
        progress.raise_if_cancelled()
    progress.reset_cancel()
    progress.raise_if_cancelled()


def test_terminal_bar_draws_only_with_a_total():
    stream = io.StringIO()
    progress = Progress(0, "idle", stream=stream)
    progress.finish()
    assert stream.getvalue() == ""
    progress = Progress(4, "work", stream=stream, min_interval=0)
    progress.update(step=2, loss=0.5)
    progress.finish("ok")
    text = stream.getvalue()
    assert "work" in text and "2/4" in text and "loss=0.5000" in text and text.endswith("\n")


def test_messages_are_written_above_the_bar_on_their_own_line():
    stream = io.StringIO()
    progress = Progress(4, "work", stream=stream, min_interval=0)
    progress.update(step=1, loss=0.25)
    progress.write("a message")
    progress.update(step=2)
    progress.finish()
    lines = stream.getvalue().replace("\r", "\n").split("\n")
    assert "a message" in lines  # a line of its own, not glued to the bar


def test_format_seconds():
    assert format_seconds(59.6) == "1:00" and format_seconds(3725) == "1:02:05"
