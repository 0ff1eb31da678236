"""Parameter and FLOP counts of NB201 networks, in millions.

Parameters: every trainable tensor, BN affine weights included. This is the count of NB201's own tables and of
NASLib's ``params`` measure (they agree).

FLOPs of one image, one multiply-accumulate = one FLOP, in one of two conventions (:data:`FLOP_CONVENTIONS`):

``"naslib"`` (default) -- the ``flops`` measure of NAS-Bench-Suite-Zero (NASLib's zero-cost benchmark), which is
the ``Flops`` total of tensorwatch's ``ModelStats`` (a vendored torchstat). Summed over leaf modules:

* ``Conv2d``: ``k_h*k_w*(c_in/groups)*c_out`` per output position, plus ``c_out`` per position when biased;
* ``Linear``: ``in*out`` per row; the bias is not counted;
* ``BatchNorm2d``: 2 per element when affine, else 1;
* ``ReLU``, ``ReLU6``, ``PReLU``, ``ELU``, ``LeakyReLU``: 1 per input element;
* ``AvgPool2d``, ``MaxPool2d``: ``k_h*k_w`` per output element;
* ``AdaptiveAvgPool2d``, ``AdaptiveMaxPool2d``: per channel and output cell, ``(rows+1)*(cols+1)`` of the input
  window it reads (the ``+1`` is part of the original formula: a global pool over ``h x w`` counts
  ``(h+1)*(w+1)`` per channel);
* ``Upsample``: 1 per output element;
* everything else 0: tensor additions, the ``none`` op, identities, flatten.

These are the numbers NAS-Bench-Suite-Zero's NB201 ``flops`` proxy reports and that its published correlation
(Spearman .71 on CIFAR-10) was computed from. They reproduce the reference points of the design notes exactly,
e.g. NASLib tuple ``(0, 2, 3, 2, 3, 1)`` -> 88.307392 M at 32x32 with 10 classes, 22.084672 M at 16x16 with
120 classes.

``"xautodl"`` -- NB201's own ``get_model_infos`` (xautodl ``utils/flop_benchmark.py``): ``Conv2d`` as above
and ``Linear`` as ``in*out`` plus ``out`` when biased; pools are hooked there but left out of the total, and
nothing else counts. These are the ``flops`` of NB201's API tables: at 32x32 with 10 classes the all-``none``
cell gives 7.78305 M and the all-``nor_conv_3x3`` cell 220.11969 M, NB201's published range.

On the NB201 network, ``naslib`` = ``xautodl`` + 3 per output element of every ``nor_conv`` edge (ReLU 1,
BN 2) + 9 per output element of every ``avg_pool_3x3`` edge + an arch-independent backbone term (stem and
reduction-block BN and ReLU, the reduction shortcut's 2x2 average pool, the final BN-ReLU, the global pool at
``(h+1)^2`` per channel) - ``num_classes`` (the classifier bias). At 32x32 with 10 classes the ``naslib`` range
is 7.943872 M (all-``none``) to 222.860992 M (all-``nor_conv_3x3``). Which edge carries which op does not change
either count.

:func:`count_flops` measures any model with forward hooks, counting every call of a module (tensorwatch keeps
only the last call of a module that runs more than once; in the NB201 network every module runs once, so the
two agree). :func:`nb201_counts` is the exact closed form for the NB201 network built by
``proxybench.nb201.build_network`` (no network is built) and equals :func:`count_flops` / :func:`count_params`
on it for every cell, resolution and class count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...checks import check_int
from .space import OPS, arch_to_ops, parse_arch

if TYPE_CHECKING:  # the closed form needs no torch; the measuring functions import it when called
    import torch
    from torch import nn

FLOP_CONVENTIONS: tuple[str, ...] = ("naslib", "xautodl")
"""FLOP counting conventions: NASLib/NAS-Bench-Suite-Zero (tensorwatch) and NB201's own (xautodl)."""


def _check_convention(convention: str) -> str:
    if convention not in FLOP_CONVENTIONS:
        raise ValueError(f"unknown FLOP convention {convention!r}; valid: {', '.join(FLOP_CONVENTIONS)}")
    return convention


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _adaptive_pool_flops(inp: torch.Tensor, out: torch.Tensor) -> int:
    """Per channel and output cell, (window rows + 1) * (window cols + 1), as in torchstat."""
    h, w = inp.shape[-2:]
    oh, ow = out.shape[-2:]
    planes = inp.numel() // (h * w)
    rows = sum((-(-(i + 1) * h // oh)) - (i * h // oh) + 1 for i in range(oh))
    cols = sum((-(-(j + 1) * w // ow)) - (j * w // ow) + 1 for j in range(ow))
    return planes * rows * cols


def _module_flops(m: nn.Module, inp: torch.Tensor, out: torch.Tensor, convention: str) -> int:
    """FLOPs of one call of leaf module ``m`` in ``convention``."""
    from torch import nn

    if isinstance(m, nn.Conv2d):
        kh, kw = m.kernel_size
        positions = out.numel() // m.out_channels
        flops = kh * kw * (m.in_channels // m.groups) * m.out_channels * positions
        return flops + (m.out_channels * positions if m.bias is not None else 0)
    if isinstance(m, nn.Linear):
        rows = inp.numel() // m.in_features
        flops = rows * m.in_features * m.out_features
        if convention == "xautodl" and m.bias is not None:
            flops += rows * m.out_features
        return flops
    if convention == "xautodl":
        return 0
    if isinstance(m, nn.BatchNorm2d):
        return inp.numel() * (2 if m.affine else 1)
    if isinstance(m, (nn.ReLU, nn.ReLU6, nn.PReLU, nn.ELU, nn.LeakyReLU)):
        return inp.numel()
    if isinstance(m, (nn.AvgPool2d, nn.MaxPool2d)):
        kh, kw = _pair(m.kernel_size)
        return out.numel() * kh * kw
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return _adaptive_pool_flops(inp, out)
    if isinstance(m, nn.Upsample):
        return out.numel()
    return 0


def count_params(model: nn.Module) -> float:
    """Trainable parameters in millions."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6


def count_flops(model: nn.Module, input_shape: Sequence[int], convention: str = "naslib") -> float:
    """FLOPs (millions) of one forward pass of a single input of ``input_shape`` = (C, H, W), measured with
    forward hooks on the leaf modules in ``convention`` (see the module docstring). The model runs in eval
    mode under ``no_grad`` and is put back in its previous mode."""
    import torch

    _check_convention(convention)
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ValueError(f"input_shape must be (channels, height, width), got {input_shape!r}") from None
    if len(shape) != 3 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"input_shape must be 3 positive integers (channels, height, width), got {input_shape!r}")
    total = [0]

    def hook(m, inputs, output):
        if inputs and isinstance(inputs[0], torch.Tensor) and isinstance(output, torch.Tensor):
            total[0] += _module_flops(m, inputs[0], output, convention)

    hooks = [m.register_forward_hook(hook) for m in model.modules() if next(m.children(), None) is None]
    was_training = model.training
    p = next(model.parameters(), None)
    device = p.device if p is not None else "cpu"
    dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *shape, device=device, dtype=dtype))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total[0] / 1e6


# ---- closed form for the NB201 network -------------------------------------------------------------------

def _check_res(resolution) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 4 or resolution % 4:
        raise ValueError(
            f"resolution must be a positive multiple of 4 (two stride-2 reductions), got {resolution!r}"
        )
    return resolution


def _stage_shapes(C: int, resolution: int) -> list[tuple[int, int]]:
    """(channels, spatial size) of the cells in each of the 3 stages."""
    return [(C, resolution), (2 * C, resolution // 2), (4 * C, resolution // 4)]


def _relu_conv_bn(c_in: int, c_out: int, k: int, h_in: int, h_out: int, naslib: bool) -> int:
    """ReLU -> Conv(k x k, no bias) -> BN(affine); ``h_out`` is the conv's output size."""
    flops = k * k * c_in * c_out * h_out * h_out
    if naslib:
        flops += c_in * h_in * h_in + 2 * c_out * h_out * h_out
    return flops


def _op_counts(op: str, c: int, h: int, naslib: bool) -> tuple[int, int]:
    """(params, flops) of one cell edge at c channels and h x h resolution."""
    if op == "nor_conv_3x3":
        return 9 * c * c + 2 * c, _relu_conv_bn(c, c, 3, h, h, naslib)
    if op == "nor_conv_1x1":
        return c * c + 2 * c, _relu_conv_bn(c, c, 1, h, h, naslib)
    if op == "avg_pool_3x3":
        return 0, 9 * c * h * h if naslib else 0
    return 0, 0  # none, skip_connect


def _backbone_counts(C: int, num_classes: int, in_channels: int, resolution: int, naslib: bool) -> tuple[int, int]:
    """(params, flops) of everything but the cells: stem, two reduction blocks, head."""
    R = resolution
    params = 9 * in_channels * C + 2 * C  # stem conv + BN
    flops = 9 * in_channels * C * R * R + (2 * C * R * R if naslib else 0)
    shapes = _stage_shapes(C, R)
    for s in (1, 2):
        c_in, h_in = shapes[s - 1]
        c, h = shapes[s]
        # conv_a (3x3, stride 2) and conv_b (3x3), each ReLU-Conv-BN; shortcut AvgPool(2) + Conv1x1 (no bias)
        params += 9 * c_in * c + 2 * c + 9 * c * c + 2 * c + c_in * c
        flops += _relu_conv_bn(c_in, c, 3, h_in, h, naslib) + _relu_conv_bn(c, c, 3, h, h, naslib)
        flops += c_in * c * h * h + (4 * c_in * h * h if naslib else 0)
    c_last, h_last = shapes[2]
    params += 2 * c_last + c_last * num_classes + num_classes  # final BN + classifier
    flops += c_last * num_classes
    if naslib:
        flops += 3 * c_last * h_last * h_last  # final BN (2) + ReLU (1)
        flops += c_last * (h_last + 1) ** 2  # global average pool, torchstat's (h+1)*(w+1) window
    else:
        flops += num_classes  # classifier bias
    return params, flops


def nb201_counts(arch: str | int | Sequence[int], C: int = 16, N: int = 5, num_classes: int = 10,
                 in_channels: int = 3, resolution: int = 32, convention: str = "naslib") -> tuple[float, float]:
    """(params in M, FLOPs in M) of the NB201 network for ``arch`` (string, official index or op-index tuple)
    at ``resolution`` x ``resolution`` input, exactly, without building it. FLOPs in ``convention``."""
    naslib = _check_convention(convention) == "naslib"
    for name, value in (("C", C), ("N", N), ("num_classes", num_classes), ("in_channels", in_channels)):
        check_int(value, name, 1)
    ops = arch_to_ops(parse_arch(arch))
    params, flops = _backbone_counts(C, num_classes, in_channels, _check_res(resolution), naslib)
    for c, h in _stage_shapes(C, resolution):
        for o in ops:
            p, f = _op_counts(OPS[o], c, h, naslib)
            params += N * p
            flops += N * f
    return params / 1e6, flops / 1e6


def nb201_params(arch: str | int | Sequence[int], **kwargs) -> float:
    """Parameters (M) of the NB201 network for ``arch``; keywords as :func:`nb201_counts`."""
    return nb201_counts(arch, **kwargs)[0]


def nb201_flops(arch: str | int | Sequence[int], **kwargs) -> float:
    """FLOPs (M) of the NB201 network for ``arch``; keywords as :func:`nb201_counts`."""
    return nb201_counts(arch, **kwargs)[1]
