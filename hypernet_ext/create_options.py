"""What `create` makes: a new hypernetwork's options (declared once), its size estimate, and the file.

The CLI's `create` flags and the Create panel's components are generated from the declarations
below; `name`, `widths` and `folder` are the inputs each front end asks for in its own way (the
panel offers the loaded model's widths as check boxes, the CLI takes `--sizes`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

import torch

from .config import SELECTABLE_ACTIVATIONS, WEIGHT_INITS, HypernetworkConfig, parse_number_list
from .errors import HypernetError, InvalidOptionError
from .hypernetwork import Hypernetwork, create_hypernetwork, sanitize_name, validate_sizes
from .option_spec import option
from .storage import save_hypernetwork

FORMATS = ("pt", "safetensors")
BYTES_PER_TENSOR = 160   # zip entry / JSON header overhead per tensor, roughly
FILE_OVERHEAD = 4096


@dataclass
class CreateOptions:
    """A new hypernetwork: its name, attention widths, target folder, and every declared creation option."""

    name: str = ""
    widths: Sequence = field(default_factory=tuple)
    folder: str = ""
    layer_structure: Union[str, list] = option("1, 2, 1", help="width multipliers of each layer, starting and ending with 1; "
                                  "larger numbers mean more parameters", label="Layer structure", metavar="LIST")
    activation: str = option("linear", help="non-linearity between layers (linear: none, the webui default)",
                             label="Activation function", suggest=SELECTABLE_ACTIVATIONS)
    weight_init: str = option("Normal", help="how the weights start (Normal with the std below is the webui "
                              "default)", label="Weight initialization", suggest=WEIGHT_INITS, flag="--init")
    init_std: float = option(0.01, help="standard deviation of the Normal initialization",
                             label="Normal initialization std", minimum=0, metavar="STD")
    init_seed: int = option(-1, help="seed of the initial weights (-1: random); the same seed and options give "
                            "the same file", label="Initialization seed (-1 = random)", flag="--seed", metavar="S")
    layer_norm: bool = option(False, help="a LayerNorm after each hidden layer", label="Add layer normalization")
    dropout_structure: Union[str, list, None] = option("", help="dropout probability per layer, one per layer structure entry, e.g. "
                                    "0, 0.3, 0 (empty: no dropout)", label="Dropout structure (empty = none)",
                                    flag="--dropout", metavar="LIST")
    activate_output: bool = option(False, help="apply the activation after the last layer too",
                                   label="Activate the output layer too")
    skip_connection: bool = option(False, help="MonkeyPatch-style residual blocks (such files need this extension "
                                   "or MonkeyPatch)", label="Use skip connection (MonkeyPatch residual)")
    optional_info: str = option("", help="free-text note stored in the file", label="Notes stored in the file",
                                flag="--info", metavar="TEXT")
    file_format: str = option("pt", help="pt is the webui's format; safetensors cannot contain code",
                              label="File format", choices=FORMATS, flag="--format")
    overwrite: bool = option(False, help="replace an existing file of that name", label="Overwrite an existing file")

    def sizes(self) -> tuple[int, ...]:
        return validate_sizes(int(w) for w in self.widths or ())

    def dropout(self, wording: str = "label") -> Optional[tuple[float, ...]]:
        value = self.dropout_structure
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return _numbers(value, "dropout_structure" if wording == "api" else "Dropout structure")

    def config(self, wording: str = "label") -> HypernetworkConfig:
        """The structure; messages name fields by label, or by name for `wording="api"`."""
        dropout = self.dropout(wording)
        layers = _numbers(self.layer_structure, "layer_structure" if wording == "api" else "Layer structure")
        return HypernetworkConfig(layer_structure=layers,
                                  activation=self.activation, weight_init=self.weight_init,
                                  layer_norm=bool(self.layer_norm), dropout_structure=dropout,
                                  activate_output=bool(self.activate_output),
                                  last_layer_dropout=bool(dropout and len(dropout) >= 2 and dropout[-2] != 0),
                                  skip_connection=bool(self.skip_connection))

    def target_path(self, default_folder: str = "") -> Path:
        folder = (self.folder or "").strip() or default_folder
        if not folder:
            raise InvalidOptionError("Give the folder to save the new hypernetwork into.")
        if self.file_format not in FORMATS:
            raise InvalidOptionError(f"File format {self.file_format!r} is not one of: {', '.join(FORMATS)}.")
        return Path(folder).expanduser() / f"{sanitize_name(self.name)}.{self.file_format}"


def _numbers(value: Union[str, Sequence], what: str) -> tuple[float, ...]:
    """Numbers from text such as '1, 2, 1' or from a list."""
    if isinstance(value, str):
        return tuple(parse_number_list(value, what))
    try:
        return tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidOptionError(f"{what} {value!r} is not a list of numbers, e.g. [1, 2, 1].") from None


def estimate(options: CreateOptions) -> tuple[int, int]:
    """(parameter count, approximate file size in bytes) without allocating any weights."""
    config, sizes = options.config(), options.sizes()
    with torch.device("meta"):
        hn = Hypernetwork("estimate", sizes=sizes, config=config)
    tensors = list(hn.state_dict().values())
    count = sum(t.numel() for t in tensors)
    size = sum(t.numel() * t.element_size() for t in tensors) + BYTES_PER_TENSOR * len(tensors) + FILE_OVERHEAD
    return count, size


def create_file(options: CreateOptions, default_folder: str = "", overwrite_hint: str = "pass overwrite",
                wording: str = "label") -> Path:
    """Create and save the hypernetwork; refuses to replace a file unless `overwrite` (named by `overwrite_hint`)."""
    if not str(options.name or "").strip():
        raise InvalidOptionError("Enter a name for the new hypernetwork.")
    path = options.target_path(default_folder)
    if path.exists() and not options.overwrite:
        raise HypernetError(f"{path} already exists. {overwrite_hint[:1].upper()}{overwrite_hint[1:]} to "
                                 f"replace it, or choose another name.")
    config = options.config(wording)
    seed = None if options.init_seed is None or int(options.init_seed) < 0 else int(options.init_seed)
    hn = create_hypernetwork(options.name, sizes=options.sizes(), layer_structure=config.layer_structure,
                             activation=config.activation, weight_init=config.weight_init,
                             layer_norm=config.layer_norm, dropout_structure=config.dropout_structure,
                             activate_output=config.activate_output, last_layer_dropout=config.last_layer_dropout,
                             skip_connection=config.skip_connection, optional_info=(options.optional_info or None),
                             init_std=float(options.init_std), seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_hypernetwork(hn, path, overwrite=bool(options.overwrite))
