"""Teachers: spec parsing, CIFAR ResNets, checkpoints, ensembles."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from proxybench import nb201
from proxybench.distill import teachers
from proxybench.distill.resnet_cifar import RESNETS, resnet
from proxybench.distill.teachers import TeacherEnsemble, build_teacher, list_teachers, load_teacher, save_teacher

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def resnet_option_a_params(depth: int, num_classes: int, in_channels: int = 3) -> int:
    """Independent count for He et al.'s CIFAR ResNet with parameter-free (option A) shortcuts."""
    n = (depth - 2) // 6
    total = in_channels * 16 * 9 + 2 * 16  # stem conv + BN
    c_prev = 16
    for c in (16, 32, 64):
        convs = [c_prev * c * 9] + [c * c * 9] * (2 * n - 1)
        total += sum(convs) + 2 * n * 2 * c  # conv weights + BN weight/bias
        c_prev = c
    return total + 64 * num_classes + num_classes


@pytest.mark.parametrize("depth", [20, 56, 110])
def test_resnet_option_a_counts_match_the_architecture(depth):
    assert n_params(resnet(f"resnet{depth}", 10, shortcut="A")) == resnet_option_a_params(depth, 10)


@pytest.mark.parametrize("name, classes, shortcut, published, digits", [
    # He et al. 2016, Table 6 (CIFAR-10, option A): 0.27 M, 0.46 M, 0.66 M, 0.85 M, 1.7 M
    ("resnet20", 10, "A", 0.27, 2), ("resnet32", 10, "A", 0.46, 2), ("resnet44", 10, "A", 0.66, 2),
    ("resnet56", 10, "A", 0.85, 2), ("resnet110", 10, "A", 1.7, 1),
    # RepDistiller / CRD (Tian et al. 2020), CIFAR-100 teachers and students (Conv1x1+BN shortcuts)
    ("resnet20", 100, "B", 0.28, 2), ("resnet56", 100, "B", 0.86, 2), ("resnet110", 100, "B", 1.7, 1),
    ("resnet8x4", 100, "B", 1.2, 1), ("resnet32x4", 100, "B", 7.4, 1),
])
def test_resnet_param_counts_match_published(name, classes, shortcut, published, digits):
    assert round(n_params(resnet(name, classes, shortcut=shortcut)) / 1e6, digits) == published


def test_resnet_uses_repdistiller_module_names():
    keys = set(resnet("resnet20", 100).state_dict())
    for key in ("conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                "layer2.0.downsample.1.weight", "layer3.2.bn2.bias", "fc.weight", "fc.bias"):
        assert key in keys
    assert "layer1.0.downsample.0.weight" not in keys


@pytest.mark.parametrize("spec", ["resnet20", "resnet8x4@shortcut=A", f"nb201:{ARCH}@C=8,N=1", "nb201:0@C=4,N=1",
                                  "ensemble:resnet8,nb201:7@C=4,N=1"])
def test_teacher_interface(spec):
    model = build_teacher(spec, num_classes=7, in_channels=3, seed=1)
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        feats = model.forward_features(x)
        logits = model(x)
    for key in ("stage1", "stage2", "stage3", "pre_pool", "pooled", "logits"):
        assert torch.is_tensor(feats[key]), key
    assert feats["pre_pool"].dim() == 4 and feats["pooled"].shape == (4, model.feature_dim)
    assert logits.shape == (4, 7)
    torch.testing.assert_close(feats["logits"], logits)
    assert isinstance(model.classifier, nn.Linear) and model.classifier.in_features == model.feature_dim
    torch.testing.assert_close(model.classifier(feats["pooled"]), logits, rtol=1e-5, atol=1e-5)
    assert model.trained is False
    assert build_teacher(model.teacher_spec, 7, seed=1).teacher_spec == model.teacher_spec


def test_nb201_spec_builds_the_nb201_network():
    t = build_teacher(f"nb201:{nb201.arch_to_index(ARCH)}@C=8,N=1", num_classes=10, seed=3)
    ref = nb201.build_network(ARCH, C=8, N=1, num_classes=10, seed=3)
    assert t.arch == ARCH and t.teacher_spec == f"nb201:{ARCH}@C=8,N=1"
    for a, b in zip(t.state_dict().values(), ref.state_dict().values()):
        assert torch.equal(a, b)
    assert build_teacher(f"nb201:{ARCH}").teacher_spec == f"nb201:{ARCH}"


def test_seeded_builds_are_deterministic():
    a, b, c = (build_teacher("resnet20", seed=s) for s in (5, 5, 6))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.conv1.weight, c.conv1.weight)
    g = build_teacher("resnet20", seed=5, init="gaussian")
    assert float(g.conv1.weight.detach().std()) > 0.5  # N(0, 1) weights


@pytest.mark.parametrize("spec, needle", [
    ("resnet21", "unknown ResNet"), ("vgg8", "unrecognized"), ("nb201:", "no NB201 arch"),
    ("nb201:99999", "bad teacher spec"), ("nb201:0@C=8,M=2", "unknown option"), ("resnet20@shortcut=C", "shortcut"),
    ("ensemble:", "bad teacher spec"), ("ensemble:vgg8,resnet20", "not a teacher spec"),
    ("ensemble:resnet8,ensemble:resnet8", "nested"), ("", "non-empty"),
])
def test_bad_spec_names_the_valid_forms(spec, needle):
    with pytest.raises(ValueError) as info:
        build_teacher(spec)
    msg = str(info.value)
    assert needle in msg
    assert "nb201:<arch>" in msg and "ensemble:<spec>" in msg and "checkpoint:<path>" in msg


def test_list_teachers_covers_every_form():
    patterns = " ".join(p for p, _ in list_teachers())
    for form in ("nb201:", "resnet20", "resnet110", "checkpoint:", "ensemble:"):
        assert form in patterns
    assert all(desc for _, desc in list_teachers())


def test_ensemble_splitting_keeps_member_options():
    spec = f"ensemble:nb201:{ARCH}@C=4,N=1, resnet8 ,nb201:3@N=1,C=4"
    assert teachers.split_ensemble(spec) == [f"nb201:{ARCH}@C=4,N=1", "resnet8", "nb201:3@N=1,C=4"]


def test_ensemble_of_one_equals_its_member():
    single = build_teacher("resnet8", num_classes=10, seed=2)
    ens = build_teacher("ensemble:resnet8", num_classes=10, seed=2)
    assert isinstance(ens, TeacherEnsemble) and len(ens.members) == 1
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        fs, fe = single.forward_features(x), ens.forward_features(x)
    for key in ("stage1", "pre_pool", "pooled", "logits"):
        torch.testing.assert_close(fs[key], fe[key], rtol=0, atol=0)
    torch.testing.assert_close(ens.classifier.weight, single.classifier.weight, rtol=0, atol=0)


def test_ensemble_averages_logits_and_concatenates_features():
    ens = build_teacher("ensemble:resnet8,resnet8x4", num_classes=5, seed=0)
    a = build_teacher("resnet8", num_classes=5, seed=0)
    b = build_teacher("resnet8x4", num_classes=5, seed=1)  # member i is seeded with seed + i
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        fe = ens.forward_features(x)
        expected = (a(x) + b(x)) / 2
    torch.testing.assert_close(fe["logits"], expected)
    assert ens.feature_dim == 64 + 256 and fe["pooled"].shape == (2, 320)
    assert len(fe["members"]) == 2
    torch.testing.assert_close(ens.classifier(fe["pooled"]), fe["logits"], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="classes"):
        TeacherEnsemble([resnet("resnet8", 5), resnet("resnet8", 6)])


def _train_bn(model: nn.Module) -> None:
    model.train()
    with torch.no_grad():
        model(torch.randn(8, model.conv1.in_channels if hasattr(model, "conv1") else 3, 16, 16))


def test_checkpoint_round_trip(tmp_path):
    model = build_teacher("resnet8", num_classes=100, in_channels=1, seed=4)
    _train_bn(model)  # running statistics change: the checkpoint is of a "trained" teacher
    path = save_teacher(model, None, tmp_path / "t.pt", extra={"test_acc": 71.5, "protocol": {"epochs": 2}})
    loaded = build_teacher(f"checkpoint:{path}")  # classes and channels come from the file
    assert loaded.teacher_spec == "resnet8" and loaded.classifier.out_features == 100
    assert loaded.conv1.in_channels == 1 and loaded.trained is True and not loaded.training
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    x = torch.randn(2, 1, 16, 16)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), loaded(x), rtol=0, atol=0)
    assert torch.load(path, weights_only=True)["extra"] == {"test_acc": 71.5, "protocol": {"epochs": 2}}


def test_checkpoint_of_an_ensemble_and_untrained_flag(tmp_path):
    ens = build_teacher("ensemble:resnet8,nb201:5@C=4,N=1", num_classes=10, seed=0)
    path = save_teacher(ens, None, tmp_path / "e.pt")
    loaded = build_teacher(f"checkpoint:{path}")
    assert isinstance(loaded, TeacherEnsemble) and loaded.teacher_spec == ens.teacher_spec
    assert loaded.trained is False and all(m.trained is False for m in loaded.members)
    x = torch.randn(2, 3, 16, 16)
    ens.eval()
    with torch.no_grad():
        torch.testing.assert_close(ens(x), loaded(x), rtol=0, atol=0)


def test_plain_state_dict_needs_an_architecture(tmp_path):
    model = resnet("resnet8", num_classes=100)
    torch.save({"model": model.state_dict(), "epoch": 240}, tmp_path / "repdistiller.pth")
    with pytest.raises(ValueError, match="@arch="):
        build_teacher(f"checkpoint:{tmp_path / 'repdistiller.pth'}")
    loaded = build_teacher(f"checkpoint:{tmp_path / 'repdistiller.pth'}@arch=resnet8")
    assert loaded.classifier.out_features == 100  # read from the weights
    assert torch.equal(loaded.fc.weight, model.fc.weight)
    with pytest.raises(ValueError, match="does not fit"):
        build_teacher(f"checkpoint:{tmp_path / 'repdistiller.pth'}@arch=resnet14")


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_teacher(f"checkpoint:{tmp_path / 'missing.pt'}")
    payload = {"format": teachers.CHECKPOINT_FORMAT, "version": 1, "spec": "vgg8", "num_classes": 10,
               "in_channels": 3, "state_dict": {}, "extra": {}}
    torch.save(payload, tmp_path / "vgg.pt")
    with pytest.raises(ValueError, match="cannot build.*vgg8"):
        load_teacher(tmp_path / "vgg.pt")
    torch.save([1, 2, 3], tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="neither"):
        load_teacher(tmp_path / "junk.pt")
    model = build_teacher("resnet8")
    with pytest.raises(ValueError, match="do not fit"):
        save_teacher(model, "resnet14", tmp_path / "x.pt")
    with pytest.raises(ValueError, match="must hold only"):
        save_teacher(model, None, tmp_path / "x.pt", extra={"bad": object()})
    with pytest.raises(ValueError, match="architecture spec"):
        save_teacher(nn.Linear(2, 2), None, tmp_path / "x.pt")


def test_resnet_registry_is_consistent():
    for name, (depth, widths) in RESNETS.items():
        m = resnet(name)
        assert m.depth == depth and m.feature_dim == widths[-1]
    with pytest.raises(ValueError, match="6n\\+2"):
        teachers.CifarResNet(depth=21)
