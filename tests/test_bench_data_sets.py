"""The bench's second generator (bench.deep_data) and its scikit-learn reference models
(bench.references): what each data set holds and how the references read the ids."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from pipeline import sample_data
from pipeline.bench import deep_data, references


def test_deep_data_is_easyrec_rows_of_small_id_spaces_with_a_crossed_click_logit():
    rows, logits = deep_data.generate(20_000, seed=1)
    assert rows == deep_data.generate_rows(20_000, seed=1)  # deterministic
    assert rows != deep_data.generate_rows(20_000, seed=2)
    columns = [r.split(",") for r in rows]
    assert {len(c) for c in columns} == {len(sample_data.COLUMNS)} == {20}
    col = {name: i for i, name in enumerate(sample_data.COLUMNS)}
    clicks = np.array([int(c[0]) for c in columns])
    assert 0.05 < clicks.mean() < 0.12
    # Every user and ad recurs often (unlike sample_data's Zipf-popular id spaces).
    for name in ("user_id", "adgroup_id", "cate_id"):
        counts = Counter(c[col[name]] for c in columns)
        assert min(counts.values()) >= 20, name
    # The planted logit is what a perfect model scores; no column has an effect of its
    # own, so the best click rate per value of any one column is far below it.
    truth = roc_auc_score(clicks, logits)
    assert truth > 0.85
    for name in ("user_id", "cate_id", "brand", "price"):
        values = np.array([c[col[name]] for c in columns])
        rate = {v: clicks[values == v].mean() for v in set(values)}
        alone = roc_auc_score(clicks, [rate[v] for v in values])  # in-sample, an upper bound
        assert alone < truth - 0.15, name
    with pytest.raises(ValueError):
        deep_data.generate_rows(0)


def test_references_read_the_transformed_ids_as_one_hot_columns():
    def ids(rows: list[list[int]]) -> tf.SparseTensor:
        return tf.RaggedTensor.from_row_lengths(
            tf.constant([i for r in rows for i in r], tf.int64), [len(r) for r in rows]
        ).to_sparse()

    features = {"a_ids": ids([[0], [2], []]), "t_ids": ids([[1, 1, 3], [], [0]])}
    matrix = references.one_hot(features, {"a": 3, "t": 4}, rows=3).toarray()
    # Columns: a's 3 ids, then t's 4; a tag token present twice is one.
    assert matrix.tolist() == [[1, 0, 0, 0, 1, 0, 1], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0]]


def test_references_score_both_models_once_per_seed():
    rng = np.random.default_rng(0)
    n = 600
    a = rng.integers(0, 5, n)
    labels = (rng.random(n) < np.where(a < 2, 0.6, 0.1)).astype(int)

    def features(values):
        return {"a_ids": tf.RaggedTensor.from_row_lengths(
            tf.constant(values, tf.int64), [1] * len(values)).to_sparse()}  # fmt: skip

    def score(y, p, users):
        return {"auc": roc_auc_score(y, p), "gauc": 0.0}

    out = references.score_references(
        features(a[:400]), labels[:400], features(a[400:]), labels[400:],
        np.zeros(200), {"a": 5}, [0, 1], score, log=lambda _: None,
    )  # fmt: skip
    lr, mlp = out[references.SKLEARN_LR]["auc"], out[references.SKLEARN_MLP]["auc"]
    assert len(lr) == len(mlp) == 2 and lr[0] == lr[1]  # deterministic, repeated per seed
    assert min(lr + mlp) > 0.7  # both learn the one planted effect
