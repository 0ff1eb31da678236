"""Parameter and FLOP counts in NB201's convention (xautodl ``get_model_infos``), in millions.

Parameters: every trainable tensor, BN affine included. FLOPs: multiply-accumulates of one image, counted on
``Conv2d`` (k*k*c_in*c_out/groups per output position, + c_out if biased), ``Linear`` (in*out, + out if biased)
and ``AvgPool2d``/``MaxPool2d`` (k*k per output element); nothing else counts (BN, ReLU, adds, the global
average pool, the ``none`` and ``skip_connect`` ops).

:func:`count_flops` measures any model with forward hooks; :func:`nb201_flops` and :func:`nb201_params` are
exact closed forms for the NB201 network (no network is built), equal to the measured counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .space import OPS, arch_to_ops, parse_arch


def count_params(model: nn.Module) -> float:
    """Trainable parameters in millions."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> float:
    """FLOPs (MACs, NB201 convention) of one forward pass of a batch-1 input of ``input_shape`` (C, H, W), in
    millions."""
    total = [0]

    def conv_hook(m: nn.Conv2d, inputs, output):
        oh, ow = output.shape[2:]
        kh, kw = m.kernel_size
        per_pos = kh * kw * m.in_channels * m.out_channels // m.groups
        total[0] += per_pos * oh * ow + (m.out_channels * oh * ow if m.bias is not None else 0)

    def linear_hook(m: nn.Linear, inputs, output):
        total[0] += m.in_features * m.out_features + (m.out_features if m.bias is not None else 0)

    def pool_hook(m, inputs, output):
        k = m.kernel_size
        k2 = k * k if isinstance(k, int) else k[0] * k[1]
        total[0] += output[0].numel() * k2

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, (nn.AvgPool2d, nn.MaxPool2d)):
            hooks.append(m.register_forward_hook(pool_hook))
    was_training = model.training
    try:
        model.eval()
        p = next(model.parameters(), None)
        device = p.device if p is not None else "cpu"
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total[0] / 1e6


def _stage_shapes(C: int, resolution: int) -> list[tuple[int, int]]:
    """(channels, spatial size) of the cells in each stage."""
    out, h = [], resolution
    for s in range(3):
        if s > 0:
            h //= 2
        out.append((C * 2**s, h))
    return out


def _op_cost(op: str, c: int, h: int) -> tuple[int, int]:
    """(params, flops) of one cell edge at c channels and h x h resolution."""
    if op == "nor_conv_3x3":
        return 9 * c * c + 2 * c, 9 * c * c * h * h
    if op == "nor_conv_1x1":
        return c * c + 2 * c, c * c * h * h
    if op == "avg_pool_3x3":
        return 0, 9 * c * h * h
    return 0, 0


def _backbone(C: int, N: int, num_classes: int, in_channels: int, resolution: int) -> tuple[int, int]:
    """(params, flops) of everything but the cells."""
    params = 9 * in_channels * C + 2 * C  # stem conv + BN
    flops = 9 * in_channels * C * resolution * resolution
    shapes = _stage_shapes(C, resolution)
    for s in (1, 2):
        c_in, _ = shapes[s - 1]
        c, h = shapes[s]
        # conv_a (stride 2) + BN, conv_b + BN, shortcut avgpool(2) + conv1x1
        params += 9 * c_in * c + 2 * c + 9 * c * c + 2 * c + c_in * c
        flops += 9 * c_in * c * h * h + 9 * c * c * h * h + 4 * c_in * h * h + c_in * c * h * h
    c_last = shapes[2][0]
    params += 2 * c_last + c_last * num_classes + num_classes
    flops += c_last * num_classes + num_classes
    return params, flops


def _check_res(resolution: int) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 4 or resolution % 4:
        raise ValueError(f"resolution must be a positive multiple of 4 (two stride-2 stages), got {resolution!r}")
    return resolution


def nb201_counts(arch: str | int | Sequence[int], C: int = 16, N: int = 5, num_classes: int = 10,
                 in_channels: int = 3, resolution: int = 32) -> tuple[float, float]:
    """(params in M, FLOPs in M) of the NB201 network for ``arch``, exactly, without building it."""
    ops = arch_to_ops(parse_arch(arch))
    params, flops = _backbone(C, N, num_classes, in_channels, _check_res(resolution))
    for c, h in _stage_shapes(C, resolution):
        for o in ops:
            p, f = _op_cost(OPS[o], c, h)
            params += N * p
            flops += N * f
    return params / 1e6, flops / 1e6


def nb201_params(arch, **kwargs) -> float:
    return nb201_counts(arch, **kwargs)[0]


def nb201_flops(arch, **kwargs) -> float:
    return nb201_counts(arch, **kwargs)[1]
