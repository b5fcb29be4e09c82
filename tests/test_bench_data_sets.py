"""The bench's second generator (bench.deep_data) and its scikit-learn reference models
(bench.references): what each data set holds and how the references read the ids."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import rocket_logistic
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
    matrix = rocket_logistic.one_hot(features, {"a": 3, "t": 4}, rows=3).toarray()
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

    out = references.predict_references(
        features(a[:400]), labels[:400], features(a[400:]), 200, {"a": 5}, [0, 1],
        log=lambda _: None,
    )  # fmt: skip
    lr, mlp = (
        [roc_auc_score(labels[400:], p) for p in out.predictions[kind]]
        for kind in (references.SKLEARN_LR, references.SKLEARN_MLP)
    )
    assert len(lr) == len(mlp) == 2 and lr[0] == lr[1]  # deterministic, repeated per seed
    assert min(lr + mlp) > 0.7  # both learn the one planted effect
    assert out.lr_c in references.LR_CS


def test_the_logistic_regression_chooses_its_l2_by_cross_validation():
    """Many ids seen ~2 times that carry no signal: scikit-learn's default C=1 fits them,
    the cross-validated choice regularises more and ranks the eval rows better."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    n, train = 3000, 2100
    a, noise = rng.integers(0, 5, n), rng.integers(0, 1000, n)
    labels = (rng.random(n) < np.where(a < 2, 0.5, 0.2)).astype(int)
    sizes = {"a": 5, "n": 1000}

    def features(rows):
        return {f"{name}_ids": tf.RaggedTensor.from_row_lengths(
            tf.constant(values[rows], tf.int64), [1] * len(values[rows])).to_sparse()
            for name, values in (("a", a), ("n", noise))}  # fmt: skip

    fit_rows, eval_rows = slice(0, train), slice(train, n)
    out = references.predict_references(
        features(fit_rows), labels[fit_rows], features(eval_rows), n - train, sizes, [0],
        log=lambda _: None,
    )  # fmt: skip
    assert out.lr_c in references.LR_CS and out.lr_c < 1.0
    default = LogisticRegression(max_iter=2000).fit(
        rocket_logistic.one_hot(features(fit_rows), sizes, train), labels[fit_rows]
    )
    eval_x = rocket_logistic.one_hot(features(eval_rows), sizes, n - train)
    chosen = out.predictions[references.SKLEARN_LR][0]
    assert roc_auc_score(labels[eval_rows], chosen) > roc_auc_score(
        labels[eval_rows], default.predict_proba(eval_x)[:, 1]
    )


def test_folds_place_each_row_once_and_keep_a_users_rows_together():
    """bench.data.fold_of: a row's fold depends on its content alone (not the order it
    comes in), the folds cover the rows about evenly, and by user every row of a user is
    in one fold; one fold's rows are what a single split would not pick by its own hash."""
    import rocket_seed

    from pipeline.bench.data import fold_of, in_eval, parse_rows

    rows = sample_data.generate_rows(3000, seed=4)
    lines = [("generated", i + 1, r.encode()) for i, r in enumerate(rows)]
    examples = list(parse_rows(lines, rocket_seed.default_config()))
    folds = [fold_of(e, 5, by_user=False) for e in examples]
    assert folds == [fold_of(e, 5, by_user=False) for e in examples[::-1]][::-1]
    sizes = Counter(folds)
    assert sorted(sizes) == [0, 1, 2, 3, 4] and min(sizes.values()) > 0.8 * 3000 / 5
    by_user: dict[str, set[int]] = {}
    for e in examples:
        user = e.features.feature["user_id"].bytes_list.value[0]
        by_user.setdefault(user, set()).add(fold_of(e, 5, by_user=True))
    assert len(by_user) > 100 and all(len(f) == 1 for f in by_user.values())
    # The single split is a different draw of the same hash: ~20% of rows, any fold.
    picked = [in_eval(e, 0.2, by_user=False) for e in examples]
    assert 0.15 < np.mean(picked) < 0.25
    assert len({f for f, p in zip(folds, picked) if p}) == 5
