"""Search spaces as plugins: one module per space, registered by a decorator (no torch at import).

* :mod:`.base` -- the :class:`SearchSpace` contract, :func:`register_space` and the registry
  (:func:`get_space`, :func:`list_spaces`, :func:`space_of` for a benchmark's metadata);
* :mod:`.nb201` -- NAS-Bench-201 (the default: a benchmark whose metadata names no space is on NB201);
* :mod:`.diswot_s1` -- DisWOT's S1, CIFAR ResNets with 1, 3, 5 or 7 blocks per stage.

Adding a space is one module here with one ``@register_space("name")`` class; the registry imports every module
of this package on first use, and :func:`proxybench.testing.check_space` checks it against the contract.
"""

from .base import (
    DEFAULT_SPACE,
    FEATURES,
    FLOP_CONVENTIONS,
    SearchSpace,
    all_spaces,
    get_space,
    list_spaces,
    register_space,
    space_of,
    unregister_space,
)

__all__ = ["DEFAULT_SPACE", "FEATURES", "FLOP_CONVENTIONS", "SearchSpace", "all_spaces", "get_space", "list_spaces",
           "register_space", "space_of", "unregister_space"]
