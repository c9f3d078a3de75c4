"""Events that keep a page's views current: run a callback whenever a page opens.

The panels are built once, when the server starts; a value computed then (the live view, the list
of hypernetworks or runs) is stale for a page opened later. A load event fills it afresh on every
page open, in the standalone UI and inside the webui alike (the webui renders our Blocks into its
own page, load events included).
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence


def on_page_load(fn: Callable, outputs: Sequence[Any], inputs: Optional[Sequence[Any]] = None) -> None:
    """Run `fn(*inputs)` into `outputs` each time a page opens; call it while building inside a gr.Blocks."""
    from gradio.context import Context
    root = Context.root_block
    if root is None:
        raise RuntimeError("on_page_load must be called while a gr.Blocks is being built")
    # Not queued: these are quick reads, and a page that opens must not wait behind a long job's event.
    root.load(fn, inputs=list(inputs or []), outputs=list(outputs), queue=False, show_progress="hidden")
