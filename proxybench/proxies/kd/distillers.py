"""The KD-loss proxies, one per distiller of the table :data:`proxybench.distill.losses.DISTILLERS`.

Each scores -loss between the teacher and a random-init student: the distiller's loss on their
``forward_features`` (first batch; see :mod:`proxybench.proxies.kd._teacher`). A distiller added to the table
becomes a proxy of the same name with no edit here. A proxy needs labels when its distiller compares the
classifier-weight gradients (``head_grad``). What the table does not say, a proxy's options (mapped to keywords
of the loss) and groups, is declared in :data:`DECLARED`.
"""

from __future__ import annotations

import inspect

from ...distill.losses import DISTILLERS, SEMANTIC_FORMS, Distiller
from ..options import Option, greater_than
from ..registry import register_proxy
from ._teacher import distill_score

SEMANTIC_FORM = Option("diswot_semantic_form", str, "auto", "DisWOT semantic distance: channel Grams (the paper; "
                       "equal widths), class Gram (any widths), or auto (channel when the widths agree)",
                       choices=SEMANTIC_FORMS)

DECLARED: dict[str, dict] = {
    "kd": {"options": {"temperature": Option("temperature", float, 4.0, "softmax temperature T",
                                             check=greater_than(0))},
           "groups": ("default",)},
    "rkd": {"groups": ("default",)},
    "pkt": {"groups": ("default",)},
    "diswot_relation": {"groups": ("default",)},
    "diswot_semantic": {"options": {"form": SEMANTIC_FORM}, "groups": ("default",)},
}
"""Per distiller: ``options`` (loss keyword -> :class:`Option`) and ``groups``."""

_FEATURES = {"logits": "the logits", "pre_pool": "the last feature map before global pooling",
             "pooled": "the pooled embedding", "head_grad": "the cross-entropy gradient of the classifier weights"}


def _features(keys: tuple[str, ...]) -> str:
    if all(k.startswith("stage") for k in keys):
        return f"the {len(keys)} stage outputs (summed)"
    return " and ".join(_FEATURES.get(k, k) for k in keys)


def _register(d: Distiller) -> None:
    extra = DECLARED.get(d.name, {})
    options = extra.get("options", {})

    def proxy(ctx) -> float:
        return distill_score(ctx, d.name, **{kw: ctx.option(o.name) for kw, o in options.items()})

    doc = inspect.cleandoc(d.fn.__doc__ or d.name)
    proxy.__name__ = proxy.__qualname__ = d.name
    proxy.__doc__ = f"{doc}\n\nOn {_features(d.keys)} of student and teacher. Score = -loss."
    register_proxy(d.name, direction=-1, teacher=True, labels="head_grad" in d.keys,
                   options=tuple(options.values()), groups=extra.get("groups", ()), paper=d.paper,
                   description=" ".join(doc.split("\n\n")[0].split()))(proxy)


for _d in DISTILLERS.values():
    _register(_d)
