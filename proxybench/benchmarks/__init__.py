"""What proxies are measured against (the lowest layer with proxybench.analysis; no torch at import).

* :mod:`.nb201` -- the NAS-Bench-201 space (strings, indices, encodings, canonical forms), closed-form counts, and
  the network builder (torch, loaded on first use);
* :mod:`.datasets` -- the image data sets: one registry of :class:`~.datasets.registry.DatasetSpec`, readers,
  downloads, batches (torch, loaded on first use);
* :mod:`.groundtruth` -- ground-truth tables, their ``.pbgt`` file, the importers and the registry of benchmarks;
* ``data/`` -- bundled package data: the KD benchmark table and its teacher, a Fashion-MNIST sample.
"""
