"""The background job runner: one job at a time, status, interrupt, errors as messages, observers."""
from __future__ import annotations

import threading

import pytest

from hypernet_ext.errors import HypernetError, InvalidOptionError
from hypernet_ext.jobs import JobBusyError, JobManager, LossHistoryProgress
from hypernet_ext.progress import Cancelled


class _Result:
    def __init__(self, stopped: str, message: str):
        self.stopped, self.message = stopped, message


def _until_cancelled(release: threading.Event):
    def job(progress):
        progress.start(100, "loop")
        for step in range(100):
            release.wait(5)
            if progress.cancelled:
                return _Result("interrupted", f"stopped at {step}")
            progress.update(step=step + 1, loss=1.0 / (step + 1))
        return _Result("finished", "done")
    return job


def test_idle_status_before_any_job():
    assert JobManager().status() == {"state": "idle", "running": False}


def test_job_result_message_and_state():
    jobs = JobManager()
    job = jobs.start("training", lambda progress: _Result("finished", "Trained to step 3."), "t")
    assert jobs.wait(10) is job and not job.running
    status = jobs.status()
    assert status["state"] == "finished" and status["message"] == "Trained to step 3." and status["kind"] == "training"
    assert status["finished_at"] >= status["started_at"]


def test_one_job_at_a_time_and_interrupt():
    jobs = JobManager()
    gate = threading.Event()
    job = jobs.start("training", _until_cancelled(gate), "first")
    with pytest.raises(JobBusyError, match="still running"):
        jobs.start("preprocessing", lambda progress: None)
    assert jobs.busy and jobs.interrupt()
    gate.set()
    jobs.wait(10)
    assert job.state == "interrupted" and "stopped at 0" in job.message
    assert not jobs.interrupt()  # nothing runs any more
    second = jobs.start("preprocessing", lambda progress: None)  # a new job may start now
    jobs.wait(10)
    assert second.state == "finished" and second.id == job.id + 1


def test_errors_become_messages():
    jobs = JobManager()

    def bad_option(progress):
        raise InvalidOptionError("Layer structure must start with 1.")
    jobs.start("training", bad_option)
    jobs.wait(10)
    assert jobs.status()["state"] == "failed" and jobs.status()["error"] == "Layer structure must start with 1."

    def crash(progress):
        raise RuntimeError("CUDA out of memory")
    job = jobs.start("training", crash)
    jobs.wait(10)
    assert job.state == "failed" and job.error == "RuntimeError: CUDA out of memory"
    assert "Traceback" in job.details and job.progress.finished


def test_cancelled_exception_and_diverged_result():
    jobs = JobManager()

    def cancelled(progress):
        raise Cancelled("cancelled by the user")
    jobs.start("preprocessing", cancelled)
    assert jobs.wait(10).state == "interrupted"
    jobs.start("training", lambda progress: _Result("diverged", "loss became NaN"))
    job = jobs.wait(10)
    assert job.state == "failed" and job.error == "loss became NaN"


def test_unknown_kind_is_refused():
    with pytest.raises(HypernetError, match="Unknown job kind"):
        JobManager().start("render", lambda progress: None)


def test_status_is_json_able_and_has_progress():
    import json
    jobs = JobManager()
    gate = threading.Event()
    jobs.start("training", _until_cancelled(gate), "json")
    gate.set()
    jobs.wait(10)
    status = jobs.status()
    json.dumps(status)
    assert status["progress"]["step"] == 100 and status["progress"]["loss"] == pytest.approx(0.01)


def test_loss_history_keeps_one_value_per_step_and_drops_rewound_steps():
    progress = LossHistoryProgress(10)
    for step, loss in ((1, 0.5), (2, 0.4), (3, 0.3)):
        progress.update(step=step, loss=loss)
    progress.update(step=2, loss=0.45)  # a rewind (resume) replaces later values
    progress.update(message="no loss here")
    assert progress.history() == [(1, 0.5), (2, 0.45)]


class _Recorder:
    def __init__(self):
        self.events = []
        self.polled_once = threading.Event()

    def started(self, job):
        self.events.append(("started", job.id))

    def polled(self, job):
        self.events.append(("polled", job.id))
        self.polled_once.set()
        job.interrupt()  # like the webui's Interrupt button seen through shared.state

    def ended(self, job):
        self.events.append(("ended", job.state))


def test_observers_see_start_polls_and_end_and_can_interrupt():
    recorder = _Recorder()
    jobs = JobManager(observers=[recorder], poll_interval=0.01)
    gate = threading.Event()
    jobs.start("training", _until_cancelled(gate))
    assert recorder.polled_once.wait(10)
    gate.set()
    jobs.wait(10)
    assert recorder.events[0] == ("started", 1) and recorder.events[-1] == ("ended", "interrupted")


def test_job_lock_is_held_while_running():
    lock = threading.Lock()
    jobs = JobManager(job_lock=lambda: lock)
    seen = []
    jobs.start("training", lambda progress: seen.append(lock.locked()))
    jobs.wait(10)
    assert seen == [True] and not lock.locked()
