"""DistPro's KD pathways (Deng et al., ECCV 2022): teacher stage -> student stage, each with a learnable transform
and a multi-scale pooled MSE.

A *pathway* ``(i, j)`` (1-based) compares the teacher's stage ``t_i`` output with the student's stage ``s_j``
output, after a transform that maps the student's feature to the teacher's shape (channels and spatial size).

Pathway sets (:func:`make_pathways`): ``distpro`` keeps ``i <= j`` (a student stage learns from teacher stages at
its depth or shallower; 6 pathways for 3-stage networks, as DistPro's reference ``distiller.py``); ``all`` keeps
every pair (9).

Transforms (:func:`build_transform`):

``distpro``  DistPro's connector (reference ``build_feature_connector_complex``): Conv3x3(s -> m)-BN-ReLU,
             a 1x1 attention gate (``x * conv1x1(x)``, one map, no squashing), Conv3x3(m -> m)-BN-ReLU, resize to
             the teacher's spatial size, Conv3x3(m -> t)-BN; ``m = min(512, t, s)`` channels.
``conv1x1``  Conv1x1(s -> t)-BN then resize (the reference's simpler ``build_feature_connector``).

Convolutions are initialized ``N(0, 2 / (k * k * out_channels))`` and BN to (1, 0), as the reference does. The
resize is nearest-neighbour upsampling (reference) or, when the teacher map is smaller (only with ``all``),
adaptive average pooling.

Loss per pathway (:func:`multiscale_pooled_mse`, ReviewKD's HCL as DistPro uses it): the MSE of the full maps plus
the MSEs of the maps average-pooled to 4x4, 2x2 and 1x1 (only pool sizes smaller than the map's height), weighted
1, 1/2, 1/4, 1/8 and divided by the sum of the weights used.

Stage shapes come from a probe forward of each network (:func:`probe_stages`), so every teacher kind works:
``resnet*``, ``nb201:``, ``checkpoint:`` and ``ensemble:`` (whose ``forward_features`` gives the members' stage
maps concatenated along channels). Teacher features are compared as given (stage outputs); DistPro's reference
takes pre-ReLU features, which proxybench's networks do not expose.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

PATHWAY_SETS = ("distpro", "all")
TRANSFORMS = ("distpro", "conv1x1")
POOL_SIZES = (4, 2, 1)
_STAGE = re.compile(r"^stage(\d+)$")

Shape = tuple[int, int, int]  # (channels, height, width)


# ---- pathway sets ----------------------------------------------------------------------------------------------
def make_pathways(n_teacher: int = 3, n_student: int = 3, which: str = "distpro") -> list[tuple[int, int]]:
    """The pathways ``(i, j)`` (teacher stage i, student stage j, 1-based) in teacher-major order:
    ``distpro`` keeps ``i <= j``, ``all`` every pair."""
    if which not in PATHWAY_SETS:
        raise ValueError(f"pathway set must be one of {PATHWAY_SETS}, got {which!r}")
    for name, n in (("n_teacher", n_teacher), ("n_student", n_student)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    out = [(i, j) for i in range(1, n_teacher + 1) for j in range(1, n_student + 1)
           if which == "all" or i <= j]
    if not out:
        raise ValueError(f"no {which!r} pathways between {n_teacher} teacher and {n_student} student stages")
    return out


def pathway_name(p: Sequence[int]) -> str:
    return f"t{p[0]}->s{p[1]}"


def check_pathways(pathways: Any) -> list[tuple[int, int]]:
    """Validate a pathway list (pairs of stage numbers >= 1, no duplicates) and return it as tuples."""
    if not isinstance(pathways, (list, tuple)) or not pathways:
        raise ValueError(f"pathways must be a non-empty list of [teacher_stage, student_stage] pairs, got {pathways!r}")
    out = []
    for p in pathways:
        if (not isinstance(p, (list, tuple)) or len(p) != 2
                or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in p)):
            raise ValueError(f"pathway {p!r} must be a pair [teacher_stage, student_stage] of integers >= 1")
        out.append((int(p[0]), int(p[1])))
    if len(set(out)) != len(out):
        raise ValueError(f"pathways list a pair twice: {out}")
    return out


# ---- features ----------------------------------------------------------------------------------------------------
def stage_maps(feats: dict[str, Any]) -> list[torch.Tensor]:
    """The 4-D ``stage1``, ``stage2``, ... maps of a ``forward_features`` dict, in order."""
    found = {}
    for key, value in feats.items():
        m = _STAGE.match(str(key))
        if m and torch.is_tensor(value) and value.dim() == 4:
            found[int(m.group(1))] = value
    if not found or sorted(found) != list(range(1, len(found) + 1)):
        raise ValueError(f"forward_features gave no consecutive 4-D stage maps stage1..stageN "
                         f"(keys: {', '.join(map(str, feats))})")
    return [found[i] for i in range(1, len(found) + 1)]


@torch.no_grad()
def probe_stages(net: nn.Module, resolution: int, in_channels: int) -> list[Shape]:
    """(channels, height, width) of each stage map of ``net`` for ``resolution`` x ``resolution`` inputs, from one
    forward pass of two zero images in eval mode (on the network's device; training flags restored; no RNG
    draws, BN statistics untouched)."""
    if not callable(getattr(net, "forward_features", None)):
        raise ValueError(f"{type(net).__name__} has no forward_features(x) method returning stage maps")
    param = next(net.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    flags = [(m, m.training) for m in net.modules()]
    try:
        net.eval()
        x = torch.zeros(2, in_channels, resolution, resolution, device=device, dtype=dtype)
        maps = stage_maps(net.forward_features(x))
    finally:
        for m, flag in flags:
            m.training = flag
    return [(int(f.shape[1]), int(f.shape[2]), int(f.shape[3])) for f in maps]


# ---- the loss ------------------------------------------------------------------------------------------------------
def multiscale_pooled_mse(f_s: torch.Tensor, f_t: torch.Tensor, pools: Sequence[int] = POOL_SIZES) -> torch.Tensor:
    """ReviewKD's hierarchical context loss as DistPro uses it: ``(mse(f_s, f_t) + sum_k 2^-k mse(P_k f_s,
    P_k f_t)) / (1 + sum_k 2^-k)``, ``P_k`` the adaptive average pool to ``pools[k] x pools[k]``, over the pool
    sizes smaller than the map's height (k counts only those). ``f_t`` is a constant target."""
    if f_s.shape != f_t.shape or f_s.dim() != 4:
        raise ValueError(f"multiscale_pooled_mse needs two 4-D maps of one shape, got {tuple(f_s.shape)} and "
                         f"{tuple(f_t.shape)}")
    f_t = f_t.detach()
    h = f_s.shape[2]
    loss = F.mse_loss(f_s, f_t)
    weight = total = 1.0
    for size in pools:
        if size >= h:
            continue
        weight /= 2.0
        loss = loss + weight * F.mse_loss(F.adaptive_avg_pool2d(f_s, size), F.adaptive_avg_pool2d(f_t, size))
        total += weight
    return loss / total


# ---- transforms ------------------------------------------------------------------------------------------------------
class Resize(nn.Module):
    """To ``(height, width)``: nearest-neighbour upsampling, adaptive average pooling when shrinking."""

    def __init__(self, size: tuple[int, int]):
        super().__init__()
        self.size = (int(size[0]), int(size[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        if (h, w) == self.size:
            return x
        if h >= self.size[0] and w >= self.size[1]:
            return F.adaptive_avg_pool2d(x, self.size)
        return F.interpolate(x, size=self.size, mode="nearest")

    def extra_repr(self) -> str:
        return f"size={self.size}"


class AttentionGate(nn.Module):
    """DistPro's self-attention: ``x * conv1x1(x)`` with a one-channel, bias-free 1x1 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv(x)


def _init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.data.normal_(0.0, math.sqrt(2.0 / n))
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.data.fill_(1.0)
            m.bias.data.zero_()


def build_transform(kind: str, student: Shape, teacher: Shape) -> nn.Sequential:
    """The transform from a student map of shape ``student`` (C, H, W) to the teacher's ``teacher`` shape (draws
    its initial weights from the global RNG)."""
    if kind not in TRANSFORMS:
        raise ValueError(f"transform must be one of {TRANSFORMS}, got {kind!r}")
    c_s, c_t = int(student[0]), int(teacher[0])
    size = (int(teacher[1]), int(teacher[2]))
    if kind == "conv1x1":
        layers = [nn.Conv2d(c_s, c_t, 1, bias=False), nn.BatchNorm2d(c_t), Resize(size)]
    else:
        mid = min(512, c_t, c_s)
        layers = [nn.Conv2d(c_s, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
                  AttentionGate(mid),
                  nn.Conv2d(mid, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
                  Resize(size),
                  nn.Conv2d(mid, c_t, 3, padding=1, bias=False), nn.BatchNorm2d(c_t)]
    seq = nn.Sequential(*layers)
    _init(seq)
    return seq


class Pathways(nn.Module):
    """The transforms of a pathway set and their per-pathway losses.

    ``losses(student_feats, teacher_feats)`` -> tensor ``(P,)``: for pathway ``(i, j)`` the
    :func:`multiscale_pooled_mse` between ``transform(s_j)`` and ``t_i`` (a constant)."""

    def __init__(self, pathways: Sequence[Sequence[int]], student_shapes: Sequence[Shape],
                 teacher_shapes: Sequence[Shape], transform: str = "distpro", seed: int = 0):
        super().__init__()
        self.pathways = check_pathways(list(pathways))
        if transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
        n_t, n_s = len(teacher_shapes), len(student_shapes)
        for i, j in self.pathways:
            if i > n_t or j > n_s:
                raise ValueError(f"pathway {pathway_name((i, j))} needs teacher stage {i} and student stage {j}, "
                                 f"but the teacher has {n_t} stages and the student {n_s}")
        self.transform_kind = transform
        self.student_shapes = [tuple(s) for s in student_shapes]
        self.teacher_shapes = [tuple(s) for s in teacher_shapes]
        # the transforms' initial weights depend only on the seed, never on the caller's RNG state
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.transforms = nn.ModuleList(
                build_transform(transform, self.student_shapes[j - 1], self.teacher_shapes[i - 1])
                for i, j in self.pathways)

    @classmethod
    def for_networks(cls, student: nn.Module, teacher: nn.Module, resolution: int, in_channels: int, *,
                     pathways: str | Sequence[Sequence[int]] = "distpro", transform: str = "distpro",
                     seed: int = 0) -> Pathways:
        """Pathways between two networks, shapes read from a probe forward (:func:`probe_stages`)."""
        s_shapes = probe_stages(student, resolution, in_channels)
        t_shapes = probe_stages(teacher, resolution, in_channels)
        if isinstance(pathways, str):
            pathways = make_pathways(len(t_shapes), len(s_shapes), pathways)
        return cls(pathways, s_shapes, t_shapes, transform=transform, seed=seed)

    @property
    def names(self) -> list[str]:
        return [pathway_name(p) for p in self.pathways]

    def __len__(self) -> int:
        return len(self.pathways)

    def losses(self, student_feats: dict[str, Any], teacher_feats: dict[str, Any]) -> torch.Tensor:
        s_maps = stage_maps(student_feats)
        t_maps = stage_maps(teacher_feats)
        out = []
        for (i, j), transform in zip(self.pathways, self.transforms):
            f_s = transform(s_maps[j - 1])
            out.append(multiscale_pooled_mse(f_s, t_maps[i - 1].detach().to(f_s.dtype)))
        return torch.stack(out)

    def extra_repr(self) -> str:
        return f"pathways={self.names}, transform={self.transform_kind!r}"
