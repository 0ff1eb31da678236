"""``vkdnw``: Variance of Knowledge of Deep Network Weights (Tybl & Neumann, CVPR 2025), and the Fisher pass it
shares with ``vkdnw_single``.

VKDNW reads the spectrum of the Fisher information matrix of the network's own predictive distribution at
initialization, restricted to one weight per parameter tensor (the first element of each of the first 128 tensors,
in ``named_parameters()`` order, as the authors' NB201 code):

    F = 1/B sum_n J_n^T (diag(p_n) - p_n p_n^T) J_n,   p_n = (1 - a) softmax(f(x_n)) + a / C,   a = 0.05,

J_n = d f(x_n) / d theta (C x k) the per-sample Jacobian of the logits with respect to the k chosen weights. The
expectation is over the labels the model itself predicts (smoothed by ``a``, as the authors' code), not over the
data's labels, so no labels are needed (the paper calls this the empirical Fisher: empirical over the inputs).
Per-sample Jacobians cost one forward of the batch with the network in eval mode (samples independent), the
derivative of each chosen weight's own module output (for conv, linear and norm layers a forward of that layer
with the one-hot weight) and one backward of the batch per class; :func:`first_element_jacobian`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, jvp

from ..initialization import INIT_SCHEMES, initialize
from .context import ProxyError, register_pass
from .hooks import forward_hooks
from .options import Option, at_least
from .registry import register_proxy

PAPER = ("Tybl & Neumann, Training-free Neural Architecture Search through Variance of Knowledge of Deep Network "
         "Weights, CVPR 2025 (arXiv:2502.04975)")
ALPHA = 0.05  # label smoothing of the predictive distribution inside the Fisher (the authors' code)
EPS = 1e-10  # in the L1 normalisation and inside the log of the entropy (the authors' code)
DECILES = tuple(i / 10 for i in range(1, 10))  # the 9 quantiles 0.1, ..., 0.9 of the eigenvalues
DEFAULT_TENSORS = 128  # first element of each of the first 128 parameter tensors (the authors' NB201 setting)
INPUTS = ("random", "data")


@dataclass
class VKDNWFisher:
    """The Fisher of the chosen weights and its spectrum.

    ``fisher`` (k x k, float64); ``eigenvalues`` (its k singular values, descending; equal to its eigenvalues,
    F being positive semi-definite); ``deciles`` (the 9 quantiles 0.1..0.9 of the eigenvalues, linear
    interpolation); ``names`` (the k parameter tensors whose first element was used); ``num_tensors`` (the number
    of parameter tensors of the network: the size term of ``vkdnw_single``).
    """

    fisher: torch.Tensor
    eigenvalues: torch.Tensor
    deciles: torch.Tensor
    names: list[str]
    num_tensors: int


def _detach(value):
    return value.detach() if torch.is_tensor(value) else value


def _one_hot_first(w: torch.Tensor) -> torch.Tensor:
    """Zeros shaped like ``w`` with a 1 at its first element in logical order (``w.flatten()[0]``, whatever the
    memory layout)."""
    e = torch.zeros_like(w)
    e[(0,) * e.dim()] = 1.0
    return e


def _compress(t: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Keep only the channels (dim 1) where the tangent is non-zero somewhere: the rest adds nothing to the dot
    products. Returns (kept indices or None for all, the kept slice)."""
    if t.dim() < 2:
        return None, t
    nz = t.ne(0)
    keep = (nz.flatten(2).any(2) if t.dim() > 2 else nz).any(0).nonzero().flatten()
    if keep.numel() == t.shape[1]:
        return None, t
    return keep, t.index_select(1, keep)


_AFFINE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.modules.batchnorm._BatchNorm, nn.GroupNorm,
           nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)


def _tangent(module: nn.Module, local: str, args: tuple, kwargs: dict) -> torch.Tensor:
    """d module(args) / d (first element of its parameter ``local``), for every sample of the batch.

    Conv, linear and normalisation layers are jointly linear in their weight and bias, so the derivative is their
    output with that parameter set to the one-hot tensor and their other parameters to zero (exact, and a plain
    forward). Any other module gets a forward-mode derivative (``torch.func.jvp``).
    """
    w0 = getattr(module, local).detach()
    e = _one_hot_first(w0)
    if isinstance(module, _AFFINE):
        values = {name: (e if name == local else torch.zeros_like(p))
                  for name, p in module.named_parameters(recurse=False)}
        with torch.no_grad():
            return functional_call(module, values, args, kwargs)
    _, t = jvp(lambda w: functional_call(module, {local: w}, args, kwargs), (w0,), (e,))
    return t.detach()


def _jacobian_chunk(model: nn.Module, x: torch.Tensor, names: Sequence[str],
                    owned: dict) -> tuple[torch.Tensor, torch.Tensor]:
    records: list[tuple[torch.Tensor, list]] = []
    k = len(names)
    inner = [False]

    def hook(module, args, kwargs, output):
        if inner[0] or module not in owned:
            return None
        if not torch.is_tensor(output):
            raise ProxyError(f"proxy 'vkdnw': module {type(module).__name__} owns a chosen weight but returns "
                             f"{type(output).__name__}, not a tensor")
        dargs = tuple(_detach(a) for a in args)
        dkwargs = {key: _detach(v) for key, v in kwargs.items()}
        tangents = []
        inner[0] = True
        try:
            for idx, local in owned[module]:
                tangents.append((idx, *_compress(_tangent(module, local, dargs, dkwargs))))
        finally:
            inner[0] = False
        records.append((output, tangents))
        return output.clone()  # what runs downstream; ``output`` stays as recorded even if later ops are in place

    with forward_hooks(((m, hook) for m in owned), with_kwargs=True):
        logits = model(x)
    if not torch.is_tensor(logits) or logits.dim() != 2:
        raise ProxyError(f"proxy 'vkdnw': the model must return logits of shape (batch, classes), got "
                         f"{getattr(logits, 'shape', type(logits).__name__)}")
    b, c = logits.shape
    jac = torch.zeros(b, c, k, dtype=torch.float64, device=logits.device)
    # A weight whose module never ran (e.g. held in a ParameterList and used by its parent): differentiate the
    # whole model forward in that direction instead.
    reached = {idx for _, tangents in records for idx, _, _ in tangents}
    params = dict(model.named_parameters())
    for idx in sorted(set(range(k)) - reached):
        w0 = params[names[idx]].detach()
        e = _one_hot_first(w0)
        _, t = jvp(lambda w, n=names[idx]: functional_call(model, {n: w}, (x,)), (w0,), (e,))
        jac[:, :, idx] = t.detach().double()
    live = [(out, tangents) for out, tangents in records if out.requires_grad]
    if logits.requires_grad and live:
        outs = [out for out, _ in live]
        for cls in range(c):
            g_out = torch.zeros_like(logits)
            g_out[:, cls] = 1.0
            grads = torch.autograd.grad(logits, outs, g_out, retain_graph=cls < c - 1, allow_unused=True)
            for (_, tangents), g in zip(live, grads):
                if g is None:
                    continue
                for idx, keep, t in tangents:
                    gk = g if keep is None else g.index_select(1, keep)
                    jac[:, cls, idx] += (t.double() * gk.double()).reshape(b, -1).sum(1)
    return jac, logits.detach()


def _batch_coupled(model: nn.Module) -> bool:
    """True when some layer normalises with batch statistics even in eval mode (BN without running stats)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is None for m in model.modules())


def first_element_jacobian(model: nn.Module, x: torch.Tensor, names: Sequence[str]) -> tuple[torch.Tensor,
                                                                                                torch.Tensor]:
    """Per-sample Jacobian of the logits w.r.t. the first element of each parameter tensor in ``names``.

    Returns (J, logits): J is (B, C, k) float64, J[n, c, i] = d f_c(x_n) / d names[i].flatten()[0], each sample
    on its own, with the model in whatever train/eval mode it is in (call ``.eval()`` first for BN with running
    statistics); ``logits`` (B, C). A weight is assumed to reach the output only through the forward of the
    module that owns it (true of conv, linear and normalisation layers; not of a weight tied into another module);
    a weight whose module never runs is differentiated through the whole forward. Models whose BN layers have no
    running statistics are run one sample at a time, so that each sample is scored on its own.
    """
    params = dict(model.named_parameters())
    unknown = [n for n in names if n not in params]
    if unknown:
        raise ProxyError(f"proxy 'vkdnw': unknown parameters {unknown}")
    wanted = {id(params[n]): i for i, n in enumerate(names)}
    owned: dict[nn.Module, list[tuple[int, str]]] = {}
    for module in model.modules():
        for local, p in module.named_parameters(recurse=False):
            if id(p) in wanted:
                owned.setdefault(module, []).append((wanted[id(p)], local))
    step = 1 if _batch_coupled(model) else x.shape[0]
    parts = [_jacobian_chunk(model, x[s:s + step], names, owned) for s in range(0, x.shape[0], step)]
    return torch.cat([j for j, _ in parts]), torch.cat([z for _, z in parts])


def fisher_information(jac: torch.Tensor, logits: torch.Tensor, alpha: float = ALPHA) -> torch.Tensor:
    """F = 1/B sum_n J_n^T (diag(p_n) - p_n p_n^T) J_n with p_n = (1 - alpha) softmax(logits_n) + alpha / C:
    the Fisher information of the model's own (smoothed) categorical predictive distribution, float64."""
    z = logits.double()
    p = F.softmax(z, dim=1) * (1 - alpha) + alpha / z.shape[1]
    cov = torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)
    fisher = torch.einsum("nci,ncd,ndj->ij", jac, cov, jac) / jac.shape[0]
    return (fisher + fisher.T) / 2


def spectrum_deciles(eigenvalues: torch.Tensor) -> torch.Tensor:
    """The quantiles 0.1, 0.2, ..., 0.9 of the eigenvalues (linear interpolation, ``torch.quantile``)."""
    q = torch.tensor(DECILES, dtype=torch.float64, device=eigenvalues.device)
    return torch.quantile(eigenvalues.double(), q)


def decile_entropy(deciles: torch.Tensor) -> float:
    """-sum_k l_k log(l_k + 1e-10), l_k = d_k / (sum_j |d_j| + 1e-10): the entropy of the normalised deciles
    (at most log 9, reached when all 9 are equal)."""
    d = deciles.double()
    t = d / (d.abs().sum() + EPS)
    return float(-(t * torch.log(t + EPS)).sum()) + 0.0  # + 0.0: no -0.0 for an all-zero spectrum


OPTIONS = (
    Option("vkdnw_init", str, "kaiming_fan_in", "re-initialization before the pass ('keep': the caller's weights)",
           choices=("keep", *INIT_SCHEMES)),
    Option("vkdnw_input", str, "random", "N(0, 1) inputs shaped like the batch (the authors' code) or the batch",
           choices=tuple(INPUTS)),
    Option("vkdnw_tensors", int, DEFAULT_TENSORS, "parameter tensors, from the first, that give one weight each",
           check=at_least(1)),
)


@register_pass("vkdnw_fisher", gradients=True, bn="eval", options=OPTIONS)
def vkdnw_fisher(ctx) -> VKDNWFisher:
    """Options: ``vkdnw_init`` (default ``"kaiming_fan_in"``: the authors' He-normal fan-in re-init, from the
    seeded generator; ``"keep"`` keeps the caller's weights; or any scheme of
    :data:`proxybench.initialization.INIT_SCHEMES`), ``vkdnw_input`` (``"random"``, default: N(0, 1) inputs shaped
    like the batch, as the authors' code; ``"data"``: the batch itself), ``vkdnw_tensors`` (how many parameter
    tensors, from the first, contribute their first element; default 128). Network in eval mode."""
    init, source, count = ctx.option("vkdnw_init"), ctx.option("vkdnw_input"), ctx.option("vkdnw_tensors")
    model = ctx.fresh_model()
    if init != "keep":
        initialize(model, init, int(torch.randint(0, 2**31 - 1, (1,), generator=ctx.generator("vkdnw_init"))))
    model.eval()
    all_names = [n for n, _ in model.named_parameters()]
    if not all_names:
        raise ProxyError("proxy 'vkdnw' needs a model with parameters")
    names = all_names[:count]
    x = ctx.inputs if source == "data" else ctx.randn(ctx.inputs.shape, "vkdnw_input", dtype=ctx.inputs.dtype)
    jac, logits = first_element_jacobian(model, x, names)
    if not (bool(torch.isfinite(jac).all()) and bool(torch.isfinite(logits).all())):
        fisher = torch.full((len(names), len(names)), math.nan, dtype=torch.float64)
        nan = torch.full((len(DECILES),), math.nan, dtype=torch.float64)
        return VKDNWFisher(fisher, torch.full((len(names),), math.nan, dtype=torch.float64), nan, names,
                           len(all_names))
    fisher = fisher_information(jac, logits)
    eig = torch.linalg.svdvals(fisher)
    return VKDNWFisher(fisher, eig, spectrum_deciles(eig), names, len(all_names))


@register_proxy("vkdnw", gradients=True, bn="eval", options=OPTIONS, paper=PAPER)
def vkdnw(ctx) -> float:
    """VKDNW = -sum_k l_k log l_k, l_k the 9 normalised deciles of the Fisher information spectrum at init.

    l_k = lambda_(k/10) / sum_j lambda_(j/10), k = 1..9, lambda_(q) the q-quantile of the eigenvalues of the
    Fisher information F of the model's own predictive distribution w.r.t. one weight per parameter tensor (the
    first element of the first 128 tensors): F = 1/B sum_n J_n^T (diag p_n - p_n p_n^T) J_n, p_n the softmax
    smoothed by 0.05 (see :mod:`proxybench.proxies.vkdnw`). High when weight uncertainty is spread evenly over
    directions; at most log 9. Authors' settings: He-normal fan-in re-init, eval-mode BN, N(0, 1) inputs shaped
    like the batch (options in the ``vkdnw_fisher`` pass). Labels are not used; costs one backward of the batch
    per class. NaN when the Jacobian overflows. Higher is better."""
    f = ctx.pass_("vkdnw_fisher")
    if not bool(torch.isfinite(f.deciles).all()):
        return ctx.nonfinite("the logits or their Jacobian are not finite")
    return decile_entropy(f.deciles)
