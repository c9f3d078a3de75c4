"""Our 2048-wide (SDXL) `.pt` files in ComfyUI's hypernetwork loader: same outputs as ours.

ComfyUI's loader (comfy_extras/nodes_hypernetwork.py, read at comfyanonymous/ComfyUI; not copied) is
re-stated here in our own words, rule by rule, and run on files we write:

- the file is read with `torch.load(..., weights_only=True)`: torch's restricted unpickler, so the
  file must hold plain data only (no pickled objects of ours);
- options come from the top-level keys, with ComfyUI's own defaults when a key is missing:
  `activation_func` "linear", `is_layer_norm` False, `use_dropout` False, `activate_output` False
  (the webui defaults this one to True), `last_layer_dropout` False;
- only nine activations are known (linear, relu, leakyrelu, elu, swish = Hardswish, tanh, sigmoid,
  softsign, mish); any other makes the loader give up (it logs and applies nothing);
- every key that reads as an integer is a width; its value holds the K and V state dicts;
- each state dict is walked in stored order over the names ending in `.weight`: an entry becomes a
  Linear; unless the activation is linear, an activation follows it, except after the final entry
  (unless activate_output); with layer norm the next `.weight` entry is taken as a LayerNorm; with
  dropout a Dropout(0.3) follows every entry but the final one, and the penultimate one only with
  last_layer_dropout ("final"/"penultimate" count positions in the `.weight` list, LayerNorms
  included);
- the modules are never switched to eval mode;
- the patch is installed for self- and cross-attention and sees the K and V inputs: for the width
  `k.shape[-1]` (when the file has it) `k + mlp_k(k) * strength`, `v + mlp_v(v) * strength`.
"""
import pickletools
import zipfile

import pytest
import torch
from torch import nn

import hypernet_ext as hx
from hypernet_ext.apply import apply_hypernetworks
from hypernet_ext.attach import attach_hypernetworks, find_attention_modules
from hypernet_ext.storage import save_hypernetwork

SDXL_WIDTHS = (2048, 640, 1280)
COMFY_ACTIVATIONS = {"linear": nn.Identity, "relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "elu": nn.ELU,
                     "swish": nn.Hardswish, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "softsign": nn.Softsign,
                     "mish": nn.Mish}


def comfy_mlp(state: dict, options: dict) -> nn.Sequential:
    """One K or V MLP as ComfyUI builds it from a state dict (rules in the module docstring)."""
    weights = [name[: -len(".weight")] for name in state if name.endswith(".weight")]
    layers, i = [], 0
    while i < len(weights):
        final, penultimate = i == len(weights) - 1, i == len(weights) - 2
        weight, bias = state[weights[i] + ".weight"], state[weights[i] + ".bias"]
        linear = torch.nn.utils.skip_init(nn.Linear, weight.shape[1], weight.shape[0])  # loaded next
        linear.load_state_dict({"weight": weight, "bias": bias})
        layers.append(linear)
        if options["activation_func"] != "linear" and (not final or options["activate_output"]):
            layers.append(COMFY_ACTIVATIONS[options["activation_func"]]())
        if options["is_layer_norm"]:
            i += 1
            norm = nn.LayerNorm(state[weights[i] + ".weight"].shape[0])
            norm.load_state_dict({"weight": state[weights[i] + ".weight"], "bias": state[weights[i] + ".bias"]})
            layers.append(norm)
        if options["use_dropout"] and not final and (not penultimate or options["last_layer_dropout"]):
            layers.append(nn.Dropout(p=0.3))
        i += 1
    return nn.Sequential(*layers)  # left in training mode, as ComfyUI leaves it


def comfy_load(path) -> dict | None:
    """`{width: (mlp_k, mlp_v)}` as ComfyUI's loader makes it, or None where it gives up."""
    d = torch.load(path, map_location="cpu", weights_only=True)
    options = {"activation_func": d.get("activation_func", "linear"), "is_layer_norm": d.get("is_layer_norm", False),
               "use_dropout": d.get("use_dropout", False), "activate_output": d.get("activate_output", False),
               "last_layer_dropout": d.get("last_layer_dropout", False)}
    if options["activation_func"] not in COMFY_ACTIVATIONS:
        return None
    out = {}
    for key in d:
        try:
            width = int(key)
        except (TypeError, ValueError):
            continue
        out[width] = (comfy_mlp(d[width][0], options), comfy_mlp(d[width][1], options))
    return out


def comfy_patch(mlps: dict, strength: float, k: torch.Tensor, v: torch.Tensor):
    """ComfyUI's attention patch on the K and V inputs of one attention call."""
    pair = mlps.get(k.shape[-1])
    if pair is None:
        return k, v
    return k + pair[0](k) * strength, v + pair[1](v) * strength


def sdxl_file(tmp_path, name="style", **options):
    options.setdefault("layer_structure", (1, 2, 1))
    hn = hx.create_hypernetwork(name, sizes=SDXL_WIDTHS, init_std=0.05, seed=3, **options)
    with torch.no_grad():  # trained-looking weights: biases and LayerNorms away from their start
        for p in hn.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.05)
    return save_hypernetwork(hn, tmp_path / f"{name}.pt"), hn


# Hidden layers mostly narrower than the default (1, 2, 1) to keep the test quick: the widths, which
# decide the keys and the patch's lookup, are SDXL's.
CASES = [
    dict(activation="linear"),  # the default SDXL network, 2048/640/1280 with 1-2-1
    dict(activation="relu", layer_structure=(1, 0.5, 1)),
    dict(activation="swish", layer_structure=(1, 0.25, 0.5, 1)),
    dict(activation="mish", activate_output=True, layer_structure=(1, 0.5, 1)),
    dict(activation="tanh", layer_norm=True, activate_output=True, layer_structure=(1, 0.5, 1)),
    dict(activation="linear", layer_norm=True, layer_structure=(1, 0.5, 1)),
    # 12 Linears: ComfyUI walks the names in stored order, so linear.10 must come after linear.8
    dict(activation="leakyrelu", layer_structure=(1,) + (0.125,) * 11 + (1,)),
]


@pytest.mark.parametrize("options", CASES, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
@torch.no_grad()
def test_2048_wide_file_gives_our_outputs_in_comfyuis_loader(tmp_path, options):
    path, hn = sdxl_file(tmp_path, **options)
    ours = hx.load_hypernetwork(path)
    mlps = comfy_load(path)
    assert mlps is not None and sorted(mlps) == sorted(SDXL_WIDTHS)
    for width, tokens in ((2048, 77), (640, 64), (1280, 16)):
        x = torch.randn(2, tokens, width, generator=torch.Generator().manual_seed(width))
        for strength in (1.0, 0.6, -0.4):
            want_k, want_v = apply_hypernetworks([(ours, strength)], x)
            got_k, got_v = comfy_patch(mlps, strength, x, x)
            assert torch.equal(got_k, want_k) and torch.equal(got_v, want_v), (width, strength)
            assert not torch.equal(got_k, x)
    # and the file we loaded is the network we saved
    x = torch.randn(1, 77, 2048)
    assert torch.equal(apply_hypernetworks([(hn.eval(), 1.0)], x)[0], apply_hypernetworks([(ours, 1.0)], x)[0])


@torch.no_grad()
def test_comfyui_patch_on_tiny_sdxl_unet_matches_our_attachment(tmp_path):
    """Whole UNet: ComfyUI's patch on every attention call (self and cross) of the embedded tiny SDXL
    UNet (widths 2048/64/128) gives the output of our attachment, for two networks chained."""
    from hypernet_ext.standalone import load_host
    host = load_host("tiny-sdxl")
    files = []
    for name, seed in (("a", 1), ("b", 2)):
        hn = hx.create_hypernetwork(name, sizes=(2048, 64, 128), activation="relu", init_std=0.05, seed=seed)
        files.append(save_hypernetwork(hn, tmp_path / f"{name}.pt"))
    cond = host.encode_text(["a red cube"])
    x, t = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)), torch.tensor([400])
    plain = host.predict(x, t, cond)
    ours = [hx.load_hypernetwork(f) for f in files]
    with attach_hypernetworks(host.unet, [(ours[0], 0.8), (ours[1], 0.5)]):
        want = host.predict(x, t, cond)
    comfy = [(comfy_load(f), s) for f, s in zip(files, (0.8, 0.5))]
    handles = []

    def patched(projection):  # ComfyUI patches K and V inputs before the projections, in node order
        def hook(module, args):
            value = args[0]
            for mlps, strength in comfy:
                k, v = comfy_patch(mlps, strength, value, value)
                value = k if projection == "k" else v
            return (value,) + args[1:]
        return hook

    for _, attention in find_attention_modules(host.unet):
        handles.append(attention.to_k.register_forward_pre_hook(patched("k")))
        handles.append(attention.to_v.register_forward_pre_hook(patched("v")))
    try:
        got = host.predict(x, t, cond)
    finally:
        for handle in handles:
            handle.remove()
    assert not torch.equal(want, plain)
    assert torch.allclose(got, want, rtol=0, atol=1e-6), (got - want).abs().max()


def test_file_holds_no_pickled_objects(tmp_path):
    """Plain data only: torch's weights-only loader (ComfyUI's) reads it, and the pickle names no
    class beyond torch's tensor rebuilding and OrderedDict (the state dicts)."""
    path, _ = sdxl_file(tmp_path, activation="relu", layer_norm=True, layer_structure=(1, 0.5, 1))
    d = torch.load(path, weights_only=True)
    assert [k for k in d if isinstance(k, int)] == list(SDXL_WIDTHS)
    with zipfile.ZipFile(path) as archive:
        pickle_bytes = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    globals_named, strings = set(), []
    for opcode, arg, _ in pickletools.genops(pickle_bytes):
        if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif opcode.name == "STACK_GLOBAL":
            globals_named.add(".".join(strings[-2:]))
        elif opcode.name == "GLOBAL":
            globals_named.add(arg.replace(" ", "."))
    assert globals_named <= {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch.FloatStorage"}, \
        globals_named


@torch.no_grad()
def test_where_comfyui_differs(tmp_path):
    """The documented differences (README, compatibility): activations outside its nine are refused;
    layer norm + activation without activate_output activates the output layer too; dropout stays
    on at inference (p=0.3)."""
    path, _ = sdxl_file(tmp_path, name="gelu", activation="gelu", layer_structure=(1, 0.5, 1))
    assert comfy_load(path) is None
    path, _ = sdxl_file(tmp_path, name="ln", activation="relu", layer_norm=True, layer_structure=(1, 0.5, 1))
    ours, mlps = hx.load_hypernetwork(path), comfy_load(path)
    x = torch.randn(1, 77, 2048)
    assert not torch.equal(comfy_patch(mlps, 1.0, x, x)[0], apply_hypernetworks([(ours, 1.0)], x)[0])
    path, _ = sdxl_file(tmp_path, name="drop", activation="relu", dropout_structure=(0, 0.1, 0),
                       layer_structure=(1, 0.5, 1))
    ours, mlps = hx.load_hypernetwork(path), comfy_load(path)
    want = apply_hypernetworks([(ours, 1.0)], x)[0]
    torch.manual_seed(0)
    assert not torch.equal(comfy_patch(mlps, 1.0, x, x)[0], want)  # random dropout in ComfyUI
    for pair in mlps.values():
        pair[0].eval(), pair[1].eval()
    assert torch.equal(comfy_patch(mlps, 1.0, x, x)[0], want)  # otherwise the same network
