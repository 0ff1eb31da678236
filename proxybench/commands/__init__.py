"""Sub-commands of the ``proxybench`` CLI, one module each (see :mod:`proxybench.cli`)."""
