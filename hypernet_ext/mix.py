"""Mixing hypernetworks: weighted averages, chains, and MonkeyPatch's `.hns` mixing files.

`python -m hypernet_ext mix A.pt:0.6 B.pt:0.4 --out C.pt` writes one of two forms, and says which:

- **average** (the inputs have the same structure: widths, layer structure, activation, layer norm,
  skip connection, ...): a normal hypernetwork file whose every weight is the weighted mean of the
  inputs' (weights are normalised to sum to 1). Any tool that reads hypernetworks reads it (webui,
  ComfyUI, MonkeyPatch, this project).
- **chain** (different structures, or `--mode chain`): a `.hns` text file in MonkeyPatch's format,
  `[("A", 0.6), ("B", 0.4)]`, meaning "apply A at strength 0.6, then B at 0.4", exactly what the
  prompt `<hypernet:A:0.6> <hypernet:B:0.4>` does. Names are file stems resolved in the hypernetwork
  folders, so A and B must sit in the same folders as the `.hns` file. Readable by this project
  (CLI `generate`, the UI, the webui extension's library) and by MonkeyPatch when every strength is
  within [0, 1]; the plain webui and ComfyUI do not read `.hns`.

`.hns` reading: the file is Python literals parsed with `ast.literal_eval`, which evaluates no code
(there is no pickle in this format; the hypernetwork files it names are loaded by `storage`, i.e.
through `safe_unpickle`). The grammar, as MonkeyPatch's loader defines it:
`"A"`, `["A"]`, `{"A"}` (A at 1), `("A", s)` or `{"A": s}` (A at strength s); a list of two or more
items applies them in order; a dict `{X: w, ...}` or set of two or more items applies each branch to
the same input and takes the weighted sum of the branch outputs (weights normalised to sum 1, equal
for a set); a string starting with `[`, `(` or `{` is itself parsed as such an expression.
A mixed network used with a prompt strength m gives `x + m * (mix(x) - x)` (MonkeyPatch ignores m).
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import torch
from torch import nn

from .atomic_files import atomic_write_bytes
from .errors import HypernetworkFileError, InvalidOptionError

HNS_SUFFIX = ".hns"
MAX_DEPTH = 16
MODES = ("auto", "average", "chain")


# -- the command line's "FILE:WEIGHT" ------------------------------------------------------------
def parse_mix_item(text: str, count: int) -> tuple[Path, float]:
    """`A.pt:0.6` -> (A.pt, 0.6); without a weight, 1/count (so `mix A.pt B.pt` averages equally)."""
    head, sep, tail = str(text).rpartition(":")
    if sep and head:
        try:
            weight = float(tail)
        except ValueError:
            head, weight = text, 1.0 / count  # a drive letter or a ':' in the name, not a weight
        else:
            if not math.isfinite(weight):
                raise InvalidOptionError(f"{text!r}: the weight after ':' must be a finite number, e.g. A.pt:0.5.")
        return Path(head), weight
    return Path(text), 1.0 / count


# -- same structure: weighted average -------------------------------------------------------------
def structure_of(hn) -> tuple:
    """What must match for two hypernetworks to be averaged: config and every tensor's name and shape."""
    c = hn.config
    shapes = tuple((k, tuple(v.shape)) for k, v in hn.state_dict().items())
    return (tuple(hn.sizes), tuple(c.layer_structure), c.activation, bool(c.layer_norm), bool(c.activate_output),
            bool(c.skip_connection), shapes)


def average_hypernetworks(items: Sequence[tuple[object, float]], name: str):
    """A new hypernetwork whose weights are sum(w_i * theta_i) / sum(w_i).

    Computed as theta_0 + sum(w_i * (theta_i - theta_0)) in float64, so inputs that agree on a
    weight give exactly that weight back (two copies of one network average to it, bit for bit)."""
    from .hypernetwork import Hypernetwork
    if not items:
        raise InvalidOptionError("Give at least one hypernetwork to mix.")
    total = sum(w for _, w in items)
    if total == 0:
        raise InvalidOptionError("The weights add up to 0; an average needs weights with a non-zero sum.")
    first = items[0][0]
    shape = structure_of(first)
    for hn, _ in items[1:]:
        if structure_of(hn) != shape:
            raise InvalidOptionError(f"{hn.name} and {first.name} have different structures; they can only be "
                                     "chained (--mode chain), not averaged.")
    states = [hn.state_dict() for hn, _ in items]
    mixed = {}
    for key, base in states[0].items():
        acc = base.double()
        for (hn, w), state in zip(items[1:], states[1:]):
            acc = acc + (w / total) * (state[key].double() - base.double())
        mixed[key] = acc.to(base.dtype)
    out = Hypernetwork(name, sizes=first.sizes, config=first.config, step=max(int(hn.step) for hn, _ in items))
    out.load_state_dict(mixed)
    out.optional_info = "weighted average of " + ", ".join(f"{hn.name}:{w:g}" for hn, w in items)
    checkpoints = {hn.sd_checkpoint for hn, _ in items}
    if len(checkpoints) == 1:
        out.sd_checkpoint, out.sd_checkpoint_name = first.sd_checkpoint, first.sd_checkpoint_name
    out.metadata = {"mixed_from": [{"name": hn.name, "file": str(getattr(hn, "filename", "") or ""),
                                    "weight": w} for hn, w in items]}
    return out


# -- .hns expressions ----------------------------------------------------------------------------
@dataclass
class Leaf:
    name: str
    strength: float


@dataclass
class Chain:
    parts: list


@dataclass
class Blend:
    parts: list  # [(node, weight)], weights sum to 1


Node = Union[Leaf, Chain, Blend]


class HnsFormatError(HypernetworkFileError):
    """A `.hns` file that is not a mixing expression."""


def parse_hns_text(text: str, where: str = ".hns") -> Node:
    return parse_hns(_literal(text, where), where)


def _literal(text: str, where: str):
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise HnsFormatError(f"{where}: not a mixing expression of names and numbers ({type(exc).__name__}); "
                             "write e.g. [(\"A\", 0.6), (\"B\", 0.4)] or {\"A\": 0.5, \"B\": 0.5}.") from None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_hns(value, where: str = ".hns", depth: int = 0) -> Node:
    """The mixing tree of a literal value (see the module docstring for the grammar)."""
    if depth > MAX_DEPTH:
        raise HnsFormatError(f"{where}: nested deeper than {MAX_DEPTH} levels; flatten the expression.")
    nested = lambda v: parse_hns(v, where, depth + 1)  # noqa: E731
    if isinstance(value, (list, tuple, set, frozenset)) and len(value) == 1:
        return nested(next(iter(value)))
    if isinstance(value, dict) and len(value) == 1:
        (key, weight), = value.items()
        if not _number(weight):
            raise HnsFormatError(f"{where}: strength {weight!r} of {key!r} is not a number.")
        inner = nested(key)
        if isinstance(inner, Leaf):
            return Leaf(inner.name, inner.strength * float(weight))
        if weight == 1:
            return inner
        raise HnsFormatError(f"{where}: a strength ({weight}) applies to one hypernetwork name, not to {key!r}.")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "(", "{")):
            return nested(_literal(text, where))
        if not text:
            raise HnsFormatError(f"{where}: an empty hypernetwork name.")
        return Leaf(text, 1.0)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and _number(value[1]):
        return Leaf(value[0].strip(), float(value[1]))
    if isinstance(value, (dict, set, frozenset)) and len(value) > 1:
        weights = value if isinstance(value, dict) else {k: 1.0 for k in value}
        if not all(_number(w) for w in weights.values()) or sum(weights.values()) == 0:
            raise HnsFormatError(f"{where}: the weights of {value!r} must be numbers with a non-zero sum.")
        total = float(sum(weights.values()))
        return Blend([(nested(k), float(w) / total) for k, w in weights.items()])
    if isinstance(value, list) and value:
        return Chain([nested(v) for v in value])
    raise HnsFormatError(f"{where}: cannot read {value!r} as a mixing expression; use names, (name, strength), "
                         "lists (in order) or dicts/sets (weighted sum).")


def leaf_names(node: Node) -> list[str]:
    if isinstance(node, Leaf):
        return [node.name]
    parts = node.parts if isinstance(node, Chain) else [n for n, _ in node.parts]
    return [name for part in parts for name in leaf_names(part)]


def chain_text(items: Sequence[tuple[str, float]]) -> str:
    """The `.hns` text of a chain: apply each name at its strength, in order."""
    return "[" + ", ".join(f"({name!r}, {float(s)!r})" for name, s in items) + "]\n"


# -- a mixing tree as something `attach_hypernetworks` can apply -----------------------------------
class _MixedProjection(nn.Module):
    """K or V side of one width: `x + m * (tree(x) - x)`."""

    def __init__(self, owner: "MixedHypernetwork", width: int, side: str):
        super().__init__()
        self._owner = [owner]  # not a submodule: the owner already holds the hypernetworks
        self.width, self.side = width, side

    def forward(self, x: torch.Tensor, multiplier: Optional[float] = None) -> torch.Tensor:
        m = 1.0 if multiplier is None else float(multiplier)
        mixed = self._owner[0].apply_tree(self._owner[0].tree, x, self.width, self.side)
        return mixed if m == 1.0 else x + (mixed - x) * m


class _MixedPair(nn.Module):
    def __init__(self, owner: "MixedHypernetwork", width: int):
        super().__init__()
        self.k = _MixedProjection(owner, width, "k")
        self.v = _MixedProjection(owner, width, "v")


class MixedHypernetwork(nn.Module):
    """A `.hns` mixing tree over loaded hypernetworks; duck-types as a Hypernetwork for attaching."""

    def __init__(self, name: str, tree: Node, networks: dict):
        super().__init__()
        self.name, self.tree, self.step = name, tree, 0
        self.networks = nn.ModuleDict({str(i): hn for i, hn in enumerate(networks.values())})
        self._by_name = dict(networks)
        self.sizes = tuple(sorted({w for hn in networks.values() for w in hn.sizes}))
        self.filename: Optional[str] = None
        self.eval()

    def pair(self, width: int) -> Optional[_MixedPair]:
        if not any(hn.pair(width) is not None for hn in self._by_name.values()):
            return None
        return _MixedPair(self, width)

    def apply_tree(self, node: Node, x: torch.Tensor, width: int, side: str) -> torch.Tensor:
        if isinstance(node, Leaf):
            pair = self._by_name[node.name].pair(width)
            return x if pair is None else getattr(pair, side)(x, node.strength)
        if isinstance(node, Chain):
            for part in node.parts:
                x = self.apply_tree(part, x, width, side)
            return x
        return sum(self.apply_tree(part, x, width, side) * weight for part, weight in node.parts)

    def describe(self) -> str:
        return f"{self.name}: mix of {', '.join(self._by_name)} (.hns)"


def load_hns(path, load_name: Callable[[str], object], depth: int = 0) -> MixedHypernetwork:
    """Read a `.hns` file; `load_name(name)` returns the hypernetwork (or mix) a name refers to."""
    path = Path(path)
    if depth > MAX_DEPTH:
        raise HnsFormatError(f"{path}: .hns files refer to each other more than {MAX_DEPTH} levels deep (a loop?).")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HnsFormatError(f"{path}: cannot be read as text ({exc}).") from None
    tree = parse_hns_text(text, str(path))
    networks = {}
    for name in leaf_names(tree):
        if name not in networks:
            if name == path.stem:
                raise HnsFormatError(f"{path}: refers to itself ({name!r}).")
            networks[name] = load_name(name)
    mixed = MixedHypernetwork(path.stem, tree, networks)
    mixed.filename = str(path)
    return mixed


def hns_header(path) -> dict:
    """`storage.read_header` for a `.hns` file: what it mixes (the named files are not opened)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HnsFormatError(f"{path}: cannot be read as text ({exc}).") from None
    tree = parse_hns_text(text, str(path))
    stat = path.stat()
    return {"name": path.stem, "filename": str(path), "format": "hns", "file_size": stat.st_size,
            "modified": stat.st_mtime, "step": 0, "sizes": [], "mix": text.strip(),
            "mixes": list(dict.fromkeys(leaf_names(tree))), "optional_info": "mix of " + ", ".join(
                dict.fromkeys(leaf_names(tree))), "metadata": {}, "has_optimizer_state": False}


# -- the `mix` command ---------------------------------------------------------------------------
@dataclass
class MixResult:
    path: Path
    form: str      # "average" or "chain"
    message: str


def mix_files(items: Sequence[tuple[Path, float]], out, mode: str = "auto", overwrite: bool = False) -> MixResult:
    """Average (same structure) or chain (otherwise, or mode='chain') the files; see the module docstring."""
    from .storage import load_hypernetwork, save_hypernetwork
    if mode not in MODES:
        raise InvalidOptionError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}.")
    if len(items) < 2:
        raise InvalidOptionError("Give at least two hypernetworks to mix, e.g. A.pt:0.6 B.pt:0.4.")
    networks = [(load_hypernetwork(p), w) for p, w in items]
    same = len({structure_of(hn) for hn, _ in networks}) == 1
    out = Path(out)
    if mode == "average" and not same:
        raise InvalidOptionError("These hypernetworks have different structures (widths, layers or activation), "
                                 "so they cannot be averaged; use --mode chain (or auto) to write a chain.")
    if mode == "average" or (mode == "auto" and same):
        if out.suffix.lower() not in (".pt", ".safetensors"):
            raise InvalidOptionError(f"--out {out}: an average is a hypernetwork file; end the name with .pt or "
                                     ".safetensors.")
        if out.exists() and not overwrite:
            raise InvalidOptionError(f"{out} already exists; pass --overwrite or choose another --out.")
        total = sum(w for _, w in networks)
        mixed = average_hypernetworks(networks, out.stem)
        path = save_hypernetwork(mixed, out, overwrite=overwrite)
        shares = ", ".join(f"{p.name} {w / total:.4g}" for (p, _), (_, w) in zip(items, networks))
        return MixResult(path, "average", f"Wrote {path}: the weighted average ({shares}) of hypernetworks of the "
                                          "same structure, a normal hypernetwork file readable by the webui, "
                                          "ComfyUI, MonkeyPatch and this project.")
    path = out.with_suffix(HNS_SUFFIX)
    if path.exists() and not overwrite:
        raise InvalidOptionError(f"{path} already exists; pass --overwrite or choose another --out.")
    names = [(p.stem, w) for p, w in items]
    atomic_write_bytes(path, chain_text(names).encode("utf-8"))
    why = "the structures differ" if not same else "--mode chain was asked for"
    outside = [str(p) for p, _ in items if path.parent.resolve() not in p.resolve().parents]
    where = (f" Move {', '.join(outside)} into {path.parent} (or a folder below it) so the names resolve."
             if outside else "")
    monkeypatch = "" if all(0 <= w <= 1 for _, w in items) else \
        " MonkeyPatch only reads strengths from 0 to 1, so it will refuse this one."
    return MixResult(path, "chain", f"Wrote {path}: a chain ({why}) applying "
                                    + ", then ".join(f"{n} at {w:g}" for n, w in names)
                                    + ". It is a MonkeyPatch .hns mixing file naming the hypernetworks by file "
                                      "name: this project (generate, ui, the webui extension) and MonkeyPatch "
                                      "read it; the plain webui and ComfyUI do not." + where + monkeypatch)


def add_arguments(parser) -> None:
    parser.add_argument("items", nargs="+", metavar="FILE[:WEIGHT]",
                        help="hypernetworks with weights, e.g. A.pt:0.6 B.pt:0.4 (default: equal weights)")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="result: a .pt/.safetensors average, or NAME.hns when the inputs are chained")
    parser.add_argument("--mode", choices=MODES, default="auto",
                        help="auto: average when the structures match, else chain (default %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def run(args) -> int:
    items = [parse_mix_item(text, len(args.items)) for text in args.items]
    for path, _ in items:
        if not path.is_file():
            raise InvalidOptionError(f"{path} does not exist; give existing hypernetwork files as FILE:WEIGHT.")
    result = mix_files(items, args.out, args.mode, args.overwrite)
    print(result.message)
    return 0
