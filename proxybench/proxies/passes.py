"""Shared passes. Each runs once per :class:`~proxybench.proxies.context.ProxyContext` and is reused by every
proxy that needs it.

One forward pass serves most of the standard proxies. ``train_forward`` copies the network
(``ctx.fresh_model()``), runs the first batch through it in train mode (BN uses batch statistics, as in
NAS-Bench-Suite-Zero) with the input requiring gradients, and keeps the autograd graph. Every backward pass then
starts from that one graph, with ``retain_graph=True``, and reads only its own gradients (``torch.autograd.grad``),
so the passes never disturb one another and their order does not matter:

``ce_backward``      gradients of the cross-entropy loss w.r.t. every parameter and every conv/linear output
                     (snip, grad_norm, plain, fisher), kept differentiable;
``grasp_hvp``        the Hessian-gradient product H g of the same loss, differentiating those gradients
                     once more (grasp);
``input_jacobian``   d(sum of logits)/d(input) (jacov, epe_nas);
``relu_kernel``      the NASWOT kernel of the binary ReLU codes recorded during the forward (nwot).

The same forward also serves the KD-aware proxies: when the network's ``forward`` goes through its
``forward_features`` (NB201 networks and proxybench's CIFAR ResNets do), the feature dict of that very call is kept
(``TrainForward.features``) and the ``kd_student_features`` pass reads it instead of running the student again.

Scoring all of them together therefore costs one copy, one forward and the backward passes that are asked for,
and every proxy gets exactly the number it gets alone (the forward is the same whatever is asked for).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .context import ProxyContext, weighted_layers
from .errors import ProxyError
from .hooks import forward_hooks
from .pass_registry import register_pass

RELU_TYPES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU)
"""Modules whose binary codes (input > 0) form the NASWOT kernel."""


@dataclass
class TrainForward:
    """The shared forward of the first batch, network copy in train mode, graph kept.

    ``inputs``: the leaf copy of the batch (``requires_grad``); ``logits``: the output (with graph);
    ``layers``: (name, module) of every conv/linear layer; ``acts[i]``: that layer's outputs, one per call
    (with graph); ``relu_codes``: ``(input > 0)`` flattened to (B, D) bool tensors, one per distinct ReLU input
    (a tensor feeding several ReLUs, as a cell node feeding several edges does, is coded once) and
    ``relu_counts[j]``: how many ReLU calls took that input; ``features``: the dict ``forward_features`` returned
    inside this forward (its ``logits`` is ``logits``), or None when ``forward`` does not go through it.
    """

    model: nn.Module
    inputs: torch.Tensor
    logits: torch.Tensor
    layers: list
    acts: list
    relu_codes: list
    relu_counts: list
    features: dict | None = None


@register_pass("train_forward", bn="train")
def train_forward(ctx: ProxyContext) -> TrainForward:
    model = ctx.fresh_model()  # train mode: BN uses batch statistics
    layers = weighted_layers(model)
    acts: list[list[torch.Tensor]] = [[] for _ in layers]
    codes: list[torch.Tensor] = []
    counts: list[int] = []
    coded: dict[int, tuple[torch.Tensor, int, int]] = {}  # id(input) -> (input, its version, index in codes)

    def keep_output(i):
        def hook(module, inputs, output):
            acts[i].append(output)
        return hook

    def keep_code(module, inputs, output):
        x = inputs[0]
        seen = coded.get(id(x))
        if seen is not None and seen[0] is x and seen[1] == x._version:
            counts[seen[2]] += 1
            return
        coded[id(x)] = (x, x._version, len(codes))  # holds x, so its id is not reused during the forward
        codes.append((x.detach() > 0).reshape(x.shape[0], -1))
        counts.append(1)

    features: list[dict] = []
    own = getattr(model, "forward_features", None)
    if callable(own):
        def keep_features(*args, **kwargs):
            out = own(*args, **kwargs)
            features.append(out)
            return out

    hooks = [(m, keep_output(i)) for i, (_, m) in enumerate(layers)]
    hooks += [(m, keep_code) for m in model.modules() if isinstance(m, RELU_TYPES)]
    x = ctx.inputs.detach().clone().requires_grad_(True)
    if callable(own):
        model.forward_features = keep_features  # an instance attribute on the copy, removed below
    try:
        with forward_hooks(hooks):
            logits = model(x)
    finally:
        if callable(own):
            del model.forward_features
    coded.clear()
    if not torch.is_tensor(logits) or logits.dim() != 2:
        raise ProxyError(f"the model must return logits of shape (batch, classes), got "
                         f"{getattr(logits, 'shape', type(logits).__name__)}")
    feats = features[0] if len(features) == 1 and isinstance(features[0], dict) else None
    if feats is not None and feats.get("logits") is not logits:
        feats = None  # forward_features ran, but the output is not its logits: not this forward's features
    return TrainForward(model, x, logits, layers, acts, codes, counts, feats)


@dataclass
class CEBackward:
    """Gradients of the cross-entropy loss of the first batch (network in train mode).

    ``layers``: (name, module) of every conv/linear layer of the copy; ``weights``/``grads``: their weight
    tensors and dL/dW; ``acts``/``act_grads``: each layer's output activation and dL/d(output) (its last call;
    ``all_act_grads[i]`` has one gradient per call, aligned with ``TrainForward.acts[i]``); ``loss`` and
    ``logits``. Every parameter of ``model`` has its ``.grad`` set, as after ``loss.backward()``.
    ``graph_grads``: dL/dW of the conv/linear weights still attached to their graph (``create_graph=True``), so
    that second-order proxies (GraSP) differentiate them again without another backward.
    """

    model: nn.Module
    layers: list
    weights: list
    grads: list
    acts: list
    act_grads: list
    loss: float
    logits: torch.Tensor
    all_act_grads: list
    graph_grads: list


def _targets(ctx: ProxyContext, what: str) -> torch.Tensor:
    if ctx.targets is None:
        raise ProxyError(f"{what} needs labels (targets), none were given")
    return ctx.targets


def _zeros_if_none(grads, like) -> list[torch.Tensor]:
    return [torch.zeros_like(t) if g is None else g for g, t in zip(grads, like)]


@register_pass("ce_backward", gradients=True, bn="train")
def ce_backward(ctx: ProxyContext) -> CEBackward:
    """One backward of the cross-entropy loss with ``create_graph=True``: on CPU it costs about as much as a plain
    backward, and GraSP's Hessian-gradient product then needs no second first-order backward."""
    fw: TrainForward = ctx.pass_("train_forward")
    loss = F.cross_entropy(fw.logits, _targets(ctx, "the cross-entropy pass"))
    params = [p for p in fw.model.parameters()]
    flat_acts = [a for calls in fw.acts for a in calls]
    grads = torch.autograd.grad(loss, params + flat_acts, create_graph=True, retain_graph=True,
                                allow_unused=True)
    by_param = {id(p): g for p, g in zip(params, grads[:len(params)])}
    weights = [m.weight for _, m in fw.layers]
    graph_grads = [by_param.get(id(w)) for w in weights]
    grads = [g.detach() for g in _zeros_if_none(grads, params + flat_acts)]
    for p, g in zip(params, grads[:len(params)]):
        p.grad = g
    act_grads_flat = iter(grads[len(params):])
    all_act_grads = [[next(act_grads_flat) for _ in calls] for calls in fw.acts]
    layer_grads = [m.weight.grad for _, m in fw.layers]
    last_acts = [calls[-1].detach() if calls else None for calls in fw.acts]
    last_grads = [g[-1] if g else None for g in all_act_grads]
    return CEBackward(fw.model, fw.layers, [w.detach() for w in weights], layer_grads, last_acts, last_grads,
                      float(loss.detach()), fw.logits.detach(), all_act_grads, graph_grads)


@dataclass
class GraspHVP:
    """``weights`` of every conv/linear layer and ``hg``: the Hessian of the cross-entropy loss times its
    gradient, H g, for each of them (GraSP, Wang et al. 2020)."""

    weights: list
    hg: list


@register_pass("grasp_hvp", gradients=True, bn="train")
def grasp_hvp(ctx: ProxyContext) -> GraspHVP:
    """H g = d(g_detached . g)/dW by double backpropagation through ``ce_backward``'s graph-attached gradient."""
    ce: CEBackward = ctx.pass_("ce_backward")
    weights = [m.weight for _, m in ce.layers]
    z = sum((g.detach() * g).sum() for g in ce.graph_grads if g is not None and g.requires_grad)
    if not torch.is_tensor(z):
        return GraspHVP([w.detach() for w in weights], [torch.zeros_like(w) for w in weights])
    hg = torch.autograd.grad(z, weights, retain_graph=True, allow_unused=True)
    return GraspHVP([w.detach() for w in weights], [h.detach() for h in _zeros_if_none(hg, weights)])


@dataclass
class InputJacobian:
    """``jacobian``: d(sum of logits)/d(input), one row per image, flattened (B, C*H*W); ``num_classes``."""

    jacobian: torch.Tensor
    num_classes: int


@register_pass("input_jacobian", gradients=True, bn="train")
def input_jacobian(ctx: ProxyContext) -> InputJacobian:
    fw: TrainForward = ctx.pass_("train_forward")
    (jac,) = torch.autograd.grad(fw.logits, fw.inputs, grad_outputs=torch.ones_like(fw.logits),
                                 retain_graph=True, allow_unused=True)
    if jac is None:
        jac = torch.zeros_like(fw.inputs)
    return InputJacobian(jac.detach().reshape(jac.shape[0], -1), int(fw.logits.shape[1]))


@register_pass("relu_kernel", bn="train")
def relu_kernel(ctx: ProxyContext) -> torch.Tensor:
    """K[i, j] = number of ReLU units (over every ReLU call) on which images i and j have the same binary code,
    i.e. sum over ReLUs of c c^T + (1 - c)(1 - c)^T; float64 (B, B). Computed as (D + s s^T) / 2 with s = 2c - 1,
    once per distinct ReLU input times the number of ReLUs it feeds, which is exact: every term is an integer
    (below 2**53), so neither the grouping nor the order of the sums changes K."""
    fw: TrainForward = ctx.pass_("train_forward")
    if not fw.relu_codes:
        raise ProxyError("the NASWOT kernel needs ReLU modules (nn.ReLU, nn.ReLU6, nn.LeakyReLU); the model has "
                         "none")
    b = fw.relu_codes[0].shape[0]
    k = torch.zeros(b, b, dtype=torch.float64, device=fw.relu_codes[0].device)
    for c, n in zip(fw.relu_codes, fw.relu_counts):
        d = c.shape[1]
        dtype = torch.float32 if d < 2**24 else torch.float64  # float32 sums of +-1 are exact below 2**24
        s = c.to(dtype) * 2 - 1
        term = (d + (s @ s.T).to(torch.float64)) / 2
        k += term if n == 1 else term * n
    return k
