"""Our live view (status, loss plot, latest preview) in the right-hand column of the webui's Train tab.

The webui v1.10 lays its Train tab out as one resizable row: on the left the tabs (its own and those
extensions add through `on_ui_train_tabs`, ours among them), on the right a column with elem_id
`ti_gallery_container` holding its own trainer's outputs, first of them `ti_output`. That column is
built after the tabs, so `on_ui_train_tabs` cannot put anything there, and our panels' own live views
end up squeezed under their forms in the narrow left half while the right half stays empty.

The webui's stable surface for this is its component callbacks and element ids:
`on_after_component` for `train_tabs` (its Tabs) and `on_before_component` for `ti_output` (called
while the right-hand column is open, before its first component): what is made then lands at the
top of that column. There we build one live view for all our panels (one job runs at a time), hide
the panels' own live views, and show it only while one of our tabs is selected. Where a webui lacks
those ids, nothing is moved: the panels keep their own live views.
"""
from __future__ import annotations

from typing import Any, Optional

TRAIN_TABS_ID = "train_tabs"
COLUMN_FIRST_ID = "ti_output"
PREFIX = "hnx_webui"  # ids: hnx_webui_live_status / _live_refresh, polled by javascript/hypernet_ext_panels.js
LIVE_PANELS = ("preprocess", "train", "resume")  # our tabs that run a job (Create does not)
PANEL_LIVE_KEYS = ("refresh", "status", "loss_plot", "preview_image")


class LiveColumn:
    """Collects what one build of the Train tab needs, then builds the live view in its column."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.tabs: Optional[Any] = None  # the webui's Train-tab Tabs
        self.panels: Optional[dict] = None  # build_panel_tabs' result, until the column is built
        self.jobs: Optional[Any] = None
        self.titles: tuple = ()
        self.view: Optional[dict] = None  # the components built (for tests and callers)

    # -- webui callbacks ------------------------------------------------------------------------
    def after_component(self, component: Any, **kwargs: Any) -> None:
        if kwargs.get("elem_id") == TRAIN_TABS_ID:
            self.reset()  # a new Train tab (first build, or "Reload UI")
            self.tabs = component

    def before_component(self, component: Any, **kwargs: Any) -> None:
        if kwargs.get("elem_id") == COLUMN_FIRST_ID and self.panels is not None:
            panels, jobs, titles = self.panels, self.jobs, self.titles
            self.panels = None  # once per Train tab
            self.view = build_live_view(panels, jobs, self.tabs, titles)

    # -- from on_ui_train_tabs -------------------------------------------------------------------
    def panels_built(self, panels: dict, jobs: Any, titles: tuple) -> None:
        """Our panels exist; `titles` are the tab titles that show the live view."""
        self.panels, self.jobs, self.titles = panels, jobs, tuple(titles)


def build_live_view(panels: dict, jobs: Any, tabs: Optional[Any], titles: tuple) -> dict:
    """In the open layout (the webui's right-hand column): the shared live view, wired to every panel."""
    import gradio as gr

    from ...ui.live import live_values, status_html
    v: dict = {}
    with gr.Column(visible=tabs is None, elem_id=f"{PREFIX}_live", elem_classes=["hnx-live-column"]) as column:
        v["column"] = column
        with gr.Row():
            v["refresh"] = gr.Button("Refresh status", size="sm", elem_id=f"{PREFIX}_live_refresh")
        v["status"] = gr.HTML(status_html(jobs.status()), elem_id=f"{PREFIX}_live_status",
                              elem_classes=["hnx-live-view"])
        v["loss_plot"] = gr.Image(None, type="pil", interactive=False, label="Loss", elem_id=f"{PREFIX}_loss_plot")
        v["preview_image"] = gr.Image(None, type="filepath", interactive=False, label="Latest preview",
                                      elem_id=f"{PREFIX}_preview_image")
    outputs = [v["status"], v["loss_plot"], v["preview_image"]]

    def refresh():
        return live_values(jobs)
    v["refresh_fn"] = refresh
    v["refresh"].click(refresh, outputs=outputs, show_progress="hidden")
    from gradio.context import Context
    if Context.root_block is not None:  # every page that opens shows the current job at once
        Context.root_block.load(refresh, outputs=outputs, queue=False, show_progress="hidden")
    for key in LIVE_PANELS:  # a start or interrupt updates a panel's (hidden) status: follow it at once
        status = panels.get(key, {}).get("status")
        if status is not None:
            status.change(refresh, outputs=outputs, show_progress="hidden")
    hide_panel_live_views(panels)
    if tabs is not None:
        def show_for(evt):
            return (gr.update(visible=str(evt.value) in titles), *refresh())
        show_for.__annotations__["evt"] = gr.SelectData  # gradio passes the selected tab to a SelectData argument
        v["show_for"] = show_for
        tabs.select(show_for, outputs=[column, *outputs], show_progress="hidden", queue=False)
    return v


def hide_panel_live_views(panels: dict) -> None:
    """The panels' own live views stay in place (their events still write to them) but are not shown.

    A panel that writes its start/interrupt messages into its status block (one without a
    `message` component of its own) keeps that block, or its messages and errors would vanish."""
    for key in LIVE_PANELS:
        panel = panels.get(key, {})
        keep = () if "message" in panel else ("live_column", "status")
        parts = {name: panel.get(name) for name in PANEL_LIVE_KEYS}
        parts["live_column"] = _own_live_column(panel.get("status"))
        for name, component in parts.items():
            if component is not None and name not in keep:
                component.visible = False


def _own_live_column(status: Any) -> Optional[Any]:
    """The column a panel gave its live view alone (the Train panel's `<prefix>_live`), if any."""
    parent = getattr(status, "parent", None)
    return parent if str(getattr(parent, "elem_id", "") or "").endswith("_live") else None


live_column = LiveColumn()
