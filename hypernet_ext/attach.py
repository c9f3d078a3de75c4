"""Attach `(hypernetwork, strength)` lists to any UNet through forward pre-hooks on `to_k`/`to_v`.

Modules are never replaced. Every attention module (found by duck typing: `to_k` and `to_v` children
that are `nn.Linear`, as in ldm/sgm `CrossAttention`, `MemoryEfficientCrossAttention` and diffusers
`Attention`) gets a pre-hook on each projection whose `in_features` is a width some attached
hypernetwork has; the hook rewrites the projection's input exactly like `apply_hypernetworks`
(chained in list order, pair chosen by the input's last dimension; both use the rule in `apply`).
An empty list, or one whose strengths are all 0, removes every hook, so the module graph is then
the same as before attaching and a `:0` tag costs nothing.

Width sharing: the text context is the same tensor in every cross-attention layer, so a pre-hook on
the UNet root computes the chained K and V of each 3-D input tensor once per forward, outside any
checkpointed block, and the projection hooks return that result when they see the very same
tensor. Chains that contain an active Dropout (training) are computed per layer, so every layer
draws its own mask as in the webui.

Memo across forwards: a sampler calls the UNet 20-50 times per image with the same conditioning,
so the shared K and V of a context are also kept between forwards and reused when the next
context has the same shape, dtype and device (cheap fingerprint) and exactly equal values
(`torch.equal`), and the chain's weights (parameter identity and version counters, bumped by every
optimizer step or `load_state_dict`) and train/eval modes are unchanged. torch's fused optimizers
(fused AdamW, the trainer's default) and bitsandbytes' kernels write the weights without bumping
the version counters, so while a memo exists a global optimizer-step hook bumps them after every
step (`_bump_versions_after_steps`); code that writes weights through `.data` must call `clear_cache`. Prompt editing
(`[a:b:0.5]`) or a hires pass changes the context, so the pair is recomputed. Nothing is memoised
while autograd records the chain (training), and `set`, `detach` and `clear_cache` drop the memo.
"""
from __future__ import annotations

import math
import weakref
from typing import Any, Iterable, Optional, Sequence

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from .apply import active_pairs, chain_k, chain_v, width_steps
from .errors import HypernetError

Pair = tuple[Any, float]

# One attachment per UNet, so repeated `attach_hypernetworks` calls replace the list instead of
# stacking a second set of hooks.
MEMO_ENTRIES = 4  # contexts kept per width: cond and uncond may come in separate forwards
_ATTACHMENTS: "weakref.WeakKeyDictionary[nn.Module, HypernetworkAttachment]" = weakref.WeakKeyDictionary()


_STEP_HOOK: Optional[Any] = None


def _bump_versions_after_steps() -> None:
    """Make every torch optimizer step visible to the memo (installed once, by the first attachment
    that memoises): fused kernels update the parameters in place but leave their version counters
    alone, and a training preview would then reuse the text pair of the weights before the step."""
    global _STEP_HOOK
    if _STEP_HOOK is None:
        _STEP_HOOK = register_optimizer_step_post_hook(_bump_parameter_versions)


def _bump_parameter_versions(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if params:
        torch.autograd.graph.increment_version(params)


def find_attention_modules(unet: nn.Module) -> list[tuple[str, nn.Module]]:
    """`(qualified name, module)` for every module with `nn.Linear` children `to_k` and `to_v`."""
    found = []
    for name, module in unet.named_modules():
        to_k = getattr(module, "to_k", None)
        to_v = getattr(module, "to_v", None)
        if isinstance(to_k, nn.Linear) and isinstance(to_v, nn.Linear):
            found.append((name, module))
    return found


def attention_widths(unet: nn.Module) -> tuple[int, ...]:
    """Distinct `to_k` input widths of a UNet; cross-attention (text) widths first.

    A width counts as cross-attention when its `to_k` input differs from the module's `to_q`
    input (for SD1: `(768, 320, 640, 1280)`); the other widths follow in ascending order.
    """
    cross: list[int] = []
    self_widths: set[int] = set()
    for _, module in find_attention_modules(unet):
        width = module.to_k.in_features
        to_q = getattr(module, "to_q", None)
        if isinstance(to_q, nn.Linear) and to_q.in_features != width:
            if width not in cross:
                cross.append(width)
        else:
            self_widths.add(width)
    return tuple(cross) + tuple(sorted(self_widths - set(cross)))


def attach_hypernetworks(unet: nn.Module, pairs: Iterable[Pair], *, share_text_context: bool = True,
                         memoize: bool = True) -> "HypernetworkAttachment":
    """Attach `[(hypernetwork, strength), ...]` to `unet`, replacing any list attached before.

    Returns the UNet's attachment; `attachment.detach()` (or leaving its `with` block) restores it.
    `memoize=False` recomputes the text-context pair at every forward (same results, slower).
    """
    existing = _ATTACHMENTS.get(unet)
    if existing is not None:
        existing.share_text_context = bool(share_text_context)
        existing.memoize = bool(memoize)
        existing.set(pairs)
        return existing
    return HypernetworkAttachment(unet, pairs, share_text_context=share_text_context, memoize=memoize)


def _validate_pairs(pairs: Iterable[Pair]) -> tuple[Pair, ...]:
    if pairs is None:
        return ()
    out = []
    for index, item in enumerate(pairs):
        try:
            hypernetwork, strength = item
        except (TypeError, ValueError):
            raise HypernetError(
                f"Item {index} of the hypernetwork list is {item!r}; pass (hypernetwork, strength) "
                f"pairs such as [(hn, 1.0)].") from None
        if not isinstance(hypernetwork, nn.Module) or not callable(getattr(hypernetwork, "pair", None)):
            raise HypernetError(
                f"Item {index} of the hypernetwork list holds {type(hypernetwork).__name__}, not a "
                f"Hypernetwork; load one with load_hypernetwork() or create_hypernetwork().")
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) \
                or not math.isfinite(float(strength)):
            raise HypernetError(
                f"Strength {strength!r} for hypernetwork {getattr(hypernetwork, 'name', index)!r} "
                f"is not a finite number; use e.g. 1.0, 0.5 or -0.3.")
        out.append((hypernetwork, float(strength)))
    return tuple(out)


class _WidthChain:
    """The K and V modules (with strengths) applied, in order, to inputs of one width."""

    def __init__(self, width: int, pairs: Sequence[Pair]):
        self.width = width
        self.steps = width_steps(pairs, width)
        self.modules = [m for module_k, module_v, _ in self.steps for pair in (module_k, module_v)
                        for m in pair.modules()]
        self.parameters = [p for module_k, module_v, _ in self.steps for pair in (module_k, module_v)
                           for p in pair.parameters()]
        self.dropouts = [m for m in self.modules if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]

    def shareable(self) -> bool:
        """True when every layer would compute the same result (no dropout is active)."""
        return not any(d.training for d in self.dropouts)

    def records_graph(self, x: torch.Tensor) -> bool:
        """True when autograd would record this chain on `x` (training): its result must not be reused."""
        return torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters))

    def state(self, x: torch.Tensor) -> tuple:
        """Everything besides the input's values that decides the output: weights (identity, storage
        and version counter, which every in-place update bumps), each module's train/eval mode, and
        autocast and inference mode (whose tensors must not leak into ordinary mode)."""
        device_type = x.device.type
        return (tuple((id(p), p.data_ptr(), p._version, p.dtype, p.device) for p in self.parameters),
                tuple(m.training for m in self.modules),
                torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type),
                torch.is_inference_mode_enabled())

    def k(self, x: torch.Tensor) -> torch.Tensor:
        return chain_k(self.steps, x)

    def v(self, x: torch.Tensor) -> torch.Tensor:
        return chain_v(self.steps, x)


class _Memo:
    """Shared K/V of the last few contexts of one width, reused while context and weights are unchanged."""

    def __init__(self):
        self.entries: list[tuple[torch.Tensor, tuple, torch.Tensor, torch.Tensor]] = []
        self.hits = 0
        self.misses = 0

    def lookup(self, context: torch.Tensor, state: tuple):
        for index, (kept, kept_state, k, v) in enumerate(self.entries):
            # cheap fingerprint first, then the exact check
            if kept.shape != context.shape or kept.dtype != context.dtype or kept.device != context.device:
                continue
            if kept_state == state and torch.equal(kept, context):
                self.entries.insert(0, self.entries.pop(index))
                self.hits += 1
                return k, v
        self.misses += 1
        return None

    def store(self, context: torch.Tensor, state: tuple, k: torch.Tensor, v: torch.Tensor) -> None:
        # a copy: the caller may reuse the context's storage for the next prompt
        self.entries.insert(0, (context.detach().clone(), state, k.detach(), v.detach()))
        del self.entries[MEMO_ENTRIES:]


class HypernetworkAttachment:
    """Hypernetworks attached to one UNet; change them with `set`, remove them with `detach`.

    `share_text_context=False` computes every layer's K/V input separately (same results, slower);
    `memoize=False` recomputes the shared text pair at every forward instead of once per context.
    """

    def __init__(self, unet: nn.Module, pairs: Iterable[Pair] = (), *, share_text_context: bool = True,
                 memoize: bool = True):
        if not isinstance(unet, nn.Module):
            raise HypernetError(f"Expected a torch UNet module, got {type(unet).__name__}.")
        if _ATTACHMENTS.get(unet) is not None:
            raise HypernetError(
                "This UNet already has hypernetworks attached; call set() on its attachment, use "
                "attach_hypernetworks(), or detach() the old attachment first.")
        self.unet = unet
        self.share_text_context = bool(share_text_context)
        self.memoize = bool(memoize)
        if self.memoize:
            _bump_versions_after_steps()
        self._memo: dict[int, _Memo] = {}
        self._pairs: tuple[Pair, ...] = ()
        self._chains: dict[int, _WidthChain] = {}
        self._handles: list[Any] = []
        self._shared: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self._device: Optional[torch.device] = None
        self._hooked = 0
        _ATTACHMENTS[unet] = self
        self.set(pairs)

    # -- public API -------------------------------------------------------------------------
    @property
    def pairs(self) -> tuple[Pair, ...]:
        """The attached `(hypernetwork, strength)` pairs, in application order."""
        return self._pairs

    @property
    def hooked_projections(self) -> int:
        """How many `to_k`/`to_v` projections currently carry a hook."""
        return self._hooked

    @property
    def widths(self) -> tuple[int, ...]:
        """Attached widths that match at least one attention projection of the UNet."""
        return tuple(sorted(self._chains))

    @property
    def memo_stats(self) -> dict[int, tuple[int, int]]:
        """`{width: (hits, misses)}` of the text-context memo since the last `set`/`clear_cache`."""
        return {width: (memo.hits, memo.misses) for width, memo in self._memo.items()}

    def set(self, pairs: Iterable[Pair]) -> None:
        """Replace the attached list (an empty list removes every hook)."""
        validated = _validate_pairs(pairs)
        if _ATTACHMENTS.get(self.unet) is not self:
            if _ATTACHMENTS.get(self.unet) is not None:
                raise HypernetError("This attachment was detached and the UNet has a newer one; "
                                    "use the newer attachment.")
            _ATTACHMENTS[self.unet] = self
        self._remove_hooks()
        self._pairs = validated
        self._device = None
        if active_pairs(validated):  # all strengths 0: nothing to do, so no hooks at all
            self._install_hooks()

    def detach(self) -> None:
        """Remove every hook; the UNet behaves exactly as before attaching."""
        self._remove_hooks()
        self._pairs = ()
        if _ATTACHMENTS.get(self.unet) is self:
            del _ATTACHMENTS[self.unet]

    def clear_cache(self) -> None:
        """Drop the shared text-context K/V kept for checkpoint recomputation and the memo."""
        self._shared.clear()
        self._memo.clear()

    def __enter__(self) -> "HypernetworkAttachment":
        return self

    def __exit__(self, *exc) -> None:
        self.detach()

    def __repr__(self) -> str:
        names = ", ".join(f"{getattr(h, 'name', '?')}:{s:g}" for h, s in self._pairs)
        return f"HypernetworkAttachment([{names}], {self._hooked} projections hooked)"

    # -- hook management --------------------------------------------------------------------
    def _install_hooks(self) -> None:
        active = active_pairs(self._pairs)
        widths = {w for h, _ in active for w in getattr(h, "sizes", ()) if h.pair(w) is not None}
        chains: dict[int, _WidthChain] = {}
        for _, module in find_attention_modules(self.unet):
            for kind, projection in (("k", module.to_k), ("v", module.to_v)):
                width = projection.in_features
                if width not in widths:
                    continue
                if width not in chains:
                    chains[width] = _WidthChain(width, active)
                self._handles.append(projection.register_forward_pre_hook(
                    self._projection_hook(kind), with_kwargs=True))
        self._hooked = len(self._handles)
        self._chains = chains
        if chains:
            self._handles.append(self.unet.register_forward_pre_hook(self._root_pre_hook, with_kwargs=True))
            self._handles.append(self.unet.register_forward_hook(self._root_post_hook, always_call=True))

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._chains = {}
        self._shared.clear()
        self._memo.clear()
        self._hooked = 0

    # -- hooks ------------------------------------------------------------------------------
    def _projection_hook(self, kind: str):
        def hook(module, args, kwargs):
            if args:
                return (self._transform(args[0], kind),) + tuple(args[1:]), kwargs
            if "input" in kwargs:
                return args, {**kwargs, "input": self._transform(kwargs["input"], kind)}
            return None
        return hook

    def _transform(self, x: torch.Tensor, kind: str) -> torch.Tensor:
        entry = self._shared.get(x.shape[-1])
        if entry is not None and entry[0] is x:
            return entry[1] if kind == "k" else entry[2]
        chain = self._chains.get(x.shape[-1])
        if chain is None:
            return x
        self._ensure_device(x.device)
        return chain.k(x) if kind == "k" else chain.v(x)

    def _root_pre_hook(self, module, args, kwargs):
        self._shared.clear()
        if not self.share_text_context:
            return None
        for value in list(args) + list(kwargs.values()):
            if not isinstance(value, torch.Tensor) or value.dim() != 3:
                continue
            chain = self._chains.get(value.shape[-1])
            if chain is None or value.shape[-1] in self._shared or not chain.shareable():
                continue
            self._ensure_device(value.device)
            self._shared[chain.width] = (value, *self._shared_pair(chain, value))
        return None

    def _shared_pair(self, chain: _WidthChain, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(k, v)` of a context, from the memo when context, weights and modes are unchanged."""
        if not self.memoize or chain.records_graph(value) or value.device.type == "meta":
            return chain.k(value), chain.v(value)
        memo = self._memo.setdefault(chain.width, _Memo())
        state = chain.state(value)
        found = memo.lookup(value, state)
        if found is not None:
            return found
        k, v = chain.k(value), chain.v(value)
        memo.store(value, state, k, v)
        return k, v

    def _root_post_hook(self, module, args, output):
        # Keep results that carry a graph: non-reentrant checkpointing re-runs blocks during
        # backward and must see the same tensors. The next forward, set() or detach() drops them.
        if not any(k.requires_grad or v.requires_grad for _, k, v in self._shared.values()):
            self._shared.clear()
        return None

    def _ensure_device(self, device: torch.device) -> None:
        if self._device == device:
            return
        for hypernetwork, _ in self._pairs:
            parameter = next(hypernetwork.parameters(), None)
            if parameter is not None and parameter.device != device and device.type != "meta":
                hypernetwork.to(device)
        self._device = device
