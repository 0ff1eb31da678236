"""``zen``: Zen-score (Lin et al., Zen-NAS, ICCV 2021)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..initialization import initialize
from .errors import ProxyError
from .hooks import forward_hooks
from .options import Option, at_least, greater_than
from .registry import register_proxy


def _pre_gap(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Input of the last global average pool (nn.AdaptiveAvgPool2d) called in ``model(x)``."""
    seen: list[torch.Tensor] = []
    def keep_input(module, args, output):
        seen.append(args[0])

    with forward_hooks((m, keep_input) for m in model.modules() if isinstance(m, nn.AdaptiveAvgPool2d)):
        model(x)
    if not seen:
        raise ProxyError("proxy 'zen' needs the feature map before global average pooling, but the model has no "
                         "nn.AdaptiveAvgPool2d")
    return seen[-1]


@register_proxy("zen", options=(
    Option("mixup_gamma", float, 1e-2, "size of the input perturbation", check=greater_than(0)),
    Option("zen_repeat", int, 1, "independent draws of weights and inputs averaged", check=at_least(1)),
), paper="Lin et al., Zen-NAS: A Zero-Shot NAS for High-Performance Image Recognition, "
                             "ICCV 2021")
def zen(ctx) -> float:
    """log E_n ||F(x_n) - F(x_n + gamma eps_n)||_1 + sum_i log sigma_i, F the feature map before global average
    pooling of the network re-initialized with every conv/linear weight ~ N(0, 1) (biases 0, BN weight 1,
    bias 0, fresh running statistics), x and eps ~ N(0, 1) of the batch's shape, gamma = 1e-2 (option
    ``mixup_gamma``), network in train mode; sigma_i = sqrt(mean over channels of BN layer i's running variance)
    after the two forwards, as in the authors' code. Option ``zen_repeat`` (default 1) averages independent
    draws of weights and inputs."""
    gamma, repeat = ctx.option("mixup_gamma"), ctx.option("zen_repeat")
    scores = []
    for r in range(repeat):
        model = ctx.fresh_model()  # train mode
        bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if any(m.running_var is None for m in bns):
            raise ProxyError("proxy 'zen' reads BN running variances, but a BN layer of the model has "
                             "track_running_stats=False")
        initialize(model, "gaussian", seed=ctx.generator(f"zen:init:{r}").initial_seed())
        shape = tuple(ctx.inputs.shape)
        x = ctx.randn(shape, f"zen:x:{r}", dtype=ctx.inputs.dtype)
        eps = ctx.randn(shape, f"zen:eps:{r}", dtype=ctx.inputs.dtype)
        with torch.no_grad():
            f1 = _pre_gap(model, x)
            f2 = _pre_gap(model, x + gamma * eps)
            if f1.dim() != 4:
                raise ProxyError(f"proxy 'zen' needs a 4-D feature map before global pooling, got shape "
                                 f"{tuple(f1.shape)}")
            delta = (f1 - f2).abs().sum(dim=(1, 2, 3)).mean()
            log_bn = sum(float(torch.log(torch.sqrt(m.running_var.mean()))) for m in bns)
        scores.append(math.log(float(delta)) + log_bn if float(delta) > 0 else float("-inf"))
    value = sum(scores) / len(scores)
    if value == float("-inf"):
        return ctx.nonfinite("the perturbed and unperturbed feature maps are identical (the features before "
                             "global pooling do not depend on the input)", value)
    return value
