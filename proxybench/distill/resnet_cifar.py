"""The CIFAR ResNets of the teachers, kept under this name: the module is
:mod:`proxybench.benchmarks.resnet_cifar`, next to the search spaces whose networks it also builds (DisWOT's S1)."""

from ..benchmarks.resnet_cifar import NARROW, RESNETS, SHORTCUTS, WIDE, BasicBlock, CifarResNet, ShortcutA, resnet

__all__ = ["NARROW", "RESNETS", "SHORTCUTS", "WIDE", "BasicBlock", "CifarResNet", "ShortcutA", "resnet"]
