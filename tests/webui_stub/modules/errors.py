"""Stand-in of `modules.errors`: print problems instead of raising, as the webui does."""
import sys
import traceback

reported: list[str] = []


def report(message: str, *, exc_info: bool = False) -> None:
    reported.append(message)
    print("***", message, file=sys.stderr)
    if exc_info:
        traceback.print_exc()


def display(e: Exception, task: str, *, full_traceback: bool = False) -> None:
    reported.append(f"{task}: {type(e).__name__}: {e}")
    print(f"{task}: {type(e).__name__}: {e}", file=sys.stderr)
