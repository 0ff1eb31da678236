"""Training regimes of a KD protocol: symmetric label noise and a transfer set seen only by KD runs."""

import warnings

import pytest
import torch

from proxybench.distill.losses import labelled_ce, oracle_target
from proxybench.distill.protocol import Protocol
from proxybench.distill.trainer import UNLABELLED, TrainData, _noisy_labels, build_student, load_train_data, train

SYN = dict(name="syn", dataset="synthetic", resolution=8, channels=3, train_subset=200, epochs=1.0, batch_size=32,
           lr=0.05, C=4, N=1, eval_batch_size=500)


def _load(**fields):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the synthetic data set warns by design
        return load_train_data(Protocol(**{**SYN, **fields}))


def test_noisy_labels_exact_fraction_always_wrong_and_deterministic():
    labels = torch.arange(1000) % 10
    noisy = _noisy_labels(labels, 0.4, 10, seed=3)
    changed = noisy != labels
    assert int(changed.sum()) == 400  # every replaced label is another class
    assert torch.equal(noisy, _noisy_labels(labels, 0.4, 10, seed=3))
    assert not torch.equal(noisy, _noisy_labels(labels, 0.4, 10, seed=4))
    # the wrong class is drawn uniformly among the 9 others: every offset 1..9 occurs
    offsets = ((noisy - labels) % 10)[changed]
    assert set(offsets.tolist()) == set(range(1, 10))


def test_transfer_set_is_unlabelled_and_disjoint_from_the_labelled_subset():
    plain = _load()
    data = _load(transfer_set=300)
    assert len(data.y_train) == 500 and int((data.y_train == UNLABELLED).sum()) == 300
    assert torch.equal(data.x_train[:200], plain.x_train) and torch.equal(data.y_train[:200], plain.y_train)
    labelled = {tuple(r.flatten()[:6].tolist()) for r in data.x_train[:200]}
    transfer = {tuple(r.flatten()[:6].tolist()) for r in data.x_train[200:]}
    assert not labelled & transfer
    noisy = _load(transfer_set=300, label_noise=0.5)
    assert int((noisy.y_train[:200] != plain.y_train).sum()) == 100
    assert torch.equal(noisy.y_train[200:], data.y_train[200:])  # transfer images carry no label to corrupt


def test_transfer_set_errors_name_the_value():
    with pytest.raises(ValueError, match="transfer_set=5 needs a train_subset"):
        _load(train_subset=None, transfer_set=5)
    with pytest.raises(ValueError, match="transfer_set=9900 exceeds the 9800 training images outside"):
        _load(transfer_set=9900)
    with pytest.raises(ValueError, match="label_noise=1.0 is invalid"):
        Protocol(label_noise=1.0)
    with pytest.raises(ValueError, match="transfer_set=-1 is invalid"):
        Protocol(transfer_set=-1)


def test_keys_transfer_set_is_kd_only_label_noise_is_not():
    p = Protocol(**SYN)
    assert p.replace(transfer_set=100).vanilla_key() == p.vanilla_key()
    assert p.replace(transfer_set=100).training_key() != p.training_key()
    assert p.replace(label_noise=0.2).vanilla_key() != p.vanilla_key()
    # a protocol that sets neither keeps the keys it had before these fields existed
    assert Protocol.from_dict({k: v for k, v in p.to_dict().items()
                               if k not in ("label_noise", "transfer_set")}).training_key() == p.training_key()


def test_vanilla_run_ignores_the_transfer_set():
    p = Protocol(**SYN)
    plain, with_transfer = _load(), _load(transfer_set=300)
    r1 = train(build_student(5, p, 10, seed=0), plain, p, seed=0, device="cpu")
    r2 = train(build_student(5, p, 10, seed=0), with_transfer, p.replace(transfer_set=300), seed=0, device="cpu")
    assert (r1.test_acc, r1.train_loss, r1.steps) == (r2.test_acc, r2.train_loss, r2.steps)


def test_kd_run_learns_the_transfer_set_from_the_teacher():
    # labelled images say nothing (alpha = 1: no CE); the teacher calls every image class 2
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 3, 8, 8, generator=g)
    y = torch.cat([torch.zeros(32, dtype=torch.long), torch.full((64,), UNLABELLED)])
    data = TrainData(x, y, x[:40], torch.full((40,), 2), 4, "toy")
    soft = torch.full((96, 4), -8.0)
    soft[:, 2] = 8.0
    p = Protocol(**{**SYN, "train_subset": 32, "transfer_set": 64, "alpha": 1.0, "temperature": 1.0,
                    "epochs": 12.0, "batch_size": 16})
    res = train(build_student(5, p, 4, seed=0), data, p, mode="kd", seed=0, soft_targets=soft, device="cpu")
    assert res.steps == 24  # the budget counts passes over the 32 labelled images
    assert res.test_acc == 100.0


def test_labelled_ce_known_values():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]], requires_grad=True)
    targets = torch.tensor([0, UNLABELLED, 1])
    expected = torch.nn.functional.cross_entropy(logits[[0, 2]], targets[[0, 2]])
    assert torch.allclose(labelled_ce(logits, targets), expected)
    none = labelled_ce(logits, torch.full((3,), UNLABELLED))
    none.backward()
    assert none.item() == 0.0 and torch.equal(logits.grad, torch.zeros_like(logits))


def test_oracle_target_of_an_unlabelled_sample_is_the_members_mean():
    members = [torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 3.0]])]
    target = oracle_target(members, torch.tensor([UNLABELLED]), 1.0, fallback="label")
    mean = torch.stack([torch.softmax(m, 1) for m in members]).mean(0)
    assert torch.allclose(target, mean)
