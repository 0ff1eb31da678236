"""DisWOT's search space S1 (Dong, Li & Wei, CVPR 2023): CIFAR ResNets whose three stages each have 1, 3, 5 or 7
BasicBlocks, 4^3 = 64 architectures.

The network (:class:`~proxybench.benchmarks.resnet_cifar.CifarResNet` with ``depths``): Conv3x3 stem to 16
channels + BN + ReLU; three stages of BasicBlocks (Conv3x3-BN-ReLU-Conv3x3-BN, plus the shortcut, then ReLU) at
widths 16, 32, 64 and strides 1, 2, 2, with a Conv1x1 + BN shortcut where the shape changes (the first block of
stages 2 and 3); global average pooling; Linear. This is the definition of the authors' repository
(lliai/DisWOT-CVPR2023, ``models/candidates/mutable/mutable_depth_resnet20.py``); the weights are initialized by
proxybench's ``init`` setting, not by that file's constructor.

Arch code: three digits, the blocks of stages 1, 2 and 3; ``"333"`` is ResNet-20. Index order: the codes sorted
(``"111"`` = 0, ``"113"`` = 1, ..., ``"777"`` = 63), which is also the order of the authors' enumeration and of
their released tables. With 100 classes ``"333"`` has 278,324 parameters and ``"713"`` 259,892.

Counts are exact and closed-form (equal to :func:`~proxybench.benchmarks.nb201.counts.count_params` and
:func:`~proxybench.benchmarks.nb201.counts.count_flops` on the built network, both FLOP conventions). Mutation
changes the depth of one stage to another of the four values (9 mutants per architecture).
"""

from __future__ import annotations

import itertools
from typing import Any

from ...checks import check_int
from .base import SearchSpace, check_convention, register_space

DEPTHS: tuple[int, ...] = (1, 3, 5, 7)
"""The blocks a stage may have."""
WIDTHS: tuple[int, int, int, int] = (16, 16, 32, 64)
"""Stem width, then the widths of stages 1, 2, 3."""
STRIDES: tuple[int, int, int] = (1, 2, 2)
CODES: tuple[str, ...] = tuple("".join(map(str, d)) for d in itertools.product(DEPTHS, repeat=3))
"""The 64 arch codes in index order (sorted)."""
ARCH_FORM = ("a code of three digits, the blocks of stages 1, 2, 3, each one of 1, 3, 5, 7 ('111' .. '777'; '333' is "
             "ResNet-20), an index 0..63 (the codes sorted), or three depths (3, 3, 3)")


def code_to_depths(code: str) -> tuple[int, int, int]:
    """``"713"`` -> ``(7, 1, 3)`` (no checks: use :meth:`DisWOTS1Space.parse_arch` for user input)."""
    return tuple(int(c) for c in code)  # type: ignore[return-value]


def s1_counts(depths: tuple[int, int, int], num_classes: int = 100, in_channels: int = 3, resolution: int = 32,
              convention: str = "naslib") -> tuple[float, float]:
    """(params M, FLOPs M) of the S1 network with ``depths`` blocks per stage, exactly (see the module docstring).

    FLOPs per image in ``convention``: ``xautodl`` counts convolutions and the classifier with its bias;
    ``naslib`` also BN (2 per element), ReLU (1 per element) and the global pool (``(h + 1)^2`` per channel,
    torchstat's window), not the classifier bias."""
    naslib = check_convention(convention) == "naslib"
    for what, value in (("num_classes", num_classes), ("in_channels", in_channels), ("resolution", resolution)):
        check_int(value, what, 1)
    c0 = WIDTHS[0]
    h = resolution
    params = 9 * in_channels * c0 + 2 * c0
    flops = 9 * in_channels * c0 * h * h + (3 * c0 * h * h if naslib else 0)  # conv, BN (2) + ReLU (1)
    c_in = c0
    for width, stride, n in zip(WIDTHS[1:], STRIDES, depths):
        for b in range(n):
            s = stride if b == 0 else 1
            h_out = -(-h // s)  # 3x3 conv, padding 1 (and the 1x1 shortcut): ceil(h / s)
            params += 9 * c_in * width + 2 * width + 9 * width * width + 2 * width
            flops += (9 * c_in * width + 9 * width * width) * h_out * h_out
            if naslib:
                flops += (2 + 1 + 2 + 1) * width * h_out * h_out  # bn1, relu1, bn2, relu2
            if s != 1 or c_in != width:
                params += c_in * width + 2 * width
                flops += c_in * width * h_out * h_out + (2 * width * h_out * h_out if naslib else 0)
            c_in, h = width, h_out
    params += c_in * num_classes + num_classes
    flops += c_in * num_classes + (c_in * (h + 1) ** 2 if naslib else num_classes)
    return params / 1e6, flops / 1e6


@register_space("diswot-s1")
class DisWOTS1Space(SearchSpace):
    title = "DisWOT S1"
    description = ("DisWOT's S1: CIFAR ResNets (BasicBlocks, widths 16/32/64) with 1, 3, 5 or 7 blocks per stage, "
                   "64 archs; code '333' = ResNet-20")
    arch_form = ARCH_FORM
    paper = "Dong, Li & Wei, DisWOT: Student Architecture Search for Distillation WithOut Training, CVPR 2023"
    features = frozenset({"stages", "blocks"})

    def all_archs(self) -> tuple[str, ...]:
        return CODES

    def parse_arch(self, arch: Any) -> str:
        def bad(why: str) -> ValueError:
            return ValueError(f"bad {self.name} architecture {arch!r}: {why}; valid: {ARCH_FORM}")

        if isinstance(arch, bool):
            raise bad("not an architecture")
        if isinstance(arch, str):
            text = arch.strip()
            if len(text) == 3 and text.isdigit():
                for stage, digit in enumerate(text, start=1):
                    if int(digit) not in DEPTHS:
                        raise bad(f"stage {stage} has {digit} blocks, not one of 1, 3, 5, 7")
                return text
            if text.isdigit():
                return self.index_to_arch(int(text))
            raise bad("not a three-digit code or an index")
        if hasattr(arch, "__index__"):
            try:
                return self.index_to_arch(int(arch))
            except ValueError as exc:
                raise bad(str(exc)) from None
        try:
            depths = tuple(arch)
        except TypeError:
            raise bad("not a code, an index or three depths") from None
        if len(depths) != 3 or any(isinstance(d, bool) or not hasattr(d, "__index__") or int(d) not in DEPTHS
                                   for d in depths):
            raise bad("three depths must each be one of 1, 3, 5, 7")
        return "".join(str(int(d)) for d in depths)

    def construct(self, arch: str, num_classes: int, in_channels: int, **network: Any):
        from ..resnet_cifar import CifarResNet

        model = CifarResNet(widths=WIDTHS, num_classes=num_classes, in_channels=in_channels, shortcut="B",
                            depths=code_to_depths(arch))
        model.arch = arch
        return model

    def counts(self, arch: Any, *, num_classes: int = 10, in_channels: int = 3, resolution: int = 32,
               convention: str = "naslib", **network: Any) -> tuple[float, float]:
        self.check_network(network)
        return s1_counts(code_to_depths(self.parse_arch(arch)), num_classes, in_channels, resolution, convention)

    def neighbours(self, index: int) -> list[int]:
        """The 9 codes that differ in one stage's depth, in order of stage, then depth."""
        depths = code_to_depths(self.index_to_arch(index))
        out = []
        for stage in range(3):
            for d in DEPTHS:
                if d != depths[stage]:
                    child = list(depths)
                    child[stage] = d
                    out.append(self.arch_to_index("".join(map(str, child))))
        return out
