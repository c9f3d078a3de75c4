"""hypernet-ext: create, train and apply Stable Diffusion hypernetworks (webui-compatible)."""
from .apply import apply_hypernetworks
from .config import ACTIVATIONS, SELECTABLE_ACTIVATIONS, WEIGHT_INITS, HypernetworkConfig
from .errors import HypernetError, HypernetworkFileError, InvalidOptionError
from .hypernetwork import DEFAULT_SIZES, Hypernetwork, create_hypernetwork

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "DEFAULT_SIZES", "SELECTABLE_ACTIVATIONS", "WEIGHT_INITS",
    "Hypernetwork", "HypernetworkConfig", "HypernetError", "HypernetworkFileError",
    "InvalidOptionError", "apply_hypernetworks", "create_hypernetwork",
]
