"""What a host (the webui or the standalone app) gives the panels: the service layer's HostContext."""
from __future__ import annotations

from ..service import HostContext

PanelContext = HostContext  # the panels' name for it

__all__ = ["PanelContext"]
