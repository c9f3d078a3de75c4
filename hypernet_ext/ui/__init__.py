"""Gradio (3.41) panels shared by the webui's Train tab and the standalone UI.

`context.PanelContext` is what a host provides (folders, the model, the job runner); each
`*_panel` module holds pure callback functions (tested without a browser) and a `build(ctx)`
that lays out its components. `app.build_app` assembles the standalone UI. gradio is imported
only by the `build` functions and `app`, so the callbacks work without it.
"""
