"""Tables that keep their column headers when they hold no rows.

gradio 3.41's Dataframe turns an empty list into `[[]]` and cuts its headers to that row's width
(none), so the page shows its placeholder headers "1 2 3 4 5 6" instead: an empty checkpoint table
reads like a broken one. `headed_table` keeps the real headers whatever empty value it is given
(initial value, a callback's `[]`), so every place that fills it can keep returning plain rows.
"""
from __future__ import annotations

from typing import Any, Sequence


def headed_table(gr: Any, headers: Sequence[str], **kwargs: Any) -> Any:
    """A read-only `gr.Dataframe` with `headers` that shows them even with no rows."""
    return _headed_class(gr)(headers=list(headers), value=[], interactive=False, **kwargs)


_CLASSES: dict = {}


def _headed_class(gr: Any) -> type:
    if gr not in _CLASSES:
        class HeadedTable(gr.Dataframe):
            is_template = True  # gradio names the component after the base class: the page draws a Dataframe

            def postprocess(self, y: Any) -> dict:
                if y is None or (isinstance(y, list) and (not y or y == [[]])):
                    return {"headers": list(self.headers), "data": []}
                return super().postprocess(y)
        _CLASSES[gr] = HeadedTable
    return _CLASSES[gr]
