"""The proxy zoo: a registry of training-free proxies, one file per proxy.

``list_proxies()`` names them; ``score(name, model, inputs, targets, **options)`` scores one network;
:func:`~proxybench.proxies.engine.score_many` scores several on one network sharing passes.
"""

from .context import ProxyContext
from .engine import ProxyResult, make_context, score, score_many
from .errors import OptionError, ProxyError
from .options import Option, at_least, greater_than
from .pass_registry import PassSpec, get_pass, register_pass
from .registry import (
    GROUPS,
    ProxySpec,
    Requirement,
    all_specs,
    check_options,
    get_spec,
    list_proxies,
    not_applicable,
    proxy_groups,
    register_proxy,
    unregister_proxy,
)

__all__ = ["GROUPS", "Option", "OptionError", "PassSpec", "ProxyContext", "ProxyError", "ProxyResult", "ProxySpec",
           "Requirement", "all_specs", "at_least", "check_options", "get_pass", "get_spec", "greater_than",
           "list_proxies", "make_context", "not_applicable", "proxy_groups", "register_pass", "register_proxy",
           "score", "score_many", "unregister_proxy"]
