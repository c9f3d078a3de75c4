"""Stand-in of `modules.call_queue`: the lock every GPU call of the webui holds while it runs.

The webui v1.10 uses a first-in-first-out lock with the same `with`/`acquire`/`release` interface;
a plain lock behaves the same for one waiter, which is all the tests need.
"""
import threading

queue_lock = threading.Lock()


def wrap_queued_call(func):
    def f(*args, **kwargs):
        with queue_lock:
            return func(*args, **kwargs)
    return f
