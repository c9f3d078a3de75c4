"""AUTOMATIC1111 webui glue: the only part of hypernet_ext that imports the webui's `modules`.

`callbacks.register_callbacks()` (called by `scripts/hypernet_ext_webui.py`) wires everything:
the `<hypernet:...>` extra network, the Extra Networks page, settings, infotext paste handling,
model-change clean-up and the HTTP API. `host.WebuiHost` is the training host on the loaded model.
"""
