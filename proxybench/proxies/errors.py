"""The errors of the proxy layer (no torch here, so the registries can raise them)."""

from __future__ import annotations


class ProxyError(ValueError):
    """A proxy cannot run on this model or input; the message names the proxy and the reason."""


class OptionError(ProxyError):
    """An option that no proxy declares, or a value of the wrong type or range; the message names the option
    and lists what is valid."""
