"""scikit-learn's logistic regression on one-hot columns of the transformed ids: the
regularisation of the linear baseline on small logs, and the bench's reference.

The columns are the Transform's own ids (the same vocabularies, OOV buckets and tag
tokens the nets embed), one column per id and feature, 1 where a row has that id (a tag
list sets one column per distinct token): the inputs of the linear baseline
(rocket_config.LINEAR_MODEL), so an L2 strength chosen here means the same there.

Why scikit-learn: its LogisticRegressionCV chooses C by 5-fold cross-validation in
seconds on a small log's rows, where our own loop would train 35 models. No single C fits
every log (measured on the bench's splits: generated rows chose 0.03-0.1, deep_data 0.3
to 1, the real sample 0.3-10; docs/benchmarks.md, "The linear baseline's L2 chosen by
cross-validation"), and a baseline under- or over-regularised for its log flatters the
nets. scikit-learn is installed with TFX.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf
from rocket_preprocessing import transformed_name

# The inverse L2 strengths, 0.01 to 10, one of them chosen by LogisticRegressionCV: 5
# stratified folds of the train rows (unshuffled: deterministic), scored by AUC (what the
# bench and the gate compare), then refitted on all of them. scikit-learn's defaults but
# for these: enough iterations to converge on ~10^4 columns.
CS = tuple(float(c) for c in np.logspace(-2, 1, 7))
OPTIONS = {"Cs": list(CS), "cv": 5, "scoring": "roc_auc", "max_iter": 2000}
CHOICE = f"{OPTIONS['cv']}-fold cross-validation"  # how C is chosen, as logs say it


def one_hot(features: dict, table_sizes: dict[str, int], rows: int):
    """A CSR matrix (rows x the sum of the table sizes) of transformed features: each
    feature's SparseTensor of ids becomes its block of 0/1 columns."""
    import scipy.sparse as sp

    blocks = []
    for name in sorted(table_sizes):
        ids = features[transformed_name(name)]
        row = ids.indices.numpy()[:, 0]
        column = ids.values.numpy()
        block = sp.csr_matrix(
            (np.ones(len(column), np.float32), (row, column)), shape=(rows, table_sizes[name])
        )
        block.data[:] = 1.0  # duplicates were summed: a tag token present is one
        blocks.append(block)
    return sp.hstack(blocks, format="csr")


def one_hot_rows(dataset: tf.data.Dataset, table_sizes: dict[str, int]):
    """(one-hot CSR matrix, labels) of a finite dataset of (features, label) batches."""
    import scipy.sparse as sp

    matrices, labels = [], []
    for features, label in dataset:
        label = np.reshape(label.numpy(), [-1])
        matrices.append(one_hot(features, table_sizes, len(label)))
        labels.append(label)
    if not matrices:
        raise ValueError("no rows to fit a logistic regression on")
    return sp.vstack(matrices, format="csr"), np.concatenate(labels).astype(np.int64)


def content_order(train_x, train_y) -> np.ndarray:
    """The rows sorted by a hash of their columns and label. LogisticRegressionCV's folds
    are consecutive rows, and the order the rows are read in is the order Beam wrote the
    transformed files, which changes from run to run: on the same 20,000 deep_data rows
    two runs chose C 0.316 and 1.0. In this order the same rows give the same folds."""
    keys = [
        hashlib.blake2b(
            train_x.indices[start:end].tobytes() + bytes([int(label)]), digest_size=8
        ).digest()
        for start, end, label in zip(train_x.indptr[:-1], train_x.indptr[1:], train_y)
    ]
    return np.argsort(np.frombuffer(b"".join(keys), ">u8"), kind="stable")


def cross_validated(train_x, train_y):
    """scikit-learn's LogisticRegressionCV over CS, fitted on (train_x, train_y) in
    content_order: the same rows, in any order, give the same C and model."""
    from sklearn.linear_model import LogisticRegressionCV

    train_x = train_x.tocsr()
    train_x.sort_indices()
    order = content_order(train_x, np.asarray(train_y))
    return LogisticRegressionCV(**OPTIONS).fit(train_x[order], np.asarray(train_y)[order])


@dataclass(frozen=True)
class L2Choice:
    """The C cross-validation chose on `rows` rows, and the same strength in our terms:
    weight_regularization s adds s/2 * sum(w^2) to the mean loss, scikit-learn's C adds
    1/2 * sum(w^2) to C times the summed loss, so s = 1 / (C * rows). With it, the
    logistic regression LogisticRegressionCV refitted at that C on those rows: one
    coefficient per one-hot column (one_hot's order) and the intercept."""

    c: float
    rows: int
    clicks: int
    seconds: float
    coefficients: np.ndarray = field(repr=False, compare=False)
    intercept: float

    @property
    def weight_regularization(self) -> float:
        return 1.0 / (self.c * self.rows)

    def as_dict(self) -> dict:
        return {"C": self.c, "rows": self.rows, "Cs": list(CS), "folds": OPTIONS["cv"],
                "seconds": round(self.seconds, 1)}  # fmt: skip


def choose_l2(dataset: tf.data.Dataset, table_sizes: dict[str, int]) -> L2Choice:
    """The L2 strength LogisticRegressionCV chooses on the rows of `dataset` (finite)."""
    started = time.time()
    train_x, train_y = one_hot_rows(dataset, table_sizes)
    clicks = int(train_y.sum())
    if clicks < OPTIONS["cv"] or len(train_y) - clicks < OPTIONS["cv"]:
        raise ValueError(
            f"{len(train_y)} rows with {clicks} clicks: too few of each class for "
            f"{CHOICE} of the linear baseline's L2 (set train_config "
            "linear_weight_regularization instead)"
        )
    model = cross_validated(train_x, train_y)
    return L2Choice(float(model.C_[0]), len(train_y), clicks, time.time() - started,
                    np.asarray(model.coef_[0], np.float64), float(model.intercept_[0]))  # fmt: skip


def by_feature(coefficients: np.ndarray, table_sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """One-hot coefficients (one_hot's column order: the features' blocks by name) split
    into each feature's weight per id."""
    out, start = {}, 0
    for name in sorted(table_sizes):
        out[name] = coefficients[start : start + table_sizes[name]]
        start += table_sizes[name]
    if start != len(coefficients):
        raise ValueError(f"{len(coefficients)} coefficients for {start} one-hot columns")
    return out
