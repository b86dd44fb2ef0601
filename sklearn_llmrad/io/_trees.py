"""Fitted trees in a model file: scikit-learn's tree arrays and LightGBM's model text, checked before use.

scikit-learn's ``Tree`` (a decision tree's, and each tree of a forest or of
extra-trees) is rebuilt by skops from its arrays; scikit-learn checks their
dtypes and shapes, but prediction follows the child and feature indices without
bounds checks (skops therefore never trusts it by default). :func:`check_sklearn_trees`
accepts a tree only when its node count is its capacity, its split features exist
and its children form one binary tree (each node the child of exactly one node
numbered before it), before anything predicts with it.

A fitted :class:`lightgbm.LGBMClassifier` holds a ``Booster``: a handle to
LightGBM's C++ model, whose own serialisation (what its ``__getstate__`` gives
pickle) is LightGBM's model text (header, one block of numbers per tree,
feature importances, the training parameters). The classifier is stored by skops
like a scikit-learn estimator, with that text in place of the ``Booster``
(``booster_attribute``) and its fitted dictionaries as plain ones. On load the
text is read line by line and accepted only in the grammar LightGBM writes for
a binary classifier of numeric features: known keys only, counts and ranges
that agree (split features below the number of features, children that form one
binary tree, declared tree sizes equal to the blocks), no categorical splits,
linear trees, file names or pandas categories; only then does LightGBM's parser
see it. The text is data (numbers and names): nothing in it is run.
"""

from __future__ import annotations

import copy
import math
import re
from collections import OrderedDict, defaultdict
from types import BuiltinFunctionType, FunctionType, ModuleType

import numpy as np

from .values import LIGHTGBM_CLASSIFIER, MAX_LIGHTGBM_LEAVES, ModelFileError, UnsafeModelError

#: scikit-learn's tree class, by the exact name skops writes (checked by :func:`check_sklearn_trees`).
SKLEARN_TREE = "sklearn.tree._tree.Tree"
_MAX_WALK_DEPTH = 32

#: The LightGBM classes a model file may hold, by exact dotted name.
LIGHTGBM_CLASSES = frozenset({LIGHTGBM_CLASSIFIER})
#: The fitted attribute that holds the ``Booster`` (LightGBM's model text in a file).
BOOSTER_ATTRIBUTE = "_Booster"
_DICT_ATTRIBUTES = ("_best_score", "_evals_result")

_HEADER = ("version", "num_class", "num_tree_per_iteration", "label_index", "max_feature_idx", "objective")
_HEADER_LISTS = ("feature_names", "feature_infos", "tree_sizes")
_INTERNAL_FLOATS = ("split_gain", "threshold", "internal_value", "internal_weight")
_LEAF_FLOATS = ("leaf_value", "leaf_weight")
_TREE_KEYS = {
    "num_leaves", "num_cat", "split_feature", "decision_type", "left_child", "right_child", "leaf_count",
    "internal_count", "is_linear", "shrinkage", *_INTERNAL_FLOATS, *_LEAF_FLOATS,
}  # fmt: skip
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?inf")
_INFO = re.compile(r"none|\[[^:\s\]]+:[^:\s\]]+\]")
_PARAMETER = re.compile(r"\[([a-z0-9_]+): ([^\n]*)\]")
# parameters that name files or machines: a genuine file leaves them empty
_END = ["", "end of parameters", ""]
_FILE_PARAMETERS = {"data", "valid", "input_model", "output_model", "output_result", "convert_model", "machines"}
_FILE_SUFFIXES = ("_filename", "_file", "_path")


def is_lightgbm(est):
    """Whether ``est`` is one of :data:`LIGHTGBM_CLASSES` (exactly that class)."""
    cls = type(est)
    return f"{cls.__module__}.{cls.__qualname__}" in LIGHTGBM_CLASSES


def for_file(est):
    """A shallow copy of a LightGBM classifier with its Booster as model text and plain dictionaries."""
    out = copy.copy(est)
    booster = vars(est).get(BOOSTER_ATTRIBUTE)
    if booster is not None:
        text = booster.model_to_string(num_iteration=-1)
        try:  # what load would refuse is not written (a multi-class model, categorical splits)
            check_model_text(text, n_features=est.n_features_in_, where=type(est).__name__)
        except UnsafeModelError as exc:
            raise TypeError(f"cannot save this LightGBM model, which a model file could not load: {exc}") from exc
        out.__dict__[BOOSTER_ATTRIBUTE] = text
    for name in _DICT_ATTRIBUTES:
        if name in vars(est):
            out.__dict__[name] = _plain(vars(est)[name])
    return out


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def restore(est, *, where):
    """Rebuild the Booster of a LightGBM classifier skops built, from checked model text."""
    from lightgbm import Booster

    other = vars(est).get("_other_params", {})
    named = [k for k in vars(est) if type(k) is not str or _names_a_file(k)]
    if type(other) is not dict or named or any(type(k) is not str or _names_a_file(k) for k in other):
        # LightGBM hands these to its C++ configuration (files to read or write, machines to reach)
        raise UnsafeModelError(f"{where}: LGBMClassifier names files or machines in its parameters; refusing to load")
    text = vars(est).get(BOOSTER_ATTRIBUTE)
    best = vars(est).get("_best_score")
    if best is not None:
        if type(best) is not dict or any(type(v) is not dict for v in best.values()):
            raise UnsafeModelError(f"{where}: LGBMClassifier._best_score is not a dict of dicts; refusing to load")
        est.__dict__["_best_score"] = defaultdict(OrderedDict, {k: OrderedDict(v) for k, v in best.items()})
    if text is None:
        if vars(est).get("fitted_"):
            raise UnsafeModelError(f"{where}: a fitted LGBMClassifier without its trees; refusing to load")
        return est
    n_features = vars(est).get("_n_features")
    if type(text) is not str or type(n_features) is not int or n_features < 1:
        raise UnsafeModelError(f"{where}: LGBMClassifier holds no model text for its features; refusing to load")
    n_trees = check_model_text(text, n_features=n_features, where=where)
    try:
        booster = Booster(model_str=text)
    except Exception as exc:  # lightgbm.basic.LightGBMError and the like
        raise ModelFileError(f"{where}: LightGBM cannot read the model text ({exc})") from exc
    if booster.num_trees() != n_trees or booster.num_feature() != n_features:
        raise UnsafeModelError(f"{where}: LightGBM read other trees than the model text holds; refusing to load")
    best_iteration = vars(est).get("_best_iteration", 0)
    if type(best_iteration) is not int or not 0 <= best_iteration <= n_trees:
        raise UnsafeModelError(f"{where}: LGBMClassifier._best_iteration is not an iteration; refusing to load")
    booster.best_iteration = best_iteration
    est.__dict__[BOOSTER_ATTRIBUTE] = booster
    return est


def _names_a_file(key):
    return key in _FILE_PARAMETERS or key.endswith(_FILE_SUFFIXES)


def check_model_text(text, *, n_features, where):
    """Check LightGBM model text in the grammar of a binary classifier; returns the number of trees."""

    def refuse(why):
        raise UnsafeModelError(f"{where}: LightGBM model text {why}; refusing to load")

    head, sep, rest = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or lines[0] != "tree":
        refuse("does not start with a tree header")
    header = _key_values(lines[1:], refuse, "header")
    if set(header) != {*_HEADER, *_HEADER_LISTS}:
        refuse(f"has header keys {sorted(header)}")
    expected = {"version": "v4", "num_class": "1", "num_tree_per_iteration": "1", "label_index": "0"}
    if any(header[k] != v for k, v in expected.items()) or header["max_feature_idx"] != str(n_features - 1):
        refuse("is not a binary classifier of the stored number of features")
    if not re.fullmatch(r"binary sigmoid:" + _FLOAT.pattern, header["objective"]):
        refuse(f"has the objective {header['objective'][:40]!r}")
    names, infos = header["feature_names"].split(" "), header["feature_infos"].split(" ")
    if len(names) != n_features or len(infos) != n_features or not all(_INFO.fullmatch(i) for i in infos):
        refuse("names or describes another number of features, or a categorical one")
    sizes = _numbers(header["tree_sizes"], int, refuse, "tree sizes")
    trees, sep, tail = rest.partition("end of trees\n")
    if not sep:
        refuse("has no end of trees")
    offset, trees = 0, trees.encode()
    for index, size in enumerate(sizes):
        block = trees[offset : offset + size].decode("utf-8", errors="replace")
        if size < 1 or not block.startswith(f"Tree={index}\n") or not block.endswith("\n\n\n"):
            refuse(f"declares a size for tree {index} that is not its block")
        _check_tree(block.split("\n")[1:-3], n_features, refuse, index)
        offset += size
    if offset != len(trees):
        refuse("holds more than its declared trees")
    _check_tail(tail, refuse)
    return len(sizes)


def _key_values(lines, refuse, what):
    out = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or key in out or not re.fullmatch(r"[a-z_]+", key):
            refuse(f"has the {what} line {line[:40]!r}")
        out[key] = value
    return out


def _numbers(value, kind, refuse, what, count=None):
    parts = value.split(" ") if value else []
    if count is not None and len(parts) != count:
        refuse(f"has {len(parts)} {what}, not {count}")
    if kind is int:
        if not all(re.fullmatch(r"-?\d{1,12}", p) for p in parts):
            refuse(f"has {what} that are not integers")
        return [int(p) for p in parts]
    if not all(_FLOAT.fullmatch(p) for p in parts):
        refuse(f"has {what} that are not numbers")
    return [float(p) for p in parts]


def _check_tree(lines, n_features, refuse, index):
    tree = _key_values(lines, refuse, f"tree {index}")
    if set(tree) != _TREE_KEYS:
        refuse(f"has tree {index} with keys {sorted(tree)} (categorical or linear trees are refused)")
    (leaves,) = _numbers(tree["num_leaves"], int, refuse, "leaf counts", 1)
    if not 1 <= leaves <= MAX_LIGHTGBM_LEAVES or tree["num_cat"] != "0" or tree["is_linear"] != "0":
        refuse(f"has tree {index} with {leaves} leaves, categorical splits or linear leaves")
    nodes = leaves - 1
    for key in _INTERNAL_FLOATS:
        _numbers(tree[key], float, refuse, key, nodes)
    for key in _LEAF_FLOATS:
        values = _numbers(tree[key], float, refuse, key, leaves if tree[key] or nodes else None)
        if not all(math.isfinite(v) for v in values):
            refuse(f"has a {key} of tree {index} that is not finite")
    _numbers(tree["shrinkage"], float, refuse, "shrinkages", 1)
    _numbers(tree["leaf_count"], int, refuse, "leaf counts", leaves)
    _numbers(tree["internal_count"], int, refuse, "internal counts", nodes)
    features = _numbers(tree["split_feature"], int, refuse, "split features", nodes)
    kinds = _numbers(tree["decision_type"], int, refuse, "decision types", nodes)
    if any(not 0 <= f < n_features for f in features):
        refuse(f"splits tree {index} on a feature it does not have")
    # bit 0: categorical (refused); bit 1: missing values go left; bits 2-3: the missing type (0-2)
    if any(not 0 <= k < 16 or k & 1 or (k >> 2) & 3 == 3 for k in kinds):
        refuse(f"has a decision type of tree {index} that is not a numeric split")
    left = _numbers(tree["left_child"], int, refuse, "left children", nodes)
    right = _numbers(tree["right_child"], int, refuse, "right children", nodes)
    # one binary tree: node 0 the root, each other node and each leaf the child of exactly one
    # node before it (LightGBM numbers a split after the node it splits), so no cycle
    seen_nodes, seen_leaves = set(), set()
    for parent, children in enumerate(zip(left, right, strict=True)):
        for child in children:
            if child >= 0 and parent < child < nodes and child not in seen_nodes:
                seen_nodes.add(child)
            elif child < 0 and ~child < leaves and ~child not in seen_leaves:
                seen_leaves.add(~child)
            else:
                refuse(f"has tree {index} whose children do not form a binary tree")
    if len(seen_nodes) != max(nodes - 1, 0) or len(seen_leaves) != (leaves if nodes else 0):
        refuse(f"has tree {index} whose children do not form a binary tree")


def _check_tail(tail, refuse):
    lines = tail.split("\n")
    if lines[:2] != ["", "feature_importances:"]:
        refuse("has no feature importances after its trees")
    i = 2
    while i < len(lines) and lines[i]:
        if not re.fullmatch(r"[^\n]+=\d{1,12}", lines[i]):
            refuse(f"has the feature importance {lines[i][:40]!r}")
        i += 1
    if lines[i : i + 2] != ["", "parameters:"]:
        refuse("has no parameters after its feature importances")
    i += 2
    while i < len(lines) and lines[i]:
        match = _PARAMETER.fullmatch(lines[i])
        if not match:
            refuse(f"has the parameter line {lines[i][:40]!r}")
        key, value = match.groups()
        if value and _names_a_file(key):
            refuse(f"names a file or machine in its parameter {key!r}")
        i += 1
    if lines[i:] not in ([*_END, "pandas_categorical:[]", ""], [*_END, "pandas_categorical:null", ""]):
        refuse("does not end with its parameters and no pandas categories")


def check_sklearn_trees(est, *, where, expected=None):
    """Check every scikit-learn ``Tree`` that ``est`` holds, wherever it holds it.

    The walk goes through estimators, containers, object arrays and every other
    object with attributes (a calibrator's estimator); a structure deeper than it
    goes is refused. ``expected``: how many trees the payload builds (its schema);
    the file is refused unless the walk found and checked each of them.
    """
    checked = {}
    for owner, link, tree in _sklearn_trees(est, where):
        name = f"{where}: {type(owner).__name__}.tree_"
        _check_sklearn_tree(tree, _n_features(owner, link, name), name)
        checked[id(tree)] = tree
    if expected is not None and len(checked) != expected:
        raise UnsafeModelError(
            f"{where}: the payload holds {expected} scikit-learn trees, {len(checked)} of them where an estimator "
            "uses them; refusing to load"
        )
    return est


def count_sklearn_trees(schema):
    """How many ``Tree`` objects a skops schema builds (nodes sharing an ``__id__`` are one object)."""
    ids, unnamed, stack = set(), 0, [schema]
    while stack:
        obj = stack.pop()
        if type(obj) is dict:
            if f"{obj.get('__module__')}.{obj.get('__class__')}" == SKLEARN_TREE:
                if obj.get("__id__"):
                    ids.add(repr(obj["__id__"]))
                else:
                    unnamed += 1
            stack.extend(obj.values())
        elif type(obj) is list:
            stack.extend(obj)
    return len(ids) + unnamed


def _n_features(owner, link, where):
    """The number of features a tree of ``owner`` must have: its estimator's, the same as its ensemble's."""

    def refuse(why):
        raise UnsafeModelError(f"{where} {why}; refusing to load")

    n = vars(owner).get("n_features_in_")
    if type(n) is not int or n < 1:
        # without it scikit-learn does not check the width of what it predicts on
        refuse(f"belongs to an estimator whose n_features_in_ is {n!r:.40}, not a number of features")
    parent, attribute = link
    if parent is None or not type(parent).__module__.startswith("sklearn."):
        return n
    if attribute == "estimators_" and "estimators_features_" in vars(parent):
        # bagging: each estimator sees its own columns of what the ensemble was given
        features = vars(parent)["estimators_features_"]
        if type(features) is not list or any(np.ndim(f) != 1 or len(f) != n for f in features):
            refuse("belongs to a bagging ensemble whose feature subsets are not of its width")
    elif attribute in _SAME_INPUT:
        # an ensemble hands its own, checked input on (a forest without checking it again)
        outer = vars(parent).get("n_features_in_")
        if type(outer) is not int or outer != n:
            refuse(f"has {n} features, its ensemble {type(parent).__name__} {outer!r:.40}")
    return n


# attributes through which a scikit-learn ensemble holds estimators fitted on its own input
_SAME_INPUT = frozenset({"estimators_", "calibrated_classifiers_"})


def _sklearn_trees(root, where):
    """``(owner, (its enclosing estimator, the attribute holding it), tree)`` for every ``Tree`` reachable."""
    from sklearn.base import BaseEstimator
    from sklearn.tree._tree import Tree

    seen = set()
    # (value, depth, nearest estimator, its link, the attribute of that estimator we are under)
    stack = [(root, 0, None, (None, None), None)]
    while stack:
        obj, depth, owner, link, attribute = stack.pop()
        if type(obj) is Tree:
            if owner is None:
                raise UnsafeModelError(f"{where}: holds a scikit-learn tree outside an estimator; refusing to load")
            yield owner, link, obj
            continue
        if obj is None or type(obj) in (bool, int, float, complex, str, bytes) or isinstance(obj, np.generic):
            continue
        key = (id(obj), id(owner), attribute)
        if key in seen:
            continue
        seen.add(key)
        if depth > _MAX_WALK_DEPTH:
            raise UnsafeModelError(
                f"{where}: nests objects more than {_MAX_WALK_DEPTH} levels deep, deeper than its trees are looked "
                "for; refusing to load"
            )
        if isinstance(obj, BaseEstimator):
            inner = (obj, (owner, attribute))
            stack.extend((v, depth + 1, *inner, k) for k, v in vars(obj).items())
            continue
        if type(obj) in (list, tuple, set, frozenset):
            values = list(obj)
        elif type(obj) is dict:
            values = [*obj.keys(), *obj.values()]
        elif type(obj) is np.ndarray:
            values = obj.ravel().tolist() if obj.dtype == object else []
        elif isinstance(obj, (type, ModuleType, FunctionType, BuiltinFunctionType)):
            values = []
        else:  # any other object (a calibrator): its attributes
            values = list(getattr(obj, "__dict__", {}).values())
        stack.extend((v, depth + 1, owner, link, attribute) for v in values)


def _check_sklearn_tree(tree, n_features, where):
    def refuse(why):
        raise UnsafeModelError(f"{where} {why}; refusing to load")

    n_nodes = tree.node_count
    if not 0 < n_nodes == tree.capacity:  # the node arrays are read up to node_count
        refuse(f"declares {n_nodes} nodes in room for {tree.capacity}")
    if tree.n_features != n_features:
        refuse(f"has {tree.n_features} features, its estimator {n_features}")
    if not 0 <= tree.max_depth < n_nodes:
        refuse(f"has a depth of {tree.max_depth} for {n_nodes} nodes")
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    leaf = (left == -1) & (right == -1)
    index = np.arange(n_nodes)
    internal = ~leaf
    # each split: two children numbered after it (scikit-learn adds a node after its parent) and
    # a feature of the tree; each node but the root the child of exactly one split
    if not (
        np.all((left[internal] > index[internal]) & (left[internal] < n_nodes))
        and np.all((right[internal] > index[internal]) & (right[internal] < n_nodes))
        and np.all((feature[internal] >= 0) & (feature[internal] < tree.n_features))
    ):
        refuse("has a split whose children or feature lie outside the tree")
    children = np.concatenate([left[internal], right[internal]])
    if len(children) != n_nodes - 1 or len(np.unique(children)) != n_nodes - 1:
        refuse("has nodes whose children do not form one binary tree")
