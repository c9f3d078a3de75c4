"""Stand-in of the webui's attention hijack: attention layers run the built-in hypernetwork path.

The webui replaces `CrossAttention.forward` for the whole class with an optimised forward that
calls `hypernetwork.apply_hypernetworks(shared.loaded_hypernetworks, context, self)` before
`self.to_k`/`self.to_v`. The stand-in installs the same forward per layer of the given model, so
that nothing leaks into other tests.
"""
import types

import torch


def attention_forward(self, x, context=None, mask=None, **kwargs):
    from modules import shared
    from modules.hypernetworks import hypernetwork
    h = self.heads
    q = self.to_q(x)
    context = x if context is None else context
    context_k, context_v = hypernetwork.apply_hypernetworks(shared.loaded_hypernetworks, context, self)
    k, v = self.to_k(context_k), self.to_v(context_v)
    b, n, _ = q.shape
    q, k, v = (t.reshape(b, t.shape[1], h, -1).transpose(1, 2) for t in (q, k, v))
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class StableDiffusionModelHijack:
    def hijack(self, model):
        from ldm.modules.attention import CrossAttention
        for module in model.modules():
            if isinstance(module, CrossAttention):
                module.forward = types.MethodType(attention_forward, module)

    def undo_hijack(self, model):
        from ldm.modules.attention import CrossAttention
        for module in model.modules():
            if isinstance(module, CrossAttention) and "forward" in module.__dict__:
                del module.forward


model_hijack = StableDiffusionModelHijack()
