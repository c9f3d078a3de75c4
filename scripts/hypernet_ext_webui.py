"""hypernet-ext webui entry point: registers the extension's callbacks (all logic is in hypernet_ext.webui)."""
from hypernet_ext.webui.callbacks import register_callbacks

register_callbacks()
