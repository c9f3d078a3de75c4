"""hypernet-ext: create, train and apply Stable Diffusion hypernetworks (webui-compatible)."""
from .apply import apply_hypernetworks
from .config import ACTIVATIONS, SELECTABLE_ACTIVATIONS, WEIGHT_INITS, HypernetworkConfig
from .errors import HypernetError, HypernetworkFileError, InvalidOptionError
from .hypernetwork import DEFAULT_SIZES, Hypernetwork, create_hypernetwork
from .attach import HypernetworkAttachment, attach_hypernetworks, attention_widths
from .library import HypernetworkLibrary, LibraryEntry
from .prompt_tags import HypernetTag, ParsedPrompt, format_tag, parse_prompt
from .storage import convert_hypernetwork, load_hypernetwork, save_hypernetwork

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "DEFAULT_SIZES", "SELECTABLE_ACTIVATIONS", "WEIGHT_INITS",
    "Hypernetwork", "HypernetworkConfig", "HypernetError", "HypernetworkFileError",
    "InvalidOptionError", "apply_hypernetworks", "create_hypernetwork",
    "HypernetworkAttachment", "attach_hypernetworks", "attention_widths",
    "HypernetworkLibrary", "LibraryEntry", "HypernetTag", "ParsedPrompt", "format_tag", "parse_prompt",
    "convert_hypernetwork", "load_hypernetwork", "save_hypernetwork",
]
