"""Building a KD benchmark: vanilla and distilled accuracies of NB201 students under one protocol.

A build directory holds:

``protocol.json``  the protocol (a resumed build must use the same one: its training key is checked)
``plan.json``      the runs to do, in order: (arch_index, arch, seed, mode)
``teacher.pt``     the trained teacher (spec, weights, accuracy) whose logits drive the KD runs (default; any
                   checkpoint, ``ensemble:`` spec or ``@FILE`` holding one can be given instead); an ensemble
                   written by :func:`train_teacher_ensemble` is one checkpoint too, next to its members
                   ``teacher.m0.pt``, ... and its spec file ``teacher.ensemble.txt``
``teacher.json``   the teacher's record: spec, test accuracy (for an ensemble also each member's, the ensemble's and
                   the oracle accuracy); written by ``kd-bench teacher``, or by the build from the checkpoints
``runs.sqlite``    the run store: one row per finished (arch_index, seed, mode), each committed in its own
                   transaction, so a crash or kill loses at most the run in progress
``runs.csv``       the same rows as text, rewritten atomically after every run (always a valid table)

Resuming skips every finished run. Runs train in this process, or on ``dask.distributed`` workers
(``build(..., scheduler=...)``), where only the process that owns the store writes it. :func:`summarize` gives the
status figures and :func:`export_ground_truth` turns a (partial) build into a ground-truth table with metrics
``vanilla_acc`` and ``kd_acc``.

This module gathers the public names of the builder's modules, one job each:

=======================  =================================================================================
:mod:`.plan`             the runs to do (:func:`plan_runs`, :func:`read_arch_file`)
:mod:`.teacher_training` teachers and ensembles (:func:`train_teacher`, :func:`train_teacher_ensemble`)
:mod:`.teacher_records`  ``@FILE`` teacher specs and ``teacher.json`` records
:mod:`.builder`          :func:`build`: resume, shard, reuse vanilla runs, train locally
:mod:`.build_runs`       one run's training (:class:`BuildJob`, :func:`train_run`), in this process or a worker
:mod:`.dask_build`       the build on ``dask.distributed`` (:func:`parse_scheduler`)
:mod:`.summary`          :func:`summarize`, :func:`build_description`, :func:`export_ground_truth`,
                         :func:`sweep_table`, :func:`sweep_summary`, :func:`benchmark_status` (no torch)
:mod:`.runstore`         the SQLite run store (:class:`RunStore`)
=======================  =================================================================================
"""

from __future__ import annotations

from .build_runs import BuildJob, train_run
from .builder import build
from .dask_build import parse_scheduler
from .plan import plan_runs, read_arch_file
from .runstore import RUN_COLUMNS, RunStore, write_runs_csv
from .summary import (
    RECIPE_FIELDS,
    benchmark_status,
    build_description,
    compute_hours,
    export_ground_truth,
    summarize,
    sweep_summary,
    sweep_table,
)
from .teacher_records import read_teacher_spec, teacher_record
from .teacher_training import (
    ensemble_accuracies,
    ensemble_spec_path,
    member_checkpoint_path,
    train_teacher,
    train_teacher_ensemble,
)

__all__ = ["BuildJob", "RECIPE_FIELDS", "RUN_COLUMNS", "RunStore", "benchmark_status", "build", "build_description",
           "compute_hours", "ensemble_accuracies", "ensemble_spec_path", "export_ground_truth",
           "member_checkpoint_path", "parse_scheduler", "plan_runs", "read_arch_file", "read_teacher_spec",
           "summarize", "sweep_summary", "sweep_table", "teacher_record", "train_run", "train_teacher",
           "train_teacher_ensemble", "write_runs_csv"]
