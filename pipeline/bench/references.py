"""Reference models from a well-kept library, on the same split as our variants:
scikit-learn's LogisticRegression and MLPClassifier on one-hot columns of the transformed
ids, so every quality table says how far the nets are from a plain MLP and whether our
linear baseline is as well trained as a standard logistic regression.

The columns are the Transform's own ids (the same vocabularies, OOV buckets and tag
tokens the nets embed), one column per id and feature, 1 where a row has that id (a tag
list sets one column per distinct token). scikit-learn is installed with TFX.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

SKLEARN_LR = "sklearn_logistic_regression"
SKLEARN_MLP = "sklearn_mlp"
# scikit-learn's defaults but for these: enough iterations to converge on ~10^4 columns,
# the MLP's one hidden layer of 64 (the reference), with its own early stop.
LR_OPTIONS = {"max_iter": 2000}
MLP_OPTIONS = {"hidden_layer_sizes": (64,), "early_stopping": True}
NOTES = {
    SKLEARN_LR: "scikit-learn LogisticRegression(max_iter=2000), one-hot transformed ids",
    SKLEARN_MLP: "scikit-learn MLPClassifier((64,), early_stopping=True, random_state=seed), "
    "one-hot transformed ids",
}


def one_hot(features: dict, table_sizes: dict[str, int], rows: int):
    """A CSR matrix (rows x the sum of the table sizes) of transformed features: each
    feature's SparseTensor of ids becomes its block of 0/1 columns."""
    import scipy.sparse as sp

    blocks = []
    for name in sorted(table_sizes):
        ids = features[f"{name}_ids"]
        row = ids.indices.numpy()[:, 0]
        column = ids.values.numpy()
        block = sp.csr_matrix(
            (np.ones(len(column), np.float32), (row, column)), shape=(rows, table_sizes[name])
        )
        block.data[:] = 1.0  # duplicates were summed: a tag token present is one
        blocks.append(block)
    return sp.hstack(blocks, format="csr")


def fit_and_score(train_x, train_y, eval_x, seed: int, kind: str) -> np.ndarray:
    """Click probabilities of one reference model trained on (train_x, train_y)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    if kind == SKLEARN_LR:
        model = LogisticRegression(**LR_OPTIONS)
    else:
        model = MLPClassifier(**MLP_OPTIONS, random_state=seed)
    model.fit(train_x, train_y)
    return model.predict_proba(eval_x)[:, 1]


def predict_references(
    train_features: dict,
    train_labels: np.ndarray,
    eval_features: dict,
    eval_rows: int,
    table_sizes: dict[str, int],
    seeds: list[int],
    log: Callable[[str], None] = print,
) -> dict[str, list[np.ndarray]]:
    """Each reference model's eval click probabilities, one array per seed. The logistic
    regression is deterministic (lbfgs), so it is fitted once and its predictions
    repeated per seed, which keeps every variant's spread over the same seeds."""
    train_y = np.asarray(train_labels)
    train_x = one_hot(train_features, table_sizes, len(train_y))
    eval_x = one_hot(eval_features, table_sizes, eval_rows)
    results: dict[str, list[np.ndarray]] = {SKLEARN_LR: [], SKLEARN_MLP: []}
    for seed in seeds:
        for kind in (SKLEARN_LR, SKLEARN_MLP):
            started = time.time()
            if kind == SKLEARN_LR and results[kind]:
                results[kind].append(results[kind][0])
                continue
            results[kind].append(fit_and_score(train_x, train_y, eval_x, seed, kind))
            log(f"[bench] {kind} seed {seed}: fitted ({time.time() - started:.0f}s)")
    return results
