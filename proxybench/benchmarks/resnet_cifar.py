"""CIFAR ResNets (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, section 4.2), the teachers
of the distillation literature (RepDistiller: Tian et al., ICLR 2020; DisWOT: Dong et al., CVPR 2023).

Layout for depth ``6n + 2``: stem Conv3x3(in, w0) + BN + ReLU; three stages of ``n`` BasicBlocks at widths
``(w1, w2, w3)`` (stride 1, 2, 2); global average pooling; Linear. A BasicBlock is
Conv3x3-BN-ReLU-Conv3x3-BN, plus the shortcut, then ReLU. ``depths=(n1, n2, n3)`` gives each stage its own number
of blocks (depth ``2 (n1 + n2 + n3) + 2``): the networks of DisWOT's search space S1
(:mod:`proxybench.benchmarks.spaces.diswot_s1`), ResNet-20 being ``(3, 3, 3)``.

Every activation is an ``nn.ReLU`` module and the global pool an ``nn.AdaptiveAvgPool2d`` module, so the proxies
that hook activation modules (NASWOT, SWAP, linear regions) and the FLOP counter see them all. This module lives
with the search spaces (no torch at package import: it is loaded when a network is built); the teachers import
it from :mod:`proxybench.distill.teachers`.

Shortcuts where the shape changes:
``B`` (default): Conv1x1(stride) + BN, the definition of RepDistiller's ``models/resnet.py`` which DisWOT uses;
``A``: He et al.'s parameter-free option, stride-2 subsampling and zero-padding of the new channels.

Widths: ``resnet20/32/44/56/110`` use (16, 16, 32, 64); the wide ``resnet8x4``/``resnet32x4`` use
(32, 64, 128, 256). Module names (``conv1``, ``bn1``, ``layer1..3``, ``fc``, ``downsample.0/1``) are RepDistiller's,
so its CIFAR teacher state_dicts load as they are.

Parameter counts (this module): shortcut B, 100 classes (RepDistiller's CIFAR-100 table: 0.28 M, 0.86 M,
1.7 M, resnet8x4 1.2 M, resnet32x4 7.4 M): resnet20 0.278 M, resnet56 0.862 M, resnet110 1.737 M, resnet8x4
1.234 M, resnet32x4 7.434 M; shortcut A, 10 classes (He et al.'s CIFAR-10 table: 0.27 M, 0.46 M, 0.66 M, 0.85 M,
1.7 M): resnet20 0.270 M, resnet32 0.464 M, resnet44 0.659 M, resnet56 0.853 M, resnet110 1.728 M.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NARROW = (16, 16, 32, 64)
WIDE = (32, 64, 128, 256)
# name -> (depth, widths): the CIFAR ResNets of He et al. 2016 and RepDistiller's wide variants.
RESNETS: dict[str, tuple[int, tuple[int, int, int, int]]] = {
    "resnet8": (8, NARROW), "resnet14": (14, NARROW), "resnet20": (20, NARROW), "resnet32": (32, NARROW),
    "resnet44": (44, NARROW), "resnet56": (56, NARROW), "resnet110": (110, NARROW),
    "resnet8x4": (8, WIDE), "resnet32x4": (32, WIDE),
}
SHORTCUTS = ("A", "B")


class ShortcutA(nn.Module):
    """He et al.'s option A: take every ``stride``-th pixel and zero-pad the extra channels (no parameters)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        extra = self.c_out - self.c_in
        return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int = 1, shortcut: str = "B"):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu2 = nn.ReLU()
        if stride == 1 and c_in == c_out:
            self.downsample = None
        elif shortcut == "B":
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(c_out))
        else:
            self.downsample = ShortcutA(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu2(out + residual)


def _check_depths(depths) -> tuple[int, int, int]:
    try:
        out = tuple(depths)
    except TypeError:
        out = ()
    if len(out) != 3 or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in out):
        raise ValueError(f"depths must be three integers >= 1 (blocks of stages 1, 2, 3), got {depths!r}")
    return out


class CifarResNet(nn.Module):
    """A CIFAR ResNet of depth ``6n + 2``, or with ``depths=(n1, n2, n3)`` blocks per stage. ``forward`` returns
    logits.

    ``forward_features(x)`` returns ``stem``, ``stage1..3`` (post-ReLU block outputs at 32, 16, 8 pixels for
    32x32 input), ``pre_pool`` (= ``stage3``: the last activation before global pooling), ``pooled``, ``logits``.
    ``block_features(x)`` returns the stem output and every block's output, in order (AZ-NAS's block features).
    ``classifier`` is the final ``nn.Linear`` (``fc``); ``feature_dim`` its input width.
    """

    def __init__(self, depth: int = 20, widths: tuple[int, int, int, int] = NARROW, num_classes: int = 10,
                 in_channels: int = 3, shortcut: str = "B", *, depths: tuple[int, int, int] | None = None):
        super().__init__()
        if depths is not None:
            depths = _check_depths(depths)
            depth = 2 * sum(depths) + 2
        elif isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
            raise ValueError(f"ResNet depth must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), got "
                             f"{depth!r}")
        else:
            depths = ((depth - 2) // 6,) * 3
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}")
        for name, value in (("num_classes", num_classes), ("in_channels", in_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.depth, self.depths, self.widths, self.shortcut = depth, depths, tuple(widths), shortcut
        self.num_classes, self.in_channels = num_classes, in_channels
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        c = widths[0]
        layers = []
        for width, stride, n in zip(widths[1:], (1, 2, 2), depths):
            blocks = [BasicBlock(c, width, stride, shortcut)]
            blocks.extend(BasicBlock(width, width, 1, shortcut) for _ in range(n - 1))
            layers.append(nn.Sequential(*blocks))
            c = width
        self.layer1, self.layer2, self.layer3 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)
        self.feature_dim = c

    @property
    def classifier(self) -> nn.Linear:
        return self.fc

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        h = self.relu(self.bn1(self.conv1(x)))
        out["stem"] = h
        for i, layer in enumerate((self.layer1, self.layer2, self.layer3), start=1):
            h = layer(h)
            out[f"stage{i}"] = h
        out["pre_pool"] = h
        pooled = self.avgpool(h).flatten(1)
        out["pooled"] = pooled
        out["logits"] = self.fc(pooled)
        return out

    def block_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stem output and every BasicBlock's output, in order (graph kept)."""
        h = self.relu(self.bn1(self.conv1(x)))
        feats = [h]
        for layer in (self.layer1, self.layer2, self.layer3):
            for block in layer:
                h = block(h)
                feats.append(h)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)["logits"]

    def extra_repr(self) -> str:
        return (f"depth={self.depth}, depths={self.depths}, widths={self.widths}, shortcut={self.shortcut!r}, "
                f"num_classes={self.num_classes}")


def resnet(name: str, num_classes: int = 10, in_channels: int = 3, shortcut: str = "B") -> CifarResNet:
    """The CIFAR ResNet called ``name`` (a key of :data:`RESNETS`)."""
    if name not in RESNETS:
        raise ValueError(f"unknown CIFAR ResNet {name!r}; valid: {', '.join(RESNETS)}")
    depth, widths = RESNETS[name]
    return CifarResNet(depth, widths, num_classes, in_channels, shortcut)
