"""The proxy zoo: a registry of training-free proxies, one file per proxy.

``list_proxies()`` names them; ``score(name, model, inputs, targets, **options)`` scores one network;
:func:`~proxybench.proxies.engine.score_many` scores several on one network sharing passes.
"""

from .context import ProxyContext, ProxyError
from .engine import ProxyResult, make_context, score, score_many
from .registry import ProxySpec, all_specs, get_spec, list_proxies, register_proxy

__all__ = ["ProxyContext", "ProxyError", "ProxyResult", "ProxySpec", "all_specs", "get_spec", "list_proxies",
           "make_context", "register_proxy", "score", "score_many"]
