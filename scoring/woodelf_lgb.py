"""LightGBM boosters as woodelf tree ensembles, categorical splits and missing values included.

Why our own converter: woodelf (``woodelf-explainer``) computes the same path-dependent TreeSHAP
values as LightGBM's ``pred_contrib`` several times faster, but its LightGBM parser (via treelite)
refuses categorical set splits, and the ``decay-train`` model splits natively on the segment
columns and ``maturity_stage``. Path-dependent TreeSHAP needs only three things per node: which
child a row takes, the training cover of each child (LightGBM's ``internal_count``/``leaf_count``,
the "data count" its own TreeSHAP weights by) and the leaf values. So we read them from
``booster.dump_model()`` and give woodelf nodes whose ``shall_go_left(frame)`` reproduces
LightGBM's own routing (``Tree::NumericalDecision`` / ``Tree::CategoricalDecision``) exactly.
First, as LightGBM's predictor does when it reads a dense row, any ``|x| <= 1e-35`` (its
``kZeroThreshold``) becomes exactly 0.0 (``lightgbm_input``). Then:

numeric split (``decision_type '<='``, go left iff ``x <= threshold``), by ``missing_type``:
  - ``None``: NaN is read as 0.0, then compared.
  - ``Zero``: NaN is read as 0.0; a value with ``|x| <= 1e-35`` (LightGBM's ``kZeroThreshold``)
    takes the default child (``default_left``), anything else is compared.
  - ``NaN``: NaN takes the default child; anything else is compared.
categorical split (``decision_type '=='``, ``threshold 'a||b||c'``): the value is truncated
toward zero to an int (so -0.5 is category 0 and 3.9 is category 3); it goes left iff that int
is in the set. NaN, values <= -1 and values outside the 32-bit int range always go right, whatever
``missing_type`` says (measured on lightgbm 4.7; pinned by ``tests/scoring/test_woodelf_lgb.py``).

Unsupported (``UnsupportedBooster``, callers fall back to ``pred_contrib``): linear trees,
several trees per iteration (multiclass), random-forest averaging. Trees with a single leaf carry
no feature contribution (only base value) and are dropped.

Values: ``contributions`` returns ``contrib[n, n_features]`` in raw-score (log-odds) units;
the base value (LightGBM's ``ExpectedValue``, one constant per booster) is the caller's, e.g.
``scoring.explain.base_value``.
"""

from __future__ import annotations

import functools
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from woodelf import WoodelfExplainer
from woodelf.core.trees.decision_trees_ensemble import DecisionTreeNode, DecisionTreesEnsemble

#: LightGBM's kZeroThreshold (a float literal, 1e-35f, compared in double).
ZERO_THRESHOLD = float(np.float32(1e-35))
MISSING_TYPES = ("None", "Zero", "NaN")
#: ``dump_model`` writes thresholds through LightGBM's ``AvoidInf``: an infinite threshold (the
#: split LightGBM makes when every seen value goes left: ``x <= inf``) comes out as ``+-1e300``.
#: Training values are clipped to the same bound, so no learnt finite threshold reaches it.
DUMP_INF = 1e300
_INT_MAX = 2.0**31 - 1


class UnsupportedBooster(ValueError):
    """The booster has a structure this converter does not reproduce exactly (reason in text)."""


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    return np.asarray(frame[name], dtype=np.float64)


class Mask(np.ndarray):
    """A boolean row mask that woodelf can read like the pandas Series it expects.

    woodelf only inverts a node's decision (``~``) and calls ``.to_numpy()`` on it; building a
    Series per node per chunk cost ~10% of the explanation time, a view of the array costs nothing.
    """

    def to_numpy(self) -> np.ndarray:
        return self.view(np.ndarray)


class LgbNumericNode(DecisionTreeNode):
    """A LightGBM numeric split: left iff ``x <= threshold``, missing values per ``missing_type``."""

    def __init__(
        self,
        feature_name: str,
        threshold: float,
        missing_type: str,
        default_left: bool,
        index: int,
        cover: float,
    ) -> None:
        if missing_type not in MISSING_TYPES:
            raise UnsupportedBooster(
                f"numeric split with missing_type={missing_type!r} (known: {list(MISSING_TYPES)})"
            )
        super().__init__(
            feature_name, threshold, None, None, nan_go_left=default_left, index=index, cover=cover
        )
        self.missing_type = missing_type
        self.default_left = bool(default_left)

    def shall_go_left(self, row: pd.DataFrame, GPU: bool = False) -> Mask:
        """True where LightGBM sends the row of ``row`` (a frame) left."""
        x = _column(row, self.feature_name)
        if self.missing_type == "Zero":
            x = np.where(np.isnan(x), 0.0, x)
            left = np.where(np.abs(x) <= ZERO_THRESHOLD, self.default_left, x <= self.value)
        elif (self.missing_type == "NaN" and self.default_left) or (
            self.missing_type == "None" and self.value >= 0.0
        ):
            left = ~(x > self.value)  # NaN compares False: NaN goes left (as 0.0 <= value)
        else:
            left = x <= self.value  # NaN goes right (default right, or 0.0 > value)
        return left.view(Mask)

    def __repr__(self) -> str:
        return (
            f"{self.index} (cover: {self.cover}): {self.feature_name} <= {self.value} "
            f"(missing {self.missing_type}, default {'left' if self.default_left else 'right'})"
        )


class LgbCategoricalNode(DecisionTreeNode):
    """A LightGBM categorical split: left iff ``int(x)`` (toward zero) is in ``categories``."""

    def __init__(self, feature_name: str, categories: list[int], index: int, cover: float) -> None:
        super().__init__(
            feature_name, np.nan, None, None, nan_go_left=False, index=index, cover=cover
        )
        self.categories = np.asarray(sorted(set(categories)), dtype=np.float64)

    def shall_go_left(self, row: pd.DataFrame, GPU: bool = False) -> Mask:
        """True where LightGBM sends the row of ``row`` (a frame) left."""
        x = _column(row, self.feature_name)
        with np.errstate(invalid="ignore"):
            code = np.trunc(x)
            in_range = (code >= 0) & (code <= _INT_MAX)  # False for NaN and +-inf
        return (in_range & np.isin(code, self.categories)).view(Mask)

    def __repr__(self) -> str:
        return (
            f"{self.index} (cover: {self.cover}): {self.feature_name} in {self.categories.tolist()}"
        )


def _numeric_threshold(threshold: Any) -> float:
    """A dumped numeric threshold as LightGBM compares it (``+-1e300`` is ``+-inf``, DUMP_INF)."""
    t = float(threshold)
    return float(np.copysign(np.inf, t)) if abs(t) >= DUMP_INF else t


def _parse_categories(threshold: Any) -> list[int]:
    try:
        return [int(c) for c in str(threshold).split("||")]
    except ValueError as err:
        raise UnsupportedBooster(
            f"categorical split threshold {threshold!r} is not 'a||b||c'"
        ) from err


def _build_tree(root: dict[str, Any], names: list[str]) -> DecisionTreeNode | None:
    """One dumped tree (``tree_structure``) as a woodelf node tree; None for a single leaf."""
    if "split_index" not in root:
        return None
    counter = 0
    nodes: list[DecisionTreeNode] = []

    def make(d: dict[str, Any]) -> DecisionTreeNode:
        nonlocal counter
        index, counter = counter, counter + 1
        if "split_index" not in d:
            if "leaf_coeff" in d:
                raise UnsupportedBooster("linear trees (linear_tree=true) are not supported")
            node = DecisionTreeNode(
                None, float(d["leaf_value"]), None, None, index=index, cover=float(d["leaf_count"])
            )
        elif d["decision_type"] == "<=":
            node = LgbNumericNode(
                names[d["split_feature"]],
                _numeric_threshold(d["threshold"]),
                str(d["missing_type"]),
                bool(d["default_left"]),
                index,
                float(d["internal_count"]),
            )
        elif d["decision_type"] == "==":
            node = LgbCategoricalNode(
                names[d["split_feature"]],
                _parse_categories(d["threshold"]),
                index,
                float(d["internal_count"]),
            )
        else:
            raise UnsupportedBooster(f"split with decision_type={d['decision_type']!r}")
        nodes.append(node)
        return node

    # breadth-first numbering (woodelf expects indexes to increase along BFS)
    top = make(root)
    queue = [(top, root)]
    while queue:
        node, d = queue.pop(0)
        if "split_index" not in d:
            continue
        node.left, node.right = make(d["left_child"]), make(d["right_child"])
        node.left.parent = node.right.parent = node
        queue += [(node.left, d["left_child"]), (node.right, d["right_child"])]
    top.depth = top.get_depth()
    return top


def lightgbm_input(X: np.ndarray) -> np.ndarray:
    """``X`` as LightGBM's predictor sees it: values with ``|x| <= 1e-35`` read as 0.0 (its dense
    reader keeps only non-zero entries), NaN kept. Nodes assume their input went through this."""
    X = np.asarray(X, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        tiny = np.abs(X) <= ZERO_THRESHOLD
    return np.where(tiny, 0.0, X) if tiny.any() else X


def feature_keys(n_features: int) -> list[str]:
    """Column names of the frame woodelf reads (positional, so any feature name is safe)."""
    return [f"f{i}" for i in range(n_features)]


def ensemble_from_dump(dump: dict[str, Any]) -> DecisionTreesEnsemble | None:
    """The woodelf ensemble of a ``booster.dump_model()`` dict; None when no tree has a split.

    Raises ``UnsupportedBooster`` for structures whose TreeSHAP this would not reproduce.
    """
    if int(dump.get("num_tree_per_iteration", 1)) != 1 or int(dump.get("num_class", 1)) != 1:
        raise UnsupportedBooster(
            f"{dump.get('num_tree_per_iteration')} trees per iteration "
            f"(multiclass): only one output is supported"
        )
    if dump.get("average_output"):
        raise UnsupportedBooster("random-forest averaging (average_output) is not supported")
    names = feature_keys(int(dump["max_feature_idx"]) + 1)
    trees = []
    for info in dump["tree_info"]:
        tree = _build_tree(info["tree_structure"], names)
        if tree is not None:
            trees.append(tree)
    return DecisionTreesEnsemble(trees) if trees else None


@functools.lru_cache(maxsize=32)
def _explainer(booster: lgb.Booster) -> tuple[WoodelfExplainer | None, int]:
    """One converted explainer per booster (converting costs about as much as a small chunk)."""
    dump = booster.dump_model()
    ensemble = ensemble_from_dump(dump)
    n = int(dump["max_feature_idx"]) + 1
    if ensemble is None:
        return None, n
    return WoodelfExplainer(ensemble, feature_perturbation="tree_path_dependent"), n


def unsupported_reason(booster: lgb.Booster) -> str | None:
    """Why woodelf cannot explain ``booster`` exactly, or None when it can."""
    try:
        _explainer(booster)
    except UnsupportedBooster as err:
        return str(err)
    return None


def contributions(booster: lgb.Booster, X: np.ndarray) -> np.ndarray:
    """Path-dependent TreeSHAP of ``booster`` on float64 ``X[n, n_features]``, raw-score units.

    Equal to ``booster.predict(X, pred_contrib=True)[:, :n_features]`` (to ~1e-6: woodelf
    accumulates in float32 in places); the base value is not included.
    """
    explainer, n_features = _explainer(booster)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"X must be [n, {n_features}] for this booster, got shape {X.shape}")
    if explainer is None or X.shape[0] == 0:
        return np.zeros(X.shape, dtype=np.float64)
    # column-major: every split reads one column, contiguous columns compare ~5x faster
    frame = pd.DataFrame(
        np.asfortranarray(lightgbm_input(X)), columns=feature_keys(n_features), copy=False
    )
    values = explainer.shap_values(frame, verbose=False)
    return np.asarray(values, dtype=np.float64)
