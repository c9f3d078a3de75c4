"""The `<hypernet:name:weight>` extra network that replaces the webui's built-in handler.

The webui calls `activate(p, params_list)` for every batch and again for the hires pass (with the
hires prompt's tags), and with an empty list when the prompt names no hypernetwork; each call
fully replaces the previous one. `deactivate` runs at the end of processing. Hypernetworks are
attached with hooks on the UNet's `to_k`/`to_v`, so every webui attention optimisation applies
them; the built-in path (`shared.loaded_hypernetworks`) is kept empty.
"""
from __future__ import annotations

import math
import os
import sys
from typing import Any

from modules import extra_networks, shared

from ..apply import active_pairs
from ..widths import width_warning
from ..prompt_tags import HypernetTag, parse_prompt
from . import settings
from .infotext import merge_hashes
from .runtime import WebuiRuntime, runtime as default_runtime

NETWORK_NAME = "hypernet"


class HypernetExtraNetwork(extra_networks.ExtraNetwork):
    """Applies hypernetwork tags through hypernet_ext's library and attach modules."""

    def __init__(self, runtime: WebuiRuntime = default_runtime):
        super().__init__(NETWORK_NAME)
        self.runtime = runtime

    def activate(self, p: Any, params_list: list) -> None:
        shared.loaded_hypernetworks.clear()  # the built-in path must never apply anything
        params_list = list(params_list) + self._legacy_setting_params(p, params_list)
        tags, warnings = self._tags(params_list)
        tags = self._size_checked(tags, warnings)
        pairs, resolve_warnings = self.runtime.library.resolve(tags) if tags else ([], [])
        warnings += resolve_warnings
        pairs = self._checked(pairs, warnings)
        # strength 0 is free: such tags stay in the infotext but install no hooks (all 0: none at all)
        self.runtime.apply(shared.sd_model, active_pairs(pairs))
        if pairs:
            self._record_infotext(p, pairs)
        for warning in warnings:
            _warn(p, warning)

    def deactivate(self, p: Any) -> None:
        self.runtime.detach()

    # -- steps ------------------------------------------------------------------------------
    def _legacy_setting_params(self, p: Any, params_list: list) -> list:
        """The legacy `sd_hypernetwork` option adds its network to every prompt, as the webui did."""
        name = getattr(shared.opts, "sd_hypernetwork", "None") if hasattr(shared, "opts") else "None"
        if not name or name == "None" or any(x.items and x.items[0] == name for x in params_list):
            return []
        if name not in self.runtime.library.names():
            return []
        weight = getattr(shared.opts, "extra_networks_default_multiplier", 1.0)
        text = f"<hypernet:{name}:{weight}>"
        if getattr(p, "all_prompts", None):  # for the infotext; once, even across hires passes
            p.all_prompts = [prompt if text in prompt else f"{prompt}{text}" for prompt in p.all_prompts]
        return [extra_networks.ExtraNetworkParams(items=[name, str(weight)])]

    @staticmethod
    def _tags(params_list: list) -> tuple[list[HypernetTag], list[str]]:
        """ExtraNetworkParams -> tags, parsed by the same rules as standalone prompts."""
        default = settings.float_option("hypernet_ext_default_strength")
        text = "".join(f"<hypernet:{':'.join(str(i) for i in params.items)}>" for params in params_list
                       if params.items)
        parsed = parse_prompt(text, default_weight=default)
        return list(parsed.tags), list(parsed.warnings)

    def _size_checked(self, tags: list[HypernetTag], warnings: list[str]) -> list[HypernetTag]:
        """Drop tags whose file is larger than the size limit, before anything is loaded."""
        max_mb = settings.float_option("hypernet_ext_max_file_mb")
        if max_mb <= 0:
            return tags
        out = []
        for tag in tags:
            size_mb = _file_mb(self.runtime.library.path(tag.name))
            if size_mb > max_mb:
                warnings.append(f"Hypernetwork {tag.name} ({size_mb:.0f} MB) is larger than the "
                                f"{max_mb:.0f} MB limit and was not applied; raise the limit in Settings "
                                f"> Hypernetworks if the file is genuine.")
                continue
            out.append(tag)
        return out

    def _checked(self, pairs: list, warnings: list[str]) -> list:
        """Apply the safety options: strength limit and width mismatch warning."""
        limit = abs(settings.float_option("hypernet_ext_strength_limit"))
        widths = tuple(self.runtime.model_widths(shared.sd_model))
        out = []
        for hypernetwork, strength in pairs:
            name = getattr(hypernetwork, "name", "?")
            if limit > 0 and abs(strength) > limit:
                clamped = math.copysign(limit, strength)
                warnings.append(f"Strength {strength:g} for {name} is beyond the limit {limit:g} "
                                f"(Settings > Hypernetworks); {clamped:g} was used.")
                strength = clamped
            mismatch = width_warning(hypernetwork, widths)
            if mismatch and settings.option("hypernet_ext_warn_width_mismatch"):
                warnings.append(mismatch)
            out.append((hypernetwork, strength))
        return out

    def _record_infotext(self, p: Any, pairs: list) -> None:
        if not settings.option("hypernet_ext_hashes_in_infotext"):
            return
        params = getattr(p, "extra_generation_params", None)
        if params is None:
            return
        entries = [(self._tag_name(hn), self._hash(hn)) for hn, _ in pairs]
        value = merge_hashes(params.get(settings.HASHES_INFOTEXT_KEY), entries)
        if value:
            params[settings.HASHES_INFOTEXT_KEY] = value

    def _tag_name(self, hypernetwork: Any) -> str:
        """The name used in tags (file stem in the library) for a loaded hypernetwork."""
        filename = getattr(hypernetwork, "filename", None)
        if filename:
            library = self.runtime.library
            for name in library.names():
                path = library.path(name)
                if path is not None and os.path.abspath(str(path)) == os.path.abspath(filename):
                    return name
        return getattr(hypernetwork, "name", "?")

    def _hash(self, hypernetwork: Any):
        filename = getattr(hypernetwork, "filename", None)
        return self.runtime.file_hash(filename) if filename else None


def _file_mb(path) -> float:
    try:
        return os.path.getsize(path) / (1 << 20) if path else 0.0
    except OSError:
        return 0.0


def _warn(p: Any, message: str) -> None:
    """Show a warning in the console and, on webui versions that have it, under the image."""
    print(f"[hypernet-ext] {message}", file=sys.stderr)
    comment = getattr(p, "comment", None)
    if callable(comment):
        comment(message)


def install_network(runtime: WebuiRuntime = default_runtime) -> HypernetExtraNetwork:
    """Register our handler under `hypernet`, replacing the built-in one (call from `on_before_ui`)."""
    network = HypernetExtraNetwork(runtime)
    extra_networks.register_extra_network(network)
    return network
