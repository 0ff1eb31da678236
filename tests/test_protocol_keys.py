"""What a resumed KD build must find unchanged is pinned: the training and vanilla keys of the shipped protocol files
(a build resumes, and reuses vanilla runs, only when they are equal) and the plan of the v2 builds (``--archs 200
--arch-seed 0 --noise-archs 20 --noise-seeds 3``). The values were computed before the builder modules were split
(the plan digests equal those of the running v2 builds' ``plan.json``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from proxybench.distill.protocol import Protocol

ROOT = Path(__file__).resolve().parents[1]

# file -> (training_key, vanilla_key)
KEYS = {
    "kdbench/protocols/fmnist16.json": ("d72d6d04cc989e5b", "ea9cb4f8d2c618aa"),
    "kdbench/protocols/fmnist16-v2.json": ("e7d525b2f10641ba", "ea9cb4f8d2c618aa"),
    "kdbench/protocols/sweep-lr0.05.json": ("5eb1c5a517806fe8", "d07d16d4a4e97e01"),
    "kdbench/protocols/sweep-lr0.1.json": ("3b319ee843b3ab37", "881fda949624442f"),
    "kdbench/protocols/sweep-sub1000-e60-lr0.05.json": ("c12c2c1035bf355f", "80745f8f11621e05"),
    "kdbench/protocols/sweep-sub10k-e6-lr0.01.json": ("a84815842880fbe1", "ce8dd099158b6f2a"),
    "kdbench/protocols/sweep-sub10k-e6-lr0.02.json": ("f9fe7f8a58702b76", "8109471c5868589b"),
    "kdbench/protocols/sweep-sub10k-e6-lr0.05.json": ("d72d6d04cc989e5b", "ea9cb4f8d2c618aa"),
    "kdbench/protocols/sweep-sub10k-e6-lr0.1.json": ("275b6ae138684844", "934c017e1417a9e3"),
    "kdbench/protocols/sweep-sub10k-e6-lr0.2.json": ("2f6bb70843f0d8bb", "34983e627940a5f0"),
    "kdbench/protocols/sweep-sub10k-e6-lr0.4.json": ("6da942b57e063c4e", "99f762b3148301dc"),
    "kdbench/protocols/sweep-sub2500-e24-lr0.05.json": ("ec2a34e0d47157a9", "8ee8e31229bf03e8"),
    "kdbench/protocols/sweep-sub2500-e24-lr0.1.json": ("d8e4055e355838ea", "c9e2b70ddc1f011b"),
    "kdbench/protocols/sweep-sub5000-e12-lr0.1.json": ("5c7d2e562250b08f", "9fc33bfb1c52b398"),
    "kdbench/v2/protocols/a0.3-T1.json": ("445077a98357bb78", "ea9cb4f8d2c618aa"),
    "kdbench/v2/protocols/a0.5-T1.json": ("e7d525b2f10641ba", "ea9cb4f8d2c618aa"),
    "kdbench/v2/protocols/a0.5-T2.json": ("4e68ab7b456cf7e5", "ea9cb4f8d2c618aa"),
    "kdbench/v2/protocols/a0.9-T1.json": ("ec404ed4aed1b823", "ea9cb4f8d2c618aa"),
    "kdbench/v2/protocols/aug-a0.5-T1.json": ("aaf2823e7ba1aa80", "b6944794f1ef92f8"),
    "kdbench/v2/protocols/distpro.json": ("386fd425bed649c6", "ea9cb4f8d2c618aa"),
    "kdbench/v2/protocols/ens3-kd-a0.5-T1.json": ("e7d525b2f10641ba", "ea9cb4f8d2c618aa"),
    "kdbench/v2/protocols/ens3-oracle-a0.5-T1.json": ("f7577a05cf30d126", "ea9cb4f8d2c618aa"),
}


@pytest.mark.parametrize("name", sorted(KEYS))
def test_shipped_protocol_keys_are_unchanged(name):
    p = Protocol.from_file(ROOT / name)
    assert (p.training_key(), p.vanilla_key()) == KEYS[name]


def test_every_shipped_protocol_file_is_pinned():
    shipped = {str(f.relative_to(ROOT)) for d in ("kdbench/protocols", "kdbench/v2/protocols")
               for f in (ROOT / d).glob("*.json")}
    assert shipped == set(KEYS)


@pytest.mark.parametrize("modes,n,digest", [(["kd"], 240, "2e06d72fc35249ec"), (["vanilla"], 240, "8ace1ae142baa8f4"),
                                            (["vanilla", "kd"], 480, "19082ba502778f47")])
def test_the_v2_build_plan_is_unchanged(modes, n, digest):
    from proxybench.benchmarks import nb201
    from proxybench.distill.plan import plan_runs

    archs = nb201.sample_indices(200, seed=0, unique=True, exclude_zero=True)
    plan = plan_runs(archs, seeds=1, noise_archs=20, noise_seeds=3, modes=modes)
    assert len(plan) == n
    assert hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16] == digest


def test_planning_status_and_records_import_without_torch():
    """``kd-bench status``/``export`` figures, the plan and the teacher records need no torch at import."""
    import subprocess
    import sys

    code = ("import sys; import proxybench.distill.summary, proxybench.distill.plan, "
            "proxybench.distill.teacher_records; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
