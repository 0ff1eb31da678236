"""Zero-cost proxy scores as features of a trained accuracy predictor (NAS-Bench-Suite-Zero's use).

Krishnakumar et al. (NAS-Bench-Suite-Zero, NeurIPS 2022 Datasets and Benchmarks) feed the scores of several
zero-cost proxies to a model trained on (scores, accuracy) pairs. Here: the per-architecture mean score over seeds
of each proxy is one feature; a scikit-learn regressor (``gbr``: ``GradientBoostingRegressor``, ``rf``:
``RandomForestRegressor``, both with ``random_state=seed``) is fitted with k-fold cross-validation
(``KFold(folds, shuffle=True, random_state=seed)``), and the out-of-fold predictions y_hat (each made by a model
that did not see that architecture) are ranked against the accuracy: Kendall tau-b and Spearman rho
(``scipy.stats``), next to each proxy alone on the same architectures.

This is a *trained* predictor, which needs accuracies to fit: it is not a training-free proxy and is reported
apart from the rank ensembles of :mod:`.ensembles`. scikit-learn is an optional dependency (the ``predict`` extra).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .joining import (
    ground_truth_values,
    join_key,
    normalise_ground_truth,
    normalise_scores,
    resolve_names,
    score_matrix,
    seed_averaged,
)

MODELS: dict[str, str] = {"gbr": "GradientBoostingRegressor", "rf": "RandomForestRegressor"}
"""Accepted ``model`` values -> the scikit-learn regressor."""
STATISTICS: tuple[str, ...] = ("kendall", "spearman")
PREDICTOR_KIND = "trained_predictor"
PROXY_KIND = "single_proxy"
SKLEARN_MISSING = ("the accuracy predictor needs scikit-learn, which is not installed: pip install scikit-learn "
                   "(or install proxybench with its 'predict' extra: pip install 'proxybench[predict]')")


def require_sklearn() -> None:
    """``ImportError`` saying how to install scikit-learn when it is missing."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ImportError(SKLEARN_MISSING) from None


def make_model(model: str, seed: int):
    """A fresh, unfitted regressor ``model`` (see :data:`MODELS`) with ``random_state=seed``."""
    if model not in MODELS:
        raise ValueError(f"unknown predictor model {model!r}; valid: {', '.join(MODELS)}")
    require_sklearn()
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor

    if model == "gbr":
        return GradientBoostingRegressor(random_state=seed)
    return RandomForestRegressor(random_state=seed, n_jobs=1)


def feature_matrix(scores: pd.DataFrame, proxies: Sequence[str] | None = None, *, key: str = "arch_index"
                   ) -> pd.DataFrame:
    """Architectures x proxies: each proxy's per-architecture mean of the finite scores over seeds."""
    sc = normalise_scores(scores)
    names = list(dict.fromkeys(sc["proxy"])) if proxies is None else list(proxies)
    unknown = [p for p in names if p not in set(sc["proxy"])]
    if unknown:
        raise ValueError(f"unknown proxy(ies) {unknown} in the scores; valid: "
                         f"{', '.join(map(str, dict.fromkeys(sc['proxy'])))}")
    if len(names) < 1:
        raise ValueError("the predictor needs at least one proxy")
    return pd.DataFrame({p: seed_averaged(score_matrix(sc, p, key=key)) for p in names})


def _rank_stats(x: np.ndarray, y: np.ndarray, statistics: Sequence[str]) -> dict[str, float]:
    out = {}
    for s in statistics:
        if s == "kendall":
            out[s] = float(stats.kendalltau(x, y, variant="b").statistic)
        else:
            out[s] = float(stats.spearmanr(x, y).statistic)
    return out


def predict_accuracy(scores: pd.DataFrame, ground_truth: pd.DataFrame, *, model: str = "gbr",
                     proxies: Sequence[str] | None = None, ground_truths: Sequence[str] | str | None = None,
                     folds: int = 5, seed: int = 0, statistics: Sequence[str] = STATISTICS,
                     key: str = "auto") -> pd.DataFrame:
    """k-fold out-of-fold accuracy prediction from proxy scores, beside each proxy alone.

    For every ground truth (default: all), the architectures with a finite value and finite features are used;
    one row per (ground truth, method, statistic) with columns of :data:`proxybench.schema.PREDICTOR`:
    the ``trained_predictor`` row (method ``model``, features all ``proxies``) first, then one ``single_proxy`` row
    per proxy (its mean score over seeds ranked against the accuracy on the same architectures).
    """
    from .. import schema

    if model not in MODELS:
        raise ValueError(f"unknown predictor model {model!r}; valid: {', '.join(MODELS)}")
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    bad = [s for s in statistics if s not in STATISTICS]
    if bad or not statistics:
        raise ValueError(f"unknown statistic(s) {bad or list(statistics)}; valid: {', '.join(STATISTICS)}")
    require_sklearn()
    from sklearn.model_selection import KFold, cross_val_predict

    key = join_key(scores, ground_truth, key)
    features = feature_matrix(scores, proxies, key=key)
    gt = normalise_ground_truth(ground_truth)
    rows = []
    for name in resolve_names(gt, ground_truths):
        y_all = ground_truth_values(ground_truth, name, key=key)
        common = features.index.intersection(y_all.index)
        X = features.loc[common].to_numpy(float)
        finite = np.isfinite(X).all(axis=1)
        X, y = X[finite], y_all.loc[common].to_numpy(float)[finite]
        n, n_dropped = len(y), int((~finite).sum())
        if n < max(folds, 3):
            worst = features.loc[common].notna().sum().sort_values().index[0] if len(common) else "-"
            raise ValueError(f"ground truth {name!r}: only {n} architectures have a finite score of every proxy "
                             f"(fewest finite: {worst!r}); {folds}-fold cross-validation needs at least "
                             f"{max(folds, 3)}")
        cv = KFold(n_splits=folds, shuffle=True, random_state=seed)
        y_hat = cross_val_predict(make_model(model, seed), X, y, cv=cv)
        base = {"ground_truth": name, "n": n, "n_dropped": n_dropped, "folds": folds, "seed": seed}
        for stat, value in _rank_stats(y_hat, y, statistics).items():
            rows.append({**base, "method": model, "kind": PREDICTOR_KIND, "features": ",".join(features.columns),
                         "statistic": stat, "value": value})
        for j, proxy in enumerate(features.columns):
            for stat, value in _rank_stats(X[:, j], y, statistics).items():
                rows.append({**base, "method": proxy, "kind": PROXY_KIND, "features": proxy, "statistic": stat,
                             "value": value})
    return pd.DataFrame(rows, columns=list(schema.PREDICTOR.names))


def predictor_markdown(table: pd.DataFrame) -> tuple[str, str, list[str], list[list[str]]]:
    """(title, explanation, header, rows) of the report section of :func:`predict_accuracy`'s table: per ground
    truth, the predictor first, then the single proxies by Kendall tau."""
    wide = table.pivot_table(index=["ground_truth", "kind", "method"], columns="statistic", values="value",
                             sort=False).reset_index()
    meta = table.drop_duplicates("ground_truth").set_index("ground_truth")
    stats_present = [s for s in STATISTICS if s in wide.columns]
    labels = {"kendall": "Kendall τ", "spearman": "Spearman ρ"}
    header = ["ground truth", "method", *[labels[s] for s in stats_present], "n", "dropped"]
    rows = []
    for name, grp in wide.groupby("ground_truth", sort=False):
        grp = grp.assign(_first=grp["kind"] != PREDICTOR_KIND).sort_values(
            ["_first", stats_present[0]], ascending=[True, False])
        for r in grp.itertuples(index=False):
            label = (f"{r.method} predictor ({int(meta.loc[name, 'folds'])}-fold out-of-fold)"
                     if r.kind == PREDICTOR_KIND else str(r.method))
            rows.append([str(name), label, *[f"{getattr(r, s):.3f}" for s in stats_present],
                         str(int(meta.loc[name, "n"])), str(int(meta.loc[name, "n_dropped"]))])
    model = table.loc[table["kind"] == PREDICTOR_KIND, "method"].iloc[0] if len(table) else "?"
    title = "Trained accuracy predictor (proxy scores as features)"
    text = (f"Not a training-free score: a scikit-learn {MODELS.get(model, model)} fitted on the proxies' scores "
            "and the accuracies, evaluated on out-of-fold predictions of a k-fold cross-validation (each "
            "architecture predicted by a model that did not see it), next to each proxy alone on the same "
            "architectures (NAS-Bench-Suite-Zero's 'zero-cost proxies as features'). 'dropped': architectures "
            "with a non-finite score of some proxy, left out.")
    return title, text, header, rows


def predictor_blocks(table: pd.DataFrame) -> list[tuple]:
    """The report section (blocks of :mod:`.report`) of :func:`predict_accuracy`'s table."""
    title, text, header, rows = predictor_markdown(table)
    return [("h2", title), ("p", text), ("table", header, rows, [""] * len(rows))]


__all__ = ["MODELS", "PREDICTOR_KIND", "PROXY_KIND", "STATISTICS", "feature_matrix", "make_model",
           "predict_accuracy", "predictor_blocks", "predictor_markdown", "require_sklearn"]
