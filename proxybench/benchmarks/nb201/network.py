"""NB201's "infer.tiny" network (xautodl ``TinyNetwork`` with ``InferCell``), written for proxybench.

Layout (C channels, N cells per stage):
stem = Conv3x3(in, C) + BN; stage 1 = N cells at C; ResNet basic block (stride 2) to 2C; stage 2 = N cells
at 2C; basic block to 4C; stage 3 = N cells at 4C; head = BN + ReLU + global average pool + Linear.
Cell ops: ``nor_conv_kxk`` = ReLU-Conv-BN, ``avg_pool_3x3`` = AvgPool(3, pad 1, count_include_pad=False),
``skip_connect`` = identity, ``none`` = zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...checks import check_int
from .space import EDGES, OPS, arch_to_ops, ops_to_arch, parse_arch


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track_running_stats),
        )


class Zero(nn.Module):
    """The ``none`` op: outputs zeros shaped like its input (cells keep channels and resolution)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class ResNetBasicBlock(nn.Module):
    """Reduction block between stages: two ReLU-Conv3x3-BN plus an AvgPool+Conv1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 2, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride, 1, affine, track_running_stats)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, affine, track_running_stats)
        if stride == 2:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
            )
        elif c_in != c_out:
            self.downsample = ReLUConvBN(c_in, c_out, 1, 1, 0, affine, track_running_stats)
        else:
            self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_b(self.conv_a(x))
        residual = self.downsample(x) if self.downsample is not None else x
        return residual + out


def make_op(name: str, channels: int, affine: bool = True, track_running_stats: bool = True) -> nn.Module:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0, affine, track_running_stats)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1, affine, track_running_stats)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown op {name!r}; valid ops: {', '.join(OPS)}")


class Cell(nn.Module):
    """One NB201 cell: node i = sum_j op_(i<-j)(node j); the output is node 3."""

    def __init__(self, ops: Sequence[int], channels: int, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__()
        self.ops = tuple(ops)
        self.edges = nn.ModuleList(make_op(OPS[o], channels, affine, track_running_stats) for o in self.ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in (1, 2, 3):
            total = None
            for pos, (dst, src) in enumerate(EDGES):
                if dst == node:
                    y = self.edges[pos](nodes[src])
                    total = y if total is None else total + y
            nodes.append(total)
        return nodes[3]

    def extra_repr(self) -> str:
        return ops_to_arch(self.ops)


class NB201Network(nn.Module):
    """The NB201 network for one cell. ``forward`` returns logits.

    ``forward_features(x)`` returns a dict with ``stem``, ``stage1``, ``stage2``, ``stage3`` (per-stage
    outputs), ``pre_pool`` (after the final BN-ReLU, before global pooling), ``pooled`` and ``logits``;
    ``block_features(x)`` the stem output and every block's output (AZ-NAS's cell features).
    ``classifier`` is the final ``nn.Linear``; ``feature_dim`` its input width.
    """

    def __init__(self, arch: str, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        for name, value in (("C", C), ("N", N), ("num_classes", num_classes), ("in_channels", in_channels)):
            check_int(value, name, 1)
        self.arch = parse_arch(arch)
        self.ops = arch_to_ops(self.arch)
        self.C, self.N, self.num_classes, self.in_channels = C, N, num_classes, in_channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(C, affine=affine, track_running_stats=track_running_stats),
        )
        stages = []
        c_prev = C
        for s, c in enumerate((C, 2 * C, 4 * C)):
            blocks = []
            if s > 0:
                blocks.append(ResNetBasicBlock(c_prev, c, 2, affine, track_running_stats))
            blocks.extend(Cell(self.ops, c, affine, track_running_stats) for _ in range(N))
            stages.append(nn.Sequential(*blocks))
            c_prev = c
        self.stages = nn.ModuleList(stages)
        self.lastact = nn.Sequential(
            nn.BatchNorm2d(c_prev, affine=affine, track_running_stats=track_running_stats), nn.ReLU()
        )
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)
        self.feature_dim = c_prev

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        h = self.stem(x)
        out["stem"] = h
        for i, stage in enumerate(self.stages, start=1):
            h = stage(h)
            out[f"stage{i}"] = h
        h = self.lastact(h)
        out["pre_pool"] = h
        pooled = self.global_pooling(h).flatten(1)
        out["pooled"] = pooled
        out["logits"] = self.classifier(pooled)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)["logits"]

    def block_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stem output and every block's output (cells and reduction blocks, in order), graph kept."""
        h = self.stem(x)
        feats = [h]
        for stage in self.stages:
            for block in stage:
                h = block(h)
                feats.append(h)
        return feats

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, C={self.C}, N={self.N}, num_classes={self.num_classes}"
