"""DistPro: pathways and transforms, the process search, process files, the ``distpro`` distiller, the CLI and
the ``pathway_cka`` proxy. Tiny networks (C=4, N=1) on 8x8 toy data."""

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import proxybench
from proxybench import nb201
from proxybench.cli import main
from proxybench.distill import process as P
from proxybench.distill.distillers import make_distiller
from proxybench.distill.pathways import Pathways, build_transform, make_pathways, multiscale_pooled_mse, probe_stages
from proxybench.distill.protocol import Protocol
from proxybench.distill.teachers import build_teacher, save_teacher
from proxybench.distill.trainer import TrainData, build_student, train
from proxybench.proxies import ProxyError
from proxybench.proxies.kd.pathway_cka import linear_cka, pathway_ckas

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|avg_pool_3x3~2|"
TINY = dict(name="tiny", dataset="synthetic", resolution=8, channels=3, train_subset=64, epochs=1.0,
            batch_size=16, lr=0.05, C=4, N=1, eval_batch_size=256)


def tiny_data(n=64, n_test=32, seed=0, classes=4):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, 3, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float()
    yt = torch.arange(n_test) % classes
    xt = torch.randn(n_test, 3, 8, 8, generator=g) + yt.view(-1, 1, 1, 1).float()
    return TrainData(x, y, xt, yt, classes, "toy")


def tiny_teacher(num_classes=4, seed=5):
    return nb201.build_network(7, C=4, N=1, num_classes=num_classes, seed=seed)


def a_process(pathways=None, weights=None, **info):
    pathways = pathways or make_pathways(3, 3)
    weights = weights or [[1.0 / len(pathways)] * len(pathways), [0.5] + [0.5 / (len(pathways) - 1)] * (
        len(pathways) - 1)]
    return P.Process(pathways=pathways, progress=[0.25, 0.75], weights=weights, info=info)


# ---- pathways and the loss ---------------------------------------------------------------------------------------
def test_pathway_sets():
    assert make_pathways(3, 3) == [(1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3)]
    assert len(make_pathways(3, 3, "all")) == 9
    assert make_pathways(4, 3) == [(1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3)]
    with pytest.raises(ValueError, match="pathway set must be one of"):
        make_pathways(3, 3, "some")


def test_multiscale_pooled_mse_known_values():
    zeros = torch.zeros(2, 3, 8, 8)
    # a constant offset of 1: every scale has MSE 1, so the weighted mean is 1
    assert multiscale_pooled_mse(zeros, torch.ones_like(zeros)).item() == pytest.approx(1.0)
    # a +-1 checkerboard has zero mean in every pooled cell: only the full-resolution term (weight 1) counts,
    # divided by 1 + 1/2 + 1/4 + 1/8 (pools 4, 2, 1 are all smaller than 8)
    board = (torch.arange(8).view(8, 1) + torch.arange(8).view(1, 8)) % 2 * 2.0 - 1.0
    target = board.expand(2, 3, 8, 8)
    assert multiscale_pooled_mse(zeros, target).item() == pytest.approx(1 / 1.875)
    # at 4x4 the pool size 4 is skipped: weights 1, 1/2 (2x2), 1/4 (1x1)
    assert multiscale_pooled_mse(zeros[..., :4, :4], target[..., :4, :4]).item() == pytest.approx(1 / 1.75)
    # a 1x1 map: plain MSE
    a, b = torch.tensor([[[[1.0]]], [[[3.0]]]]), torch.zeros(2, 1, 1, 1)
    assert multiscale_pooled_mse(a, b).item() == pytest.approx(5.0)
    # the gradient reaches the student, never the (detached) teacher
    s, t = torch.randn(2, 3, 8, 8, requires_grad=True), torch.randn(2, 3, 8, 8, requires_grad=True)
    multiscale_pooled_mse(s, t).backward()
    assert s.grad is not None and t.grad is None
    with pytest.raises(ValueError, match="two 4-D maps of one shape"):
        multiscale_pooled_mse(zeros, zeros[..., :4, :4])


@pytest.mark.parametrize("kind", ["distpro", "conv1x1"])
def test_transforms_map_student_to_teacher_shape(kind):
    for s_shape, t_shape in [((16, 2, 2), (4, 8, 8)), ((4, 8, 8), (16, 2, 2)), ((8, 4, 4), (8, 4, 4))]:
        tr = build_transform(kind, s_shape, t_shape)
        assert tuple(tr(torch.randn(3, *s_shape)).shape) == (3, *t_shape)
    with pytest.raises(ValueError, match="transform must be one of"):
        build_transform("mlp", (4, 8, 8), (4, 8, 8))


def test_pathways_for_every_teacher_kind(tmp_path):
    student = build_student(ARCH, Protocol(**TINY), 4, seed=0)
    ckpt = tmp_path / "t.pt"
    save_teacher(tiny_teacher(), "nb201:7@C=4,N=1", ckpt)
    specs = ["resnet8", "nb201:7@C=4,N=1", f"checkpoint:{ckpt}", f"ensemble:resnet8,checkpoint:{ckpt}"]
    x = torch.randn(4, 3, 8, 8)
    for spec in specs:
        teacher = build_teacher(spec, num_classes=4).eval()
        before = {k: v.clone() for k, v in student.state_dict().items()}
        paths = Pathways.for_networks(student, teacher, 8, 3)
        assert all(torch.equal(before[k], v) for k, v in student.state_dict().items())  # the probe changed nothing
        assert len(paths) == 6 and paths.names[0] == "t1->s1"
        with torch.no_grad():
            t_feats = teacher.forward_features(x)
        losses = paths.losses(student.forward_features(x), t_feats)
        assert losses.shape == (6,) and torch.isfinite(losses).all() and (losses > 0).all()
        assert paths.teacher_shapes == probe_stages(teacher, 8, 3)
    # an ensemble's stage maps are its members' maps concatenated along channels
    ens = build_teacher(f"ensemble:resnet8,checkpoint:{ckpt}", num_classes=4)
    assert [s[0] for s in probe_stages(ens, 8, 3)] == [16 + 4, 32 + 8, 64 + 16]
    all_paths = Pathways.for_networks(student, ens, 8, 3, pathways="all", transform="conv1x1")
    assert len(all_paths) == 9
    # the transforms' initial weights depend only on the seed
    a = Pathways.for_networks(student, ens, 8, 3, seed=3)
    torch.manual_seed(123)
    b = Pathways.for_networks(student, ens, 8, 3, seed=3)
    assert all(torch.equal(u, v) for u, v in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(ValueError, match="needs teacher stage 4"):
        Pathways([(4, 1)], probe_stages(student, 8, 3), probe_stages(ens, 8, 3))


# ---- process files -------------------------------------------------------------------------------------------------
def test_process_roundtrip_and_interpolation(tmp_path):
    proc = a_process(protocol=Protocol(**TINY).to_dict(), teacher={"spec": "resnet8"}, seed=3, cpu_seconds=1.5)
    path = P.save_process(proc, tmp_path / "p.json")
    back = P.load_process(path)
    assert back.to_dict() == proc.to_dict()
    assert back.info["teacher"] == {"spec": "resnet8"} and back.info["seed"] == 3
    assert json.loads(path.read_text())["pathway_names"][1] == "t1->s2"
    # linear between the points, constant outside them
    first, last = proc.weights
    assert proc.weights_at(0.0) == pytest.approx(first) and proc.weights_at(1.0) == pytest.approx(last)
    mid = [(a + b) / 2 for a, b in zip(first, last)]
    assert proc.weights_at(0.5) == pytest.approx(mid)
    assert sum(proc.weights_at(0.4)) == pytest.approx(1.0)
    # the distiller interpolates the same way
    d = make_distiller(Protocol(**TINY, distiller="distpro", distiller_options={"process": str(path)}))
    for u in (0.0, 0.3, 0.5, 0.9):
        assert d.weights_at(u).tolist() == pytest.approx(proc.weights_at(u), abs=1e-6)


def test_process_validation_errors(tmp_path):
    good = a_process().to_dict()

    def write(**changes):
        data = {**good, **changes}
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(data))
        return path

    with pytest.raises(FileNotFoundError, match="does not exist"):
        P.load_process(tmp_path / "none.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        P.load_process(tmp_path / "junk.json")
    cases = [
        (dict(format="other"), "not a DistPro process file"),
        (dict(version=99), "version 99 is not supported"),
        (dict(weights=[[0.5, 0.5, 0, 0, 0, 0]]), "one per progress point"),
        (dict(weights=[[1.2, -0.2, 0, 0, 0, 0], good["weights"][1]]), "negative or non-finite"),
        (dict(weights=[[0.5, 0.1, 0, 0, 0, 0], good["weights"][1]]), "sums to 0.600000, not 1"),
        (dict(weights=[[0.5, 0.5], good["weights"][1]]), "must hold 6 numbers"),
        (dict(progress=[0.75, 0.25]), "increase strictly"),
        (dict(progress=[0.25, 1.5]), "increase strictly within"),
        (dict(pathways=[[1, 1], [1, 1], [1, 3], [2, 2], [2, 3], [3, 3]], pathway_names=None), "twice"),
        (dict(pathway_names=["a"] * 6), "do not match"),
        (dict(transform="mlp"), "transform must be one of"),
        (dict(normalization="relu"), "normalization must be one of"),
    ]
    for changes, message in cases:
        with pytest.raises(ValueError, match=message):
            P.load_process(write(**changes))
    sig = P.Process(pathways=[(1, 1), (2, 2)], progress=[0.5], weights=[[0.9, 0.7]], normalization="sigmoid")
    assert sig.weights_at(0.1) == [0.9, 0.7]
    with pytest.raises(ValueError, match="above 1"):
        P.Process(pathways=[(1, 1)], progress=[0.5], weights=[[1.5]], normalization="sigmoid")


# ---- the search ----------------------------------------------------------------------------------------------------
def test_search_writes_valid_weights_and_is_deterministic():
    data, p = tiny_data(n=96), Protocol(**{**TINY, "train_subset": 96, "epochs": 2.0})
    teacher = build_teacher("resnet8", num_classes=4)
    runs = [P.search_process(p, data, [ARCH], teacher, points=3, order=o, seed=1, teacher_label="resnet8")
            for o in (1, 1, 2)]
    for proc, order in zip(runs, (1, 1, 2)):
        assert len(proc.weights) == 3 and proc.progress == pytest.approx([1 / 6, 1 / 2, 5 / 6])
        for row in proc.weights:  # softmax: non-negative, summing to 1
            assert min(row) >= 0 and sum(row) == pytest.approx(1.0, abs=1e-9)
        info = proc.info
        assert info["method"]["order"] == order and info["seed"] == 1 and info["cpu_seconds"] > 0
        assert info["teacher"]["source"] == "resnet8" and info["protocol"]["train_subset"] == 96
        assert info["cells"][0]["arch"] == ARCH and len(info["cells"][0]["held_out_ce"]) == 3
        assert info["method"]["train_images"] + info["method"]["val_images"] == 96
    assert runs[0].weights == runs[1].weights  # deterministic for a seed
    assert runs[0].weights[0] != runs[0].weights[-1]  # the weights moved
    sig = P.search_process(p, data, [ARCH, 3], teacher, points=2, normalization="sigmoid", epochs=1.0)
    assert all(0 <= w <= 1 for row in sig.weights for w in row) and len(sig.info["cells"]) == 2
    with pytest.raises(ValueError, match="points need at least 50 steps"):
        P.search_process(p, data, [ARCH], teacher, points=50)
    with pytest.raises(ValueError, match="order=3 is invalid"):
        P.search_process(p, data, [ARCH], teacher, order=3)
    with pytest.raises(ValueError, match="teacher has 10 outputs"):
        P.search_process(p, data, [ARCH], build_teacher("resnet8", num_classes=10), points=2)


def test_hypergradients_exact_and_first_order():
    """Order 2 is the exact derivative of the one-step unrolled held-out loss (checked against central finite
    differences in the pathway logits, float64); order 1 agrees with it as the step size goes to 0."""
    torch.manual_seed(0)
    data = tiny_data(n=32)
    student = build_student(ARCH, Protocol(**TINY), 4, seed=0).double()
    teacher = build_teacher("resnet8", num_classes=4).double().eval()
    paths = Pathways.for_networks(student, teacher, 8, 3).double()
    x, y = data.x_train.double(), data.y_train
    xb, yb, xv, yv = x[:16], y[:16], x[16:], y[16:]
    with torch.no_grad():
        t_feats = teacher.forward_features(xb)
    params = list(student.parameters()) + list(paths.parameters())
    alpha = torch.tensor([0.3, -0.2, 0.1, 0.0, 0.5, -0.4], dtype=torch.float64, requires_grad=True)

    def unrolled_loss(a, lr):
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
        return P.hypergradient(student, paths, a.requires_grad_(), (xb, yb), (xv, yv), t_feats, opt, order=2)[1].item()

    state = copy.deepcopy(student.state_dict())
    opt = torch.optim.SGD(params, lr=0.5, momentum=0.9, nesterov=True, weight_decay=5e-4)
    exact = P.hypergradient(student, paths, alpha, (xb, yb), (xv, yv), t_feats, opt, order=2)[0]
    assert all(torch.equal(v, student.state_dict()[k]) for k, v in state.items())  # nothing changed
    h = 1e-5
    numeric = torch.zeros(6, dtype=torch.float64)
    for p in range(6):
        e = torch.zeros(6, dtype=torch.float64)
        e[p] = h
        numeric[p] = (unrolled_loss(alpha.detach() + e, 0.5) - unrolled_loss(alpha.detach() - e, 0.5)) / (2 * h)
    assert torch.allclose(exact, numeric, rtol=1e-4, atol=1e-9)
    # as lr -> 0 the unrolled point approaches theta and the first-order hypergradient matches the exact one
    small = torch.optim.SGD(params, lr=1e-6, momentum=0.9, nesterov=True, weight_decay=5e-4)
    g2 = P.hypergradient(student, paths, alpha, (xb, yb), (xv, yv), t_feats, small, order=2)[0]
    g1 = P.hypergradient(student, paths, alpha, (xb, yb), (xv, yv), t_feats, small, order=1, fd_radius=1e-6)[0]
    assert torch.allclose(g1, g2, rtol=1e-3, atol=0)


class SignalTeacher(nn.Module):
    """A toy teacher whose stage maps all have one form (a spatially constant one-hot code, amplitude 2), but only
    stage 3 codes the class (nearest template); stages 1 and 2 code 'decoy' classes of unrelated random templates.
    Only the pathway t3->s3 carries label information."""

    def __init__(self, templates, decoy1, decoy2):
        super().__init__()
        self.register_buffer("templates", templates)
        self.register_buffer("decoy1", decoy1)
        self.register_buffer("decoy2", decoy2)
        self.classifier = nn.Linear(16, templates.shape[0])
        self.feature_dim = 16

    @staticmethod
    def code(x, templates, shape):
        k = templates.shape[0]
        onehot = F.one_hot(torch.einsum("bchw,kchw->bk", x.float(), templates).argmax(1), k).float()
        out = torch.zeros(x.shape[0], *shape)
        out[:, :k] = 2.0 * onehot.view(-1, k, 1, 1)
        return out

    def forward_features(self, x):
        s3 = self.code(x, self.templates, (16, 2, 2))
        return {"stage1": self.code(x, self.decoy1, (4, 8, 8)), "stage2": self.code(x, self.decoy2, (8, 4, 4)),
                "stage3": s3, "pooled": s3.mean((2, 3)), "logits": 5.0 * s3[:, :4, 0, 0]}

    def forward(self, x):
        return self.forward_features(x)["logits"]


@pytest.mark.parametrize("order", [1, 2])
def test_search_finds_the_pathway_that_carries_the_signal(order):
    g = torch.Generator().manual_seed(0)
    templates, decoy1, decoy2 = (torch.randn(4, 3, 8, 8, generator=g) for _ in range(3))
    y = torch.arange(512) % 4
    x = templates[y] + 3.0 * torch.randn(512, 3, 8, 8, generator=g)
    data = TrainData(x, y, x[:8], y[:8], 4, "toy")
    teacher = SignalTeacher(templates, decoy1, decoy2)
    assert (teacher(x).argmax(1) == y).float().mean() > 0.95
    p = Protocol(**{**TINY, "train_subset": None, "batch_size": 32, "epochs": 8.0, "schedule": "constant"})
    proc = P.search_process(p, data, [ARCH], teacher, points=2, order=order, transform="conv1x1", warmup=0.3,
                            val_batch_size=128, seed=0)
    # a 30% warm-up lets the transforms and the classifier learn before the meta-updates: early on, gradient
    # alignments go through random weights. Over data seeds 0-5 the signal pathway got the most weight at the last
    # point in 6 of 6 searches with order 1 and 5 of 6 with order 2 (held-out batches of 102-128 images)
    last = proc.weights[-1]
    assert proc.names[-1] == "t3->s3"
    assert last[-1] == max(last) and last[-1] > 0.5, proc.weights


# ---- the distiller -------------------------------------------------------------------------------------------------
def test_distiller_deterministic_and_options(tmp_path):
    path = P.save_process(a_process(), tmp_path / "p.json")
    data = tiny_data()
    teacher = tiny_teacher()
    p = Protocol(**{**TINY, "distiller": "distpro", "distiller_options": {"process": str(path), "beta": 2.0}})

    def run(protocol, seed=0):
        return train(build_student(ARCH, protocol, 4, seed=seed), data, protocol, mode="kd", seed=seed,
                     teacher=copy.deepcopy(teacher), device="cpu")

    a, b = run(p), run(p)
    assert a.test_acc == b.test_acc and a.train_loss == b.train_loss and math.isfinite(a.train_loss)
    other = run(p.replace(distiller_options={"process": str(path), "beta": 2.0, "seed": 1}))
    assert other.train_loss != a.train_loss  # the transforms' seed matters
    # beta 0 with the logit term is exactly the plain 'kd' distiller
    plain = run(p.replace(distiller="kd", distiller_options={}))
    zero = run(p.replace(distiller_options={"process": str(path), "beta": 0.0, "logit_kd": True}))
    assert zero.train_loss == pytest.approx(plain.train_loss, rel=1e-5)
    bad = [({}, "needs the option 'process'"), ({"process": str(path), "gamma": 1}, "unknown option"),
           ({"process": str(path), "beta": -1}, "beta must be"), ({"process": str(tmp_path / "no.json")},
                                                                  "does not exist"),
           ({"process": str(path), "transform": "mlp"}, "transform must be one of"),
           ({"process": str(path), "logit_kd": "yes"}, "logit_kd must be")]
    for options, message in bad:
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            make_distiller(p.replace(distiller_options=options))
    assert make_distiller(p).needs_features  # the builder asks this without networks
    with pytest.raises(ValueError, match="built without the student and teacher"):
        make_distiller(p)(None)


def test_kdbench_build_with_distpro(tmp_path):
    from proxybench.distill import kdbench

    data = tiny_data()
    path = P.save_process(a_process(), tmp_path / "p.json")
    (tmp_path / "b").mkdir()
    save_teacher(tiny_teacher(), "nb201:7@C=4,N=1", tmp_path / "b" / "teacher.pt")
    p = Protocol(**{**TINY, "distiller": "distpro", "distiller_options": {"process": str(path)}})
    runs = kdbench.build(tmp_path / "b", p, kdbench.plan_runs([3, 10], modes=["kd"]), data=data, device="cpu",
                         log=lambda m: None)
    assert len(runs) == 2 and runs["test_acc"].notna().all()


# ---- the command line ----------------------------------------------------------------------------------------------
def test_cli_process_search_then_build(tmp_path, capsys):
    proto = tmp_path / "proto.json"
    Protocol(**{**TINY, "train_subset": 80}).save(proto)
    save_teacher(tiny_teacher(num_classes=10), "nb201:7@C=4,N=1", tmp_path / "teacher.pt")
    out = tmp_path / "proc.json"
    args = ["kd-bench", "process-search", "--protocol", str(proto), "--arch", ARCH, "--teacher",
            str(tmp_path / "teacher.pt"), "--out", str(out), "--epochs", "2", "--points", "2", "--threads", "1",
            "--device", "cpu"]
    assert main(args) == 0
    assert "last point: t1->s1=" in capsys.readouterr().out
    proc = P.load_process(out)
    assert len(proc.weights) == 2 and proc.info["teacher"]["source"] == str(tmp_path / "teacher.pt")
    assert proc.info["method"]["order"] == P.DEFAULT_ORDER and proc.info["threads"] == 1
    # the process drives a kd-bench build from a protocol file
    kd_proto = tmp_path / "kd.json"
    Protocol(**{**TINY, "train_subset": 80, "distiller": "distpro",
                "distiller_options": {"process": str(out)}}).save(kd_proto)
    (tmp_path / "archs.txt").write_text("3\n")
    assert main(["kd-bench", "build", "--protocol", str(kd_proto), "--archs", str(tmp_path / "archs.txt"),
                 "--modes", "kd", "--teacher", str(tmp_path / "teacher.pt"), "--out", str(tmp_path / "b"),
                 "--device", "cpu", "--threads", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == 1
    # bad input exits 2 with a message
    for extra, message in [(["--points", "500"], "points need at least"), (["--arch", "|bogus~0|"], "bogus"),
                           (["--val-fraction", "1.5"], "val_fraction")]:
        assert main(args + extra) == 2
        assert message in capsys.readouterr().err
    assert main([*args[:6], "--teacher", str(tmp_path / "none.pt"), *args[8:]]) == 2
    assert "does not exist" in capsys.readouterr().err


# ---- the zero-cost counterpart -------------------------------------------------------------------------------------
def test_linear_cka_known_cases():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 8, 4, 4, generator=g)
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, 5.0 * x) == pytest.approx(1.0)  # isotropic scaling
    q, _ = torch.linalg.qr(torch.randn(128, 128, generator=g, dtype=torch.float64))
    rotated = (x.reshape(16, -1).double() @ q).float()
    assert linear_cka(x, rotated) == pytest.approx(1.0, abs=1e-5)  # orthogonal transforms
    assert linear_cka(x, torch.zeros(16, 3)) == 0.0
    assert 0.0 <= linear_cka(x, torch.randn(16, 5, generator=g)) < 0.9


def test_pathway_cka_identical_networks_and_scaling():
    net = nb201.build_network(ARCH, C=4, N=1, num_classes=10, seed=0).train()
    x = torch.randn(16, 3, 8, 8)
    with torch.no_grad():
        feats = net.forward_features(x)
    pathways = make_pathways(3, 3, "all")
    ckas = dict(zip(pathways, pathway_ckas(feats, copy.deepcopy(feats), pathways)))
    assert all(ckas[(i, i)] == pytest.approx(1.0) for i in (1, 2, 3))
    assert all(ckas[(i, j)] < 1.0 - 1e-6 for i, j in pathways if i != j)
    scaled = {k: 3.0 * v for k, v in feats.items()}
    assert pathway_ckas(feats, scaled, pathways) == pytest.approx(list(ckas.values()))
    # the proxy: a student scored against itself as the teacher beats the same student against another network
    y = torch.randint(0, 10, (16,))
    same = proxybench.score("pathway_cka", net, x, y, teacher=copy.deepcopy(net), teacher_bn="train")
    other = proxybench.score("pathway_cka", net, x, y, teacher=nb201.build_network(3, C=4, N=1, seed=1),
                             teacher_bn="train")
    assert same > other
    assert proxybench.score("pathway_cka", net, x, y, teacher=copy.deepcopy(net), teacher_bn="train",
                            pathways="all") < same


def test_pathway_cka_with_a_process(tmp_path):
    net = nb201.build_network(ARCH, C=4, N=1, num_classes=10, seed=0)
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 10, (16,))
    # all weight on the matching pathways of identical networks -> exactly 1
    diag = [[1 / 3, 0, 0, 1 / 3, 0, 1 / 3]] * 2
    path = P.save_process(a_process(weights=diag), tmp_path / "p.json")
    score = proxybench.score("pathway_cka", net, x, y, teacher=copy.deepcopy(net), teacher_bn="train",
                             process=str(path))
    assert score == pytest.approx(1.0)
    ens = build_teacher("ensemble:nb201:7@C=4,N=1,resnet8", num_classes=10)
    assert 0.0 < proxybench.score("pathway_cka", net, x, y, teacher=ens) < 1.0
    with pytest.raises(ProxyError, match="does not exist"):
        proxybench.score("pathway_cka", net, x, y, teacher=ens, process=str(tmp_path / "none.json"))
