"""The Rocket Launching model: gradient flow, distillation pairs, training, light-only path."""

import dataclasses

import numpy as np
import pytest
import rocket_blend
import rocket_config
import rocket_memory
import rocket_model
import rocket_optimizers
import rocket_seed
import tensorflow as tf
from rocket_preprocessing import transformed_name

TABLE_SIZE = 30


def small_config(**changes) -> rocket_config.RocketConfig:
    """The product's defaults as the Trainer decides them from SMALL_LOG_MAX_ROWS train
    rows on (DEFAULT_EMBEDDING_REGULARIZATION), unless `changes` set them."""
    changes = {
        "model.embedding_regularization": rocket_config.DEFAULT_EMBEDDING_REGULARIZATION,
        **changes,
    }
    return rocket_config.with_changes(rocket_seed.default_config(), **changes)


def batch(config, size=256, seed=0):
    """Sparse id features (some rows empty, tag lists of several ids) and a label that
    depends on two features' ids jointly."""
    rng = np.random.default_rng(seed)
    features = {}
    for feature in config.model_features():
        lengths = rng.integers(0, 4 if feature.kind == rocket_config.TAG else 2, size)
        values = rng.integers(0, TABLE_SIZE, lengths.sum())
        features[transformed_name(feature.name)] = tf.RaggedTensor.from_row_lengths(
            tf.constant(values, tf.int64), lengths
        ).to_sparse()
    user = tf.sparse.to_dense(features[transformed_name("user_id")], default_value=-1)[:, 0]
    ad = tf.sparse.to_dense(features[transformed_name("cate_id")], default_value=-1)[:, 0]
    label = tf.cast(((user % 3) == (ad % 3)) & (user >= 0), tf.int64)
    return features, label


def build(config):
    sizes = {f.name: TABLE_SIZE for f in config.model_features()}
    return rocket_model.build_model(config, sizes)


def gradients(model, features, label, loss_names):
    with tf.GradientTape() as tape:
        outputs = model(features, training=True)
        losses = model.rocket_losses(outputs, label)
        total = tf.add_n([losses[n] for n in loss_names])
    grads = tape.gradient(total, model.trainable_variables)
    return {v.ref(): g for v, g in zip(model.trainable_variables, grads)}


def refs(*layers) -> list:
    return [v.ref() for layer in layers for v in layer.trainable_variables]


def moved(grad) -> bool:
    if grad is None:
        return False
    if isinstance(grad, tf.IndexedSlices):
        grad = grad.values
    return bool(tf.reduce_any(grad != 0))


def test_hint_loss_sends_no_gradient_to_booster_only_weights():
    config = small_config()
    model = build(config)
    grads = gradients(model, *batch(config), ["hint_loss"])
    booster = refs(model.booster_tower, model.booster_head)
    light_kernels = [layer.kernel.ref() for layer in model.light_tower.dense_layers]
    assert booster and light_kernels
    assert not any(moved(grads[r]) for r in booster)
    assert all(moved(grads[r]) for r in light_kernels)


def test_default_stop_gradient_keeps_light_losses_out_of_share_and_embeddings():
    config = small_config()
    model = build(config)
    grads = gradients(model, *batch(config), ["light_ce", "hint_loss"])
    shared = refs(model.share_tower, model.embeddings)
    assert shared and not any(moved(grads[r]) for r in shared)


def test_paper_variant_lets_light_label_loss_train_the_shared_layers():
    config = small_config(**{"model.light_trains_share": True})
    model = build(config)
    grads = gradients(model, *batch(config), ["light_ce"])
    assert all(moved(grads[r]) for r in refs(model.share_tower) if r.deref().shape.rank == 2)
    assert any(moved(grads[r]) for r in refs(model.embeddings))


def test_distillation_pairs_match_first_booster_layer_of_same_width():
    assert rocket_model.distillation_pairs((128, 64), (256, 128, 96, 64)) == [(0, 1), (1, 3)]
    assert rocket_model.distillation_pairs((32,), (256, 128)) == []


@pytest.mark.parametrize("num_class", [2, 1])
@pytest.mark.parametrize("use_bn", [False, True])
def test_training_lowers_the_losses_and_the_hint_pulls_light_to_booster(num_class, use_bn):
    """The default (no BatchNorm) at the default learning rate; with BatchNorm a faster
    one, so that 60 steps move every term. Without BatchNorm both nets start with logits
    near 0, so the hint loss starts near 0 and grows as they learn: what the hint must
    do is keep the light logits nearer the booster's than training without it does."""
    towers = {
        f"model.{name}": dataclasses.replace(
            getattr(rocket_config.ModelConfig(()), name), use_bn=use_bn
        )
        for name in ("share_dnn", "booster_dnn", "light_dnn")
    }
    learning_rate = 0.01 if use_bn else 0.001
    features, label = batch(small_config(), size=512)

    def trained(hint_weight: float):
        config = small_config(**{"model.num_class": num_class, "model.hint_weight": hint_weight,
                                 "train.learning_rate": learning_rate, **towers})  # fmt: skip
        tf.keras.utils.set_random_seed(0)
        model = build(config)
        # Batch statistics (training=True) on both sides: BatchNorm's moving averages lag
        # behind a few dozen steps and would hide what the weights learned.
        before = model.rocket_losses(model(features, training=True), label)
        step = tf.function(model.train_step)  # traced once, as fit() runs it
        for _ in range(60):
            step((features, label))
        return model, before, model.rocket_losses(model(features, training=True), label)

    def logit_gap(model) -> float:
        outputs = model(features, training=True)
        return float(tf.reduce_mean(tf.square(outputs["booster_logits"] - outputs["light_logits"])))

    model, before, after = trained(1.0)
    # Without BatchNorm the hint term starts near 0 and grows, and the total with it.
    for name in ("light_ce", "booster_ce") + (("hint_loss", "total_loss") if use_bn else ()):
        assert float(after[name]) < float(before[name]), name
    unhinted, _, _ = trained(0.0)
    assert logit_gap(model) < logit_gap(unhinted)
    probabilities = model.net_path(rocket_model.LIGHT)(features)
    assert probabilities.shape == (512,)
    assert bool(tf.reduce_all((probabilities >= 0) & (probabilities <= 1)))


@pytest.mark.parametrize("use_bn", [True, False])
def test_folded_path_serves_the_same_probabilities(use_bn):
    """The exported net (BatchNorms folded into the Dense layers) equals the trained one in
    inference mode."""
    config = small_config(
        **{
            "model.share_dnn": rocket_config.DNNConfig((32, 16), use_bn=use_bn),
            "model.light_dnn": rocket_config.DNNConfig((16,), use_bn=use_bn, dropout_ratio=0.3),
            "train.learning_rate": 0.01,
        }
    )
    model = build(config)
    features, label = batch(config, size=512)
    for _ in range(5):
        model.train_step((features, label))
    # Moving statistics and BatchNorm weights far from their initial 0 / 1.
    rng = np.random.default_rng(3)
    for tower in (model.share_tower, model.light_tower):
        for norm in filter(None, tower.norm_layers):
            for variable, low, high in zip(norm.weights, (0.5, -1, -1, 0.2), (2, 1, 1, 3)):
                variable.assign(rng.uniform(low, high, variable.shape).astype(np.float32))
    light = model.net_path(rocket_model.LIGHT)
    folded = light.folded()
    if use_bn:
        assert len(folded.variables) < len(light.variables)
    np.testing.assert_allclose(folded(features).numpy(), light(features).numpy(), atol=1e-5)
    # The folded towers are copies: training on does not change them.
    before = [v.numpy() for v in folded.share_tower.variables + folded.tower.variables]
    model.train_step((features, label))
    after = [v.numpy() for v in folded.share_tower.variables + folded.tower.variables]
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old, new)


def test_light_path_holds_exactly_the_light_parameters():
    config = small_config()
    model = build(config)
    model(batch(config, size=8)[0])  # create the variables
    light = model.net_path(rocket_model.LIGHT)
    light_refs = {v.ref() for v in light.variables}
    assert not light_refs & {v.ref() for v in model.booster_tower.variables}
    assert not light_refs & {v.ref() for v in model.booster_head.variables}
    emb = sum(TABLE_SIZE * f.embedding_dim for f in config.model_features())
    # Each layer: kernel a*b and bias b (the default DNNs have no BatchNorm).
    dims = [sum(f.embedding_dim for f in config.model_features()), 128, 96, 64]  # share
    share = sum(a * b + b for a, b in zip(dims, dims[1:]))
    light_dims = [64, 128, 64]
    light_tower = sum(a * b + b for a, b in zip(light_dims, light_dims[1:]))
    head = 64 * 2 + 2
    expected = emb + share + light_tower + head
    assert sum(int(np.prod(v.shape)) for v in light.trainable_variables) == expected


def pair_measure(function: str, light: tf.Tensor, booster: tf.Tensor) -> float:
    """How close the pair is, as each function sees it (higher = closer)."""
    if function == "COSINE":
        cos = tf.reduce_sum(tf.nn.l2_normalize(light, 1) * tf.nn.l2_normalize(booster, 1), 1)
        return float(tf.reduce_mean(cos))
    if function == "INNER_PRODUCT":
        return float(tf.reduce_mean(tf.reduce_sum(light * booster, 1)))
    return -float(tf.reduce_mean(tf.norm(light - booster, axis=1)))


@pytest.mark.parametrize("function", ["COSINE", "INNER_PRODUCT", "EUCLID"])
def test_one_distillation_step_pulls_each_light_layer_towards_its_partner(function):
    config = small_config(
        **{
            "model.feature_based_distillation": True,
            "model.feature_distillation_function": function,
        }
    )
    model = build(config)
    features, label = batch(config, size=256, seed=1)
    assert model.pairs == [(0, 1), (1, 3)]

    def measures():
        outputs = model(features, training=True)
        return [
            pair_measure(function, outputs["light_hidden"][i], outputs["booster_hidden"][j])
            for i, j in model.pairs
        ]

    before = measures()
    with tf.GradientTape() as tape:
        outputs = model(features, training=True)
        loss = model.rocket_losses(outputs, label)["distillation_loss"]
    variables = model.trainable_variables
    grads = tape.gradient(loss, variables)
    booster_refs = set(refs(model.booster_tower, model.booster_head))
    assert not any(moved(g) for v, g in zip(variables, grads) if v.ref() in booster_refs)
    tf.keras.optimizers.SGD(learning_rate=0.05).apply_gradients(
        (g, v) for g, v in zip(grads, variables) if g is not None
    )
    after = measures()
    for pair, b, a in zip(model.pairs, before, after):
        assert a > b, f"{function}: light{pair[0]} did not move towards booster{pair[1]}"


def test_embedding_memory_counts_weights_and_the_optimizers_slots():
    config = small_config(
        features=tuple(
            dataclasses.replace(f, embedding_dim=8 if f.name == "user_id" else 16)
            for f in rocket_seed.default_config().features
        )
    )
    sizes = {f.name: 100 for f in config.model_features()}
    sizes["user_id"] = 1_000_010  # 1,000,000 ids + 10 OOV buckets
    tables = {t.feature: t for t in rocket_memory.embedding_memory(config.model_features(), sizes)}
    user = tables["user_id"]
    assert (user.rows, user.dim) == (1_000_010, 8)
    assert user.weight_bytes == 1_000_010 * 8 * 4
    assert user.slot_bytes == 2 * user.weight_bytes  # Adam's m and v
    assert user.total_bytes == 3 * 1_000_010 * 8 * 4
    assert tables["price"].total_bytes == 3 * 100 * 16 * 4
    text = rocket_memory.format_embedding_memory(list(tables.values()))
    lines = text.splitlines()
    assert "Adam's m and v" in lines[0] and "per worker" in lines[0]
    user_line = next(line for line in lines if line.split()[0] == "user_id")
    assert "1,000,010" in user_line and "30.5 MiB" in user_line and "91.6 MiB" in user_line
    total = sum(t.total_bytes for t in tables.values())
    assert lines[-1].split()[0] == "total" and f"{total / 2**20:,.1f} MiB" in lines[-1]
    # Optimizers that keep fewer copies of a table are estimated with what they keep.
    train = rocket_config.TrainConfig
    expected = {"adam": 2, "lazy_adam": 2, "adagrad": 1, "momentum": 1, "rms_prop": 2, "ftrl": 2}
    for optimizer, count in expected.items():
        assert rocket_optimizers.slots(train(optimizer=optimizer))[0] == count, optimizer
    assert rocket_optimizers.slots(train(optimizer="rms_prop", momentum=0.0))[0] == 1
    (adagrad,) = rocket_memory.embedding_memory(config.model_features()[:1], sizes, slots=1)
    assert adagrad.total_bytes == 2 * adagrad.weight_bytes


def test_sum_pool_matches_safe_embedding_lookup_with_empty_rows():
    table = tf.Variable(tf.random.stateless_normal([12, 4], seed=[1, 2]))
    ids = tf.RaggedTensor.from_row_lengths(
        tf.constant([3, 3, 7, 0, 11, 5], tf.int64), [2, 0, 3, 0, 1]
    ).to_sparse()
    expected = tf.nn.safe_embedding_lookup_sparse(table, ids, combiner="sum")
    pooled = rocket_model.sum_pool(table, ids)
    assert pooled.shape == (5, 4)
    np.testing.assert_allclose(pooled.numpy(), expected.numpy(), rtol=1e-6)
    assert not np.any(pooled.numpy()[[1, 3]])  # rows without ids: zero embedding


def test_sum_pool_gradient_touches_only_the_rows_used():
    """A 1,000,000-row table must not get a dense gradient each step."""
    table = tf.Variable(tf.zeros([1_000_000, 4]))
    ids = tf.RaggedTensor.from_row_lengths(tf.constant([7, 7, 42], tf.int64), [2, 1]).to_sparse()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(rocket_model.sum_pool(table, ids) * [[1.0], [2.0]])
    gradient = tape.gradient(loss, table)
    assert isinstance(gradient, tf.IndexedSlices)
    dense = tf.convert_to_tensor(gradient).numpy()
    np.testing.assert_allclose(dense[[7, 42]], [[2.0] * 4, [2.0] * 4])
    assert np.count_nonzero(dense) == 8


@pytest.mark.parametrize("nets, present, absent", [("light", "light", "booster"),
                                                    ("booster", "booster", "light")])  # fmt: skip
def test_a_net_alone_is_built_and_trained_without_the_other(nets, present, absent):
    config = small_config(**{"model.nets": nets, "train.learning_rate": 0.01})
    model = build(config)
    features, label = batch(config, size=256)
    outputs = model(features, training=True)
    assert f"{present}_logits" in outputs and f"{absent}_logits" not in outputs
    assert getattr(model, f"{absent}_tower") is None
    losses = model.rocket_losses(outputs, label)
    assert float(losses[f"{absent}_ce"]) == 0 and float(losses["hint_loss"]) == 0
    # Alone, the light net trains the shared layers and embeddings (nothing else would).
    grads = gradients(model, features, label, [f"{present}_ce"])
    assert all(moved(grads[r]) for r in refs(model.share_tower) if r.deref().shape.rank == 2)
    assert any(moved(grads[r]) for r in refs(model.embeddings))
    before = float(losses["total_loss"])
    for _ in range(30):
        model.train_step((features, label))
    after = float(model.rocket_losses(model(features, training=True), label)["total_loss"])
    assert after < before
    assert model.net_path(present)(features).shape == (256,)
    with pytest.raises(ValueError, match=f"no {absent} net"):
        model.net_path(absent)


def test_empty_light_tower_puts_the_light_head_on_the_shared_tower():
    config = small_config(**{"model.light_dnn": rocket_config.DNNConfig(())})
    model = build(config)
    features, label = batch(config, size=64)
    outputs = model(features, training=True)
    assert outputs["light_hidden"] == []
    assert model.light_head.kernel.shape == (64, 2)  # the share tower's last width
    assert model.pairs == []
    path = model.net_path(rocket_model.LIGHT)
    assert path(features).shape == (64,)
    # No light tower weights: embeddings + share + head only.
    assert not model.light_tower.trainable_variables


def test_only_the_light_tower_may_be_empty():
    with pytest.raises(ValueError, match="booster_dnn.hidden_units"):
        small_config(**{"model.booster_dnn": rocket_config.DNNConfig(())})
    with pytest.raises(ValueError, match="model_config.nets"):
        small_config(**{"model.nets": "both_and_more"})


def test_click_probability_is_the_softmax_of_the_click_class():
    logits = tf.constant([[0.3, -1.2], [5.0, 5.0], [-800.0, 900.0], [900.0, -800.0]])
    expected = tf.nn.softmax(logits)[:, 1].numpy()
    probabilities = rocket_model.probabilities_from_logits(logits, 2).numpy()
    np.testing.assert_allclose(probabilities, expected, rtol=1e-6, atol=1e-30)
    assert np.all(np.isfinite(probabilities))


def test_the_benchmarks_linear_baseline_is_a_logistic_regression_over_ids_and_tokens():
    """No share tower, no light layer: the light head's input is the pooled embeddings, so
    the logit is a sum of one learned scalar per id (and per tag token)."""
    from pipeline.bench.quality import variant_config
    from pipeline.bench.settings import LINEAR_VARIANT

    kind, options = LINEAR_VARIANT
    config = variant_config(small_config(), kind, 0, 5, 64, 1000, **options)
    model = build(config)
    features, _ = batch(config, size=8)
    model(features)
    light = model.net_path(rocket_model.LIGHT)
    emb = sum(TABLE_SIZE * f.embedding_dim for f in config.model_features())
    width = sum(f.embedding_dim for f in config.model_features())  # the pooled embeddings
    head = width * 2 + 2  # the features' pooled embeddings -> 2 logits
    assert sum(int(np.prod(v.shape)) for v in light.trainable_variables) == emb + head
    # Additive in the features: swapping one row's user_id changes the logits by the same
    # amount whatever the row's other features.
    user = transformed_name("user_id")

    def logits_with_user(ids: list[int]) -> np.ndarray:
        changed = dict(features)
        changed[user] = tf.RaggedTensor.from_row_lengths(
            tf.constant(ids, tf.int64), [1] * len(ids)
        ).to_sparse()
        return light.logits(changed).numpy()

    delta = logits_with_user([3] * 8) - logits_with_user([11] * 8)
    assert np.allclose(delta, delta[0], atol=1e-5) and np.abs(delta).max() > 0


def test_the_weight_regularization_is_a_logistic_regressions_l2_on_the_logit_weights():
    """A linear model's weight_regularization s adds s/2 * the sum over every id and tag
    token of its click-logit weight squared (its embedding times the head's click
    direction; ids no batch row uses included). Unlike an L2 on the tables, it does not
    fall when the tables shrink and the head grows by the same factor."""
    scale = 1e-3
    config = small_config(**{"train.linear_weight_regularization": scale})
    config = rocket_config.linear_config(config)
    assert config.model.weight_regularization == scale
    unregularised = rocket_config.with_changes(config, **{"model.weight_regularization": 0.0})
    features, label = batch(config, size=16)
    model = build(config)
    model(features)

    def expected() -> float:
        kernel = model.light_head.kernel.numpy()
        click, total, start = kernel[:, 1] - kernel[:, 0], 0.0, 0
        for name in model.embeddings.feature_order:
            table = model.embeddings.tables[name].numpy()
            total += float(np.sum((table @ click[start : start + table.shape[1]]) ** 2))
            start += table.shape[1]
        return scale / 2 * total

    def penalty(model=model) -> float:  # the regularization loss but for the other terms
        outputs = model(features)
        regularization = model.rocket_losses(outputs, label)["regularization_loss"]
        return float(regularization - outputs["embedding_regularization"] - sum(model.losses))

    assert penalty() == pytest.approx(expected(), rel=1e-4) and penalty() > 0
    before = penalty()
    for table in model.embeddings.tables.values():
        table.assign(table / 4)
    model.light_head.kernel.assign(model.light_head.kernel * 4)
    assert penalty() == pytest.approx(before, rel=1e-4)  # the same logit weights
    assert penalty(build(unregularised)) == pytest.approx(0.0, abs=1e-9)
    pair = build(small_config())
    pair(features)
    with pytest.raises(ValueError, match="only a linear model has logit weights"):
        pair.logit_weights()


def _fit_datasets(config, rows=1024, batch_size=128):
    """A repeated train dataset and a validation dataset of `batch`'s rows."""
    features, label = batch(config, size=rows, seed=3)
    train = tf.data.Dataset.from_tensor_slices((features, label)).batch(batch_size).repeat()
    validation_features, validation_label = batch(config, size=256, seed=4)
    validation = tf.data.Dataset.from_tensors((validation_features, validation_label))
    return train, validation


@pytest.mark.parametrize("linear_weights", [None, 1e-3])
def test_the_linear_baseline_trained_beside_the_pair_ends_as_each_would_alone(linear_weights):
    """One joint pass (the Trainer's) gives each member the weights, kept step and stop
    that fit_model gives it alone on the same batches: neither's gradients reach the
    other, each keeper keeps its own best and a member that stops early is put back to
    the weights it stopped with (here the pair keeps its final weights, keep "final").
    A linear baseline fit as a logistic regression (a weight penalty) trains to the end
    while the pair stops early."""
    import rocket_training
    from rocket_distribution import WorkerRole

    config = small_config(**{"train.keep": "final", "train.eval_every_steps": 10,
                             "train.max_check_steps": 20, "train.learning_rate": 0.05,
                             "train.linear_weight_regularization": linear_weights})  # fmt: skip
    sizes = {f.name: TABLE_SIZE for f in config.model_features()}
    strategy, role = tf.distribute.get_strategy(), WorkerRole()
    steps = 200

    def alone(which):
        train, validation = _fit_datasets(which)
        return rocket_training.fit_model(which, sizes, train, validation, steps, strategy, role)

    pair, pair_alone = alone(config)
    linear, linear_alone = alone(rocket_config.linear_config(config))
    train, validation = _fit_datasets(config)
    joint, (pair_joint, linear_joint) = rocket_training.fit_pair_and_linear(
        config, sizes, train, validation, steps, strategy, role
    )
    assert pair_joint == pair_alone and linear_joint == linear_alone
    # The optimizers' slots exist before the first step, so each train step was traced
    # once (a step that creates variables is traced twice, ~1.5 s of every fit's start).
    for model in (pair, linear, joint):
        assert model.train_function.experimental_get_tracing_count() == 1
    # Each keeper read the validation rows' clicks from its model's AUC metric.
    labels = np.concatenate([np.reshape(y.numpy(), -1) for _, y in validation])
    for summary in (pair_joint, linear_joint):
        counted = summary["validation"]
        assert (counted["rows"], counted["clicks"]) == (labels.size, int(labels.sum()))
    assert pair_alone["stopped_at_step"] != linear_alone["stopped_at_step"]  # one went on
    if linear_weights:
        assert pair_alone["stopped_at_step"] < steps
        assert linear_joint["stopped_at_step"] == linear_joint["exported_step"] == steps
        assert linear_joint["stop_reason"] == "reached train_steps"
    for member, reference in ((joint.pair, pair), (joint.linear, linear)):
        for got, expected in zip(member.get_weights(), reference.get_weights(), strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    evaluation = joint.evaluate(validation, verbose=0, return_dict=True)
    alone_linear = linear.evaluate(validation, verbose=0, return_dict=True)
    assert evaluation["linear_auc_light"] == pytest.approx(alone_linear["auc_light"], abs=1e-5)
    assert evaluation["auc_light"] == pytest.approx(
        pair.evaluate(validation, verbose=0, return_dict=True)["auc_light"], abs=1e-5
    )


def test_a_linear_baseline_fit_to_its_end_trains_apart_on_every_train_row():
    """A baseline that keeps its final weights and never stops early reads no validation
    rows, so it trains apart from the pair on every train row (train_all, the hold-out
    too), not on the pair's rows; joined with the pair afterwards, one evaluation scores
    both. An early-stopped baseline trains on the pair's rows and checks."""
    import rocket_data
    import rocket_training
    from rocket_distribution import WorkerRole

    config = small_config(**{"train.learning_rate": 0.05,
                             "train.linear_weight_regularization": 1e-3})  # fmt: skip
    baseline = rocket_config.linear_config(config)
    assert rocket_training.reads_no_validation(baseline)
    assert not rocket_training.reads_no_validation(config)  # the pair keeps its best check
    sizes = {f.name: TABLE_SIZE for f in config.model_features()}
    strategy, role = tf.distribute.get_strategy(), WorkerRole()
    every_row, validation = _fit_datasets(config)
    pair_rows = every_row.skip(3)  # stands in for the rows left after the hold-out
    splits = rocket_data.Splits(pair_rows, validation, validation, train_all=every_row)
    pair, _ = rocket_training.fit_model(config, sizes, pair_rows, validation, 40, strategy, role)
    linear, training = rocket_training.fit_linear_alone(baseline, sizes, splits, 40, strategy, role)
    assert training["every_train_row"] and training["exported_step"] == 40
    assert "l2_cross_validation" not in training  # not asked for
    alone, _ = rocket_training.fit_model(baseline, sizes, every_row, None, 40, strategy, role)
    for got, expected in zip(linear.get_weights(), alone.get_weights(), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    joint = rocket_training.joined(pair, linear, strategy)
    evaluation = joint.evaluate(validation, verbose=0, return_dict=True)
    assert evaluation["linear_auc_light"] == pytest.approx(
        alone.evaluate(validation, verbose=0, return_dict=True)["auc_light"], abs=1e-5
    )
    assert evaluation["auc_light"] == pytest.approx(
        pair.evaluate(validation, verbose=0, return_dict=True)["auc_light"], abs=1e-5
    )
    # Early-stopped (no weight penalty): the pair's rows and its validation checks.
    stopped = rocket_config.linear_config(rocket_config.with_changes(
        config, **{"train.linear_weight_regularization": None}))  # fmt: skip
    _, training = rocket_training.fit_linear_alone(stopped, sizes, splits, 40, strategy, role)
    assert not training["every_train_row"] and "validation" in training


def test_a_cross_validated_linear_baseline_is_scikit_learns_fit_itself():
    """With its L2 cross-validated and no validation rows to read, the linear baseline is
    LogisticRegressionCV's refit on every train row, loaded into the tables and head
    (no training loop): its click logit is scikit-learn's decision function on the
    one-hot rows, tag tokens counted once a row. A tag list pooled by mean cannot hold
    that function: the loop trains it instead."""
    import rocket_data
    import rocket_logistic
    import rocket_training
    from rocket_distribution import WorkerRole

    config = small_config(**{"train.linear_weight_regularization": 1e-3,
                             "train.linear_l2_by_cross_validation": True})  # fmt: skip
    sizes = {f.name: TABLE_SIZE for f in config.model_features()}
    strategy, role = tf.distribute.get_strategy(), WorkerRole()
    features, labels = batch(config, size=1024, seed=3)
    every_row = tf.data.Dataset.from_tensor_slices((features, labels)).batch(128)
    train, validation = _fit_datasets(config)
    splits = rocket_data.Splits(train, validation, validation, train_all=every_row,
                                train_once=lambda: every_row)  # fmt: skip
    baseline = rocket_config.linear_config(config)
    linear, training = rocket_training.fit_linear_alone(baseline, sizes, splits, 40, strategy, role)
    assert training["fit_by"] == rocket_training.SCIKIT_LEARN_FIT
    assert training["exported_step"] == 0 and training["every_train_row"]
    choice = training["l2_cross_validation"]
    x, y = rocket_logistic.one_hot_rows(every_row, sizes)
    reference = rocket_logistic.cross_validated(x, y)
    assert choice["C"] == pytest.approx(float(reference.C_[0]))
    logits = np.concatenate([rocket_blend.margins(linear(f, training=False)["light_logits"])
                             for f, _ in every_row])  # fmt: skip
    np.testing.assert_allclose(logits, reference.decision_function(x), rtol=1e-4, atol=1e-4)
    # The model's own view of its weights gives them back.
    for name, weights in rocket_logistic.by_feature(reference.coef_[0], sizes).items():
        np.testing.assert_allclose(linear.logit_weights()[name], weights, rtol=1e-5, atol=1e-6)
    tags = [f.name for f in config.model_features() if f.kind == rocket_config.TAG]
    mean = dataclasses.replace(
        config,
        features=tuple(dataclasses.replace(f, combiner="mean") if f.name in tags[:1] else f
                       for f in config.features),
    )  # fmt: skip
    linear, training = rocket_training.fit_linear_alone(
        rocket_config.linear_config(mean), sizes, splits, 4, strategy, role
    )
    assert "fit_by" not in training and training["exported_step"] == 4


def test_a_non_finite_linear_baseline_loss_stops_the_joint_fit():
    import rocket_training

    guard = rocket_training.ProgressAndNanGuard(10, 5, 128, report=False)
    guard.on_train_batch_end(0, {"total_loss": 0.7, "linear_total_loss": 0.6})
    with pytest.raises(rocket_training.TrainingError, match="loss of the linear baseline"):
        guard.on_train_batch_end(1, {"total_loss": 0.7, "linear_total_loss": float("nan")})


def test_pool_combiners_match_safe_embedding_lookup_with_empty_rows():
    """EasyRec's combiners as tf.nn's embedding lookup defines them (unit weights): mean
    divides a row's sum by its id count, sqrtn by the count's square root; a row without
    ids stays zero with each."""
    table = tf.Variable(tf.random.stateless_normal([12, 4], seed=[3, 4]))
    ids = tf.RaggedTensor.from_row_lengths(
        tf.constant([3, 3, 7, 0, 11, 5], tf.int64), [2, 0, 3, 0, 1]
    ).to_sparse()
    for combiner in rocket_config.COMBINERS:
        expected = tf.nn.safe_embedding_lookup_sparse(table, ids, combiner=combiner)
        pooled = rocket_model.pool(table, ids, combiner)
        np.testing.assert_allclose(pooled.numpy(), expected.numpy(), rtol=1e-6, err_msg=combiner)
        assert not np.any(pooled.numpy()[[1, 3]])
    first_row = table.numpy()[[3, 3]].sum(axis=0)
    np.testing.assert_allclose(rocket_model.pool(table, ids, "mean").numpy()[0], first_row / 2,
                               rtol=1e-6)  # fmt: skip


def test_the_model_pools_each_tag_list_by_its_features_combiner():
    """A tag feature with `mean` gives the model its ids' mean embedding, one with `sum`
    their sum; an id feature has one id a row, so its embedding is that id's row."""
    base = small_config()
    combiners = {"tag_category_list": "mean", "tag_brand_list": "sum", "user_id": "sqrtn"}
    features = tuple(
        dataclasses.replace(f, combiner=combiners.get(f.name, f.combiner)) for f in base.features
    )
    config = dataclasses.replace(base, features=features)
    model = build(config)
    inputs, _ = batch(config, size=16)
    pooled = model.embeddings(inputs).numpy()
    layer = model.embeddings
    start = 0
    for name in layer.feature_order:
        ids = inputs[transformed_name(name)]
        width = int(layer.tables[name].shape[1])
        table = layer.tables[name].numpy()
        for row in range(16):
            row_ids = ids.values.numpy()[ids.indices.numpy()[:, 0] == row]
            expected = table[row_ids].sum(axis=0)
            if name == "tag_category_list" and len(row_ids):
                expected = expected / len(row_ids)
            np.testing.assert_allclose(pooled[row, start : start + width], expected, rtol=1e-5,
                                       atol=1e-7, err_msg=f"{name} row {row}")  # fmt: skip
        start += width
    assert start == pooled.shape[1]


def test_the_linear_baseline_counts_a_repeated_tag_token_once():
    """The linear baseline sees a tag list as one-hot columns (a token present or not), as
    scikit-learn's reference does; the nets keep EasyRec's pooling of every token, repeats
    included. Id features are the same in both."""
    config = small_config()
    inputs, _ = batch(config, size=32)
    for feature in config.model_features():
        if feature.kind == rocket_config.TAG:  # each row's tokens twice, then its first again
            ids = tf.sparse.to_dense(inputs[transformed_name(feature.name)], default_value=-1)
            rows = [[int(v) for v in row if v >= 0] for row in ids.numpy()]
            rows = [row + row + row[:1] for row in rows]
            inputs[transformed_name(feature.name)] = tf.ragged.constant(
                rows, dtype=tf.int64, ragged_rank=1
            ).to_sparse()
    for config_, distinct in ((config, False), (rocket_config.linear_config(config), True)):
        layer = build(config_).embeddings
        pooled = layer(inputs).numpy()
        start = 0
        for name in layer.feature_order:
            ids = inputs[transformed_name(name)]
            table = layer.tables[name].numpy()
            tag = name in {f.name for f in config.features if f.kind == rocket_config.TAG}
            for row in range(32):
                row_ids = ids.values.numpy()[ids.indices.numpy()[:, 0] == row]
                if tag and distinct:
                    row_ids = np.unique(row_ids)
                np.testing.assert_allclose(pooled[row, start : start + table.shape[1]],
                                           table[row_ids].sum(axis=0), rtol=1e-5, atol=1e-7,
                                           err_msg=f"{name} row {row}")  # fmt: skip
            start += table.shape[1]
