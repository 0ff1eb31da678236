"""What an evaluation run is: the user's settings (:class:`EvalSettings`) resolved into a :class:`Plan`.

This module gathers the names of the modules that do the work, each one job: :mod:`.settings` (the settings,
the plan and the parsers of command-line values), :mod:`.selection` (benchmark, proxies, options, archs, ground
truths, rank ensembles), :mod:`.inputs` (data, size limits, per-seed batches), :mod:`.models` (network config,
teacher) and :mod:`.plan` (:func:`make_plan` and the steps ``run_search`` shares).

Resolution checks every value up front and raises ``ValueError`` / ``FileNotFoundError`` naming the bad value
and the valid ones (the CLI maps them to exit status 2), before any network is scored:

* benchmark: a registered name or a ground-truth file; default :data:`DEFAULT_BENCHMARK`;
* data: the benchmark's data spec (``metadata["data"]``: dataset, resolution, channels, num_classes), read
  from the bundled image sample by default (``fashion-mnist`` benchmarks use ``fashion-mnist-sample``; a data root
  selects the full data set instead, and says so); ``synthetic`` only when asked for by name, and then flagged in
  the run's warnings;
* ground truths: ``--metric`` names them; by default those on the data of the batches;
* network: ``metadata["network"]`` (C, N, init) with overrides;
* teacher: ``--teacher`` or the benchmark's teacher (a trained checkpoint when it ships one);
* proxies: names and groups (:func:`proxy_groups`: the groups the proxies declare, ``teacher`` and ``all``);
  an unknown name is an error;
* options: each must be declared by at least one proxy of the run and valid for every proxy that declares it;
* archs: N sampled with a seed from the benchmark's architectures, ``all``, a list, or a file of official
  indices or arch strings (one per line, ``#`` comments);
* seeds: K network-initialization seeds 0..K-1; the input batches of seed s are drawn with seed s;
* ensembles: rank ensembles of scored proxies (``nwot+synflow``), correlated as proxies of their own.

The plan's :attr:`Plan.identity` holds every setting that changes a score; the run store refuses to resume a run
whose identity differs. Proxies, archs and seeds are the run's *selection*: resuming with a larger selection
scores only what is missing.
"""

from __future__ import annotations

from ..analysis.ensembles import ENSEMBLE_PREFIX, parse_ensembles
from .inputs import (
    CACHED_SEEDS,
    MAX_BATCH_MEMORY_FRACTION,
    MAX_BATCH_SIZE,
    MAX_SEEDS,
    MAX_UNITS,
    SeedBatches,
    check_run_size,
    check_sizes,
    describe_data,
    load_data,
    make_input_batches,
    resolve_data,
)
from .models import resolve_network, resolve_teacher, teacher_spec_from_metadata
from .plan import (
    batches_needed,
    default_out,
    make_plan,
    plan_batches,
    plan_data,
    plan_teacher,
    resolve_device,
    resolve_out,
)
from .selection import (
    benchmark_name,
    check_option_names,
    proxy_groups,
    resolve_archs,
    resolve_benchmark,
    resolve_ensembles,
    resolve_metrics,
    resolve_proxies,
)
from .settings import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BENCHMARK,
    DEVICES,
    FORMATS,
    NETWORK_KEYS,
    EvalSettings,
    Plan,
    choose_workers,
    parse_formats,
    parse_key_values,
    parse_workers,
)


def __getattr__(name: str):
    """``DEFAULT_PROXIES``, ``STANDARD_PROXIES`` and ``PROXY_GROUPS``, read from the registry on first use."""
    if name in ("DEFAULT_PROXIES", "STANDARD_PROXIES"):
        return tuple(proxy_groups()[name.split("_")[0].lower()])
    if name == "PROXY_GROUPS":
        return tuple(proxy_groups())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CACHED_SEEDS", "DEFAULT_BATCH_SIZE", "DEFAULT_BENCHMARK", "DEVICES", "ENSEMBLE_PREFIX", "FORMATS",
    "MAX_BATCH_MEMORY_FRACTION", "MAX_BATCH_SIZE", "MAX_SEEDS", "MAX_UNITS", "NETWORK_KEYS", "EvalSettings", "Plan",
    "SeedBatches", "batches_needed", "benchmark_name", "check_option_names", "check_run_size", "check_sizes",
    "choose_workers", "default_out", "describe_data", "load_data", "make_input_batches", "make_plan",
    "parse_ensembles", "parse_formats", "parse_key_values", "parse_workers", "plan_batches", "plan_data",
    "plan_teacher", "proxy_groups", "resolve_archs", "resolve_benchmark", "resolve_data", "resolve_device",
    "resolve_ensembles", "resolve_metrics", "resolve_network", "resolve_out", "resolve_proxies", "resolve_teacher",
    "teacher_spec_from_metadata",
]
