"""Stand-in of the webui's built-in hypernetwork path (`modules.hypernetworks.hypernetwork`).

It lists `*.pt` files like the webui, "loads" by name into `shared.loaded_hypernetworks`, and its
attention transform (called by the patched attention forward in `sd_hijack`) applies every loaded
network. `applied_calls` counts transforms that changed anything, so tests can tell whether the
built-in path was used.
"""
import glob
import os

from modules import shared

load_calls: list[str] = []
applied_calls: list[int] = []


class BuiltinHypernetwork:
    """The built-in loader's object: `.name`, `.filename`, `.layers` {width: (k, v)}, a multiplier."""

    def __init__(self, name, filename):
        from hypernet_ext.storage import load_hypernetwork  # the stand-in reuses our reader for the weights
        self.name, self.filename = name, filename
        self.network = load_hypernetwork(filename)
        self.layers = {int(w): (self.network.pair(int(w)).k, self.network.pair(int(w)).v) for w in self.network.sizes}
        self.multiplier = 1.0

    def set_multiplier(self, multiplier):
        self.multiplier = multiplier


def list_hypernetworks(path):
    res = {}
    for filename in sorted(glob.iglob(os.path.join(path, "**/*.pt"), recursive=True), key=str.lower):
        name = os.path.splitext(os.path.basename(filename))[0]
        if name != "None":
            res[name] = filename
    return res


def load_hypernetwork(name):
    path = shared.hypernetworks.get(name)
    load_calls.append(name)
    return None if path is None else BuiltinHypernetwork(name, path)


def load_hypernetworks(names, multipliers=None):
    already = {h.name: h for h in shared.loaded_hypernetworks if h.name in names}
    shared.loaded_hypernetworks.clear()
    for i, name in enumerate(names):
        hypernetwork = already.get(name) or load_hypernetwork(name)
        if hypernetwork is None:
            continue
        hypernetwork.set_multiplier(multipliers[i] if multipliers else 1.0)
        shared.loaded_hypernetworks.append(hypernetwork)


def apply_hypernetworks(hypernetworks, context, layer=None):
    context_k = context_v = context
    for hypernetwork in hypernetworks:
        layers = hypernetwork.layers.get(context.shape[2])
        if layers is None:
            continue
        applied_calls.append(context.shape[2])
        context_k = layers[0](context_k, hypernetwork.multiplier)
        context_v = layers[1](context_v, hypernetwork.multiplier)
    return context_k, context_v
