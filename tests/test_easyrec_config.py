"""EasyRec text-format configs: parsed by protobuf, every option mapped, bad ones named."""

import dataclasses
import json
from pathlib import Path

import pytest
import rocket_config
import rocket_seed
from conftest import local_pipeline_nodes
from rocket_config import BUCKET, ID, LOOKUP, TAG, FeatureGroup

from pipeline import easyrec_config, easyrec_proto
from pipeline.easyrec_proto import ConfigError

DATA = Path(__file__).parent / "data"


def test_seed_model_config_block_is_the_default_but_for_measured_changes():
    """EasyRec's DNNs have BatchNorm unless use_bn says otherwise, and the seed's
    model_config block says nothing, so it loads with BatchNorm; the product's default
    has none (DNNConfig). The block sets embedding_regularization 5e-6, which the
    product's default leaves to the row count (rocket_config.SMALL_LOG_MAX_ROWS). The
    block has no feature configs: those are the default's (embedding_dim 8, rocket_seed;
    the seed's own feature_configs say 16). Its group is the seed's 17 features; the
    default's adds the two lookups (rocket_seed.LOOKUPS)."""
    seed = easyrec_config.load(DATA / "seed_model_config.config")
    towers = ("share_dnn", "booster_dnn", "light_dnn")
    assert seed.model.light_trains_share is False  # unset: EasyRec's stop-gradient
    assert all(getattr(seed.model, name).use_bn for name in towers)
    default = rocket_seed.default_config()
    assert {f.embedding_dim for f in default.features} == {rocket_seed.EMBEDDING_DIM} == {8}
    with_bn = {f"model.{name}": dataclasses.replace(getattr(default.model, name), use_bn=True)
               for name in towers}  # fmt: skip
    assert default.model.embedding_regularization is None
    assert seed.model.embedding_regularization == rocket_config.DEFAULT_EMBEDDING_REGULARIZATION
    regularized = {"model.embedding_regularization": seed.model.embedding_regularization}
    assert default.model.feature_groups[0].feature_names == (
        rocket_seed.SEED_GROUP_ALL + ("combo_cate_id", "combo_brand")
    )
    seed_group = {"model.feature_groups": (FeatureGroup("all", rocket_seed.SEED_GROUP_ALL),)}
    assert seed == rocket_config.with_changes(default, **with_bn, **regularized, **seed_group)


def test_whole_pipeline_config_maps_every_option(capsys):
    config = easyrec_config.load(DATA / "custom_pipeline.config")
    notes = capsys.readouterr().out
    assert "model_dir has no effect here" in notes
    assert "save_checkpoints_steps" not in notes  # the validation checks' interval
    assert [f.name for f in config.input_fields][:3] == ["clk", "buy", "pid"]
    assert {f.name: f.type for f in config.input_fields}["price"] == "int"
    pid, adgroup = config.feature("pid"), config.feature("adgroup_id")
    assert (pid.kind, pid.hash_bucket_size, pid.embedding_dim) == (ID, 10, 8)
    assert (adgroup.kind, adgroup.hash_bucket_size) == (ID, 0)  # TFT vocabulary
    assert (config.feature("price").kind, config.feature("price").num_buckets) == (BUCKET, 50)
    tags = config.feature("tag_category_list")
    assert (tags.kind, tags.separator, tags.hash_bucket_size) == (TAG, "|", 1000)
    model = config.model
    assert [g.name for g in model.feature_groups] == ["user", "ad"]
    assert model.share_dnn is None
    assert model.booster_dnn.hidden_units == (48, 32, 16)
    assert model.booster_dnn.dropout_ratio == pytest.approx(0.1)
    assert model.light_dnn.hidden_units == (32,) and model.light_dnn.use_bn is False
    assert model.feature_based_distillation is True
    assert model.feature_distillation_function == "EUCLID"
    assert (model.hint_weight, model.num_class) == (0.5, 1)
    assert model.light_trains_share is False  # set, so not chosen from the row count
    assert (model.l2_regularization, model.embedding_regularization) == (1e-5, 1e-6)
    train = config.train
    assert (train.batch_size, train.train_steps, train.learning_rate) == (256, 40, 0.002)
    assert (train.decay_steps, train.decay_factor, train.min_learning_rate) == (100, 0.5, 1e-4)
    # export_config and save_checkpoints_steps: what is exported, when training checks.
    assert (train.keep, train.early_stop, train.max_check_steps) == ("final", True, 20)
    assert train.eval_every_steps == 100 and train.check_every() == 40  # at most num_steps


def test_distillation_function_by_number_follows_easyrec_enum():
    for number, name in enumerate(("COSINE", "INNER_PRODUCT", "EUCLID")):
        text = f"model_config {{ rocket_launching {{ feature_distillation_function: {number} }} }}"
        config = easyrec_config.to_rocket_config(easyrec_proto.parse(text))
        assert config.model.feature_distillation_function == name


def test_combiner_defaults_to_easyrecs_mean_and_is_checked():
    """EasyRec's FeatureConfig.combiner is "mean" when left out; set, it is kept; a name
    that is not one of EasyRec's combiners is refused, naming the feature."""

    def tags(line: str):
        text = (
            "data_config { input_fields { input_name: 'clk' input_type: INT32 } "
            "input_fields { input_name: 'tags' } label_fields: 'clk' } "
            f"feature_configs {{ input_names: 'tags' feature_type: TagFeature {line} }} "
            "model_config { feature_groups { group_name: 'g' feature_names: 'tags' } }"
        )
        return easyrec_config.to_rocket_config(easyrec_proto.parse(text)).feature("tags")

    assert tags("").combiner == "mean"
    assert [tags(f"combiner: '{c}'").combiner for c in ("sum", "sqrtn")] == ["sum", "sqrtn"]
    with pytest.raises(ConfigError, match=r"tags.*combiner 'max' not in"):
        tags("combiner: 'max'")


def test_a_lookup_feature_is_easyrecs_lookupfeature_over_a_tag_list():
    """feature_name, input_names (the list, the key) and boundaries; a config with its own
    feature configs and no group gets the seed's group plus the lookups it configures."""
    lookup = (
        "feature_configs { feature_name: 'cate_hits' feature_type: LookupFeature "
        "input_names: 'tag_category_list' input_names: 'cate_id' boundaries: [1, 3] "
        "embedding_dim: 4 }"
    )
    kinds = {ID: "IdFeature", TAG: "TagFeature"}
    seed_features = "".join(
        f"feature_configs {{ input_names: '{f.name}' feature_type: {kinds[f.kind]} }} "
        for f in rocket_seed.default_features()
        if f.kind in kinds
    )
    price = "feature_configs { input_names: 'price' num_buckets: 50 } "
    config = easyrec_config.to_rocket_config(easyrec_proto.parse(seed_features + price + lookup))
    feature = config.feature("cate_hits")
    assert (feature.kind, feature.input_names, feature.boundaries, feature.embedding_dim) == (
        LOOKUP,
        ("tag_category_list", "cate_id"),
        (1.0, 3.0),
        4,
    )
    assert config.model.feature_groups == (FeatureGroup("all", rocket_seed.SEED_GROUP_ALL),)
    grouped = f"{lookup} model_config {{ feature_groups {{ feature_names: 'cate_hits' }} }}"
    config = easyrec_config.to_rocket_config(easyrec_proto.parse(grouped))
    assert config.model_features() == (feature,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "feature_configs { feature_name: 'hits' feature_type: LookupFeature "
            "input_names: 'tag_category_list' boundaries: 1 }",
            r"LookupFeature needs a feature_name and two input_names",
        ),
        (
            "feature_configs { feature_name: 'hits' feature_type: LookupFeature "
            "input_names: 'tag_category_list' input_names: 'cate_id' }",
            r"feature_configs\[0\] \(hits\): a LookupFeature needs boundaries",
        ),
        (
            "feature_configs { feature_name: 'hits' feature_type: LookupFeature "
            "input_names: 'tag_category_list' input_names: 'cate' boundaries: 1 } "
            "model_config { feature_groups { group_name: 'g' feature_names: 'hits' } }",
            r"feature_configs\.hits: input 'cate' is not an input field other than the label",
        ),
        (
            "feature_configs { feature_name: 'hits' feature_type: LookupFeature "
            "input_names: 'tag_category_list' input_names: 'cate_id' boundaries: [2, 1] } "
            "model_config { feature_groups { group_name: 'g' feature_names: 'hits' } }",
            r"hits: boundaries must be increasing and not empty, got \[2\.0, 1\.0\]",
        ),
        (
            "feature_configs { input_names: 'pid' boundaries: 1 }",
            r"\(pid\): boundaries are read by a LookupFeature only",
        ),
        ("model_config { rocket_launching { foo: 1 } }", r'x\.config:1:35 .*no field named "foo"'),
        ("model_config { num_class: 3 }", r"num_class must be 1 or 2, got 3"),
        (
            "model_config { rocket_launching { light_dnn { } } }",
            r"rocket_launching\.light_dnn\.hidden_units is empty",
        ),
        (
            "model_config { feature_groups { group_name: 'g' feature_names: 'nope' } }",
            r"feature_groups\.g: feature 'nope' has no feature config",
        ),
        ("model_config { model_class: 'DeepFM' }", r"model_class is 'DeepFM'"),
        ("model_config { num_class: 'two' }", r"x\.config:1:27 "),
        (
            "feature_configs { input_names: 'ghost' feature_type: IdFeature }",
            r"feature_configs\.ghost: no input field provides it",
        ),
        (
            "feature_configs { input_names: 'price' feature_type: RawFeature }",
            r"RawFeature .* is not supported",
        ),
        # Found by going through the config path as an adversary would: each was
        # accepted before and failed late (Trainer, row parser) or trained nonsense.
        ('data_config { separator: "ab" }', r"separator must be one character, got 'ab'"),
        (
            "model_config { rocket_launching { hint_weight: -1 } }",
            r"hint_weight must be 0 or more, got -1",
        ),
        (
            "model_config { rocket_launching { l2_regularization: -1 } }",
            r"l2_regularization must be 0 or more",
        ),
        (
            "train_config { optimizer_config { adam_optimizer { learning_rate { "
            "constant_learning_rate { learning_rate: -0.1 } } } } }",
            r"learning rate must be positive",
        ),
        (
            "train_config { optimizer_config { adam_optimizer { learning_rate { "
            "exponential_decay_learning_rate { initial_learning_rate: 0.1 decay_factor: 2 } "
            "} } } }",
            r"decay_factor must be in \(0, 1\]",
        ),
        (
            "model_config { rocket_launching { light_dnn { hidden_units: 8 "
            "activation: 'bogus' } } }",
            r"light_dnn\.activation must be one of .*got 'bogus'",
        ),
        (
            "feature_configs { input_names: 'clk' feature_type: IdFeature } "
            "model_config { feature_groups { group_name: 'g' feature_names: 'clk' } }",
            r"feature_groups\.g: the label 'clk' cannot be a model input",
        ),
        (
            "feature_configs { input_names: 'pid' feature_type: IdFeature } "
            "feature_configs { input_names: 'pid' feature_type: IdFeature } "
            "model_config { feature_groups { group_name: 'g' feature_names: 'pid' } }",
            r"feature_configs: more than one config for \['pid'\]",
        ),
        (
            "eval_config { metrics_set { gauc { uid_field: 'visitor' } } }",
            r"user_field: 'visitor' is not an input field other than the label",
        ),
        (
            "data_config { slice_fields: 'clk' }",
            r"slice_fields: 'clk' is not an input field other than the label",
        ),
        (
            "export_config { exporter_type: 'latest' }",
            r"x\.config: export_config\.exporter_type: 'latest' is not supported; one of best",
        ),
        (
            "export_config { best_exporter_metric: 'loss' }",
            r"export_config\.best_exporter_metric: only 'auc'",
        ),
        (
            "data_config { max_tag_items: 0 }",
            r"max_field_bytes and max_tag_items must be 1 or more, got 131072 and 0",
        ),
    ],
)
def test_bad_configs_are_clear_errors(text, message):
    with pytest.raises(ConfigError, match=message):
        easyrec_config.to_rocket_config(easyrec_proto.parse(text, "x.config"), "x.config")


def test_the_linear_baseline_is_on_unless_train_config_turns_it_off(tmp_path):
    assert rocket_seed.default_config().train.linear_baseline is True
    path = tmp_path / "off.config"
    path.write_text("train_config { num_steps: 10 linear_baseline: false }\n")
    assert easyrec_config.load(str(path)).train.linear_baseline is False
    # Its regularization: chosen from the train rows unless train_config sets it (ours).
    assert rocket_seed.default_config().train.linear_embedding_regularization is None
    path.write_text("train_config { num_steps: 10 linear_embedding_regularization: 0.001 }\n")
    assert easyrec_config.load(str(path)).train.linear_embedding_regularization == 0.001


def test_num_epochs_comes_from_data_config(tmp_path):
    assert rocket_seed.default_config().train.num_epochs == 0  # steps only
    path = tmp_path / "epochs.config"
    path.write_text("data_config { num_epochs: 3 batch_size: 128 }\n")
    train = easyrec_config.load(str(path)).train
    assert (train.num_epochs, train.batch_size) == (3.0, 128)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"--config .*nope\.config: no such file"):
        easyrec_config.load(tmp_path / "nope.config")


def test_the_input_contract_is_set_in_data_config():
    text = "data_config { max_field_bytes: 4096 max_tag_items: 20 }"
    config = easyrec_config.to_rocket_config(easyrec_proto.parse(text))
    assert (config.max_field_bytes, config.max_tag_items) == (4096, 20)
    default = rocket_seed.default_config()
    assert (default.max_field_bytes, default.max_tag_items) == (131_072, 100)


def test_gauc_user_and_slice_columns_come_from_the_config(tmp_path):
    """EasyRec's gauc uid_field names GAUC's user column, data_config slice_fields (ours)
    the slices; without them, user_id and pid where the data has such columns."""
    default = rocket_seed.default_config()
    assert (default.user_field, default.slice_fields) == ("user_id", ("pid",))
    text = (
        "data_config { input_fields { input_name: 'clk' input_type: INT32 } "
        "input_fields { input_name: 'visitor' } input_fields { input_name: 'site' } "
        "input_fields { input_name: 'ad' } label_fields: 'clk' slice_fields: 'site' } "
        "feature_configs { input_names: 'ad' feature_type: IdFeature } "
        "model_config { feature_groups { group_name: 'g' feature_names: 'ad' } } "
    )
    renamed = easyrec_config.to_rocket_config(easyrec_proto.parse(text))
    assert (renamed.user_field, renamed.slice_fields) == ("", ("site",))  # no user_id: no GAUC
    gauc = (
        text
        + "eval_config { metrics_set { auc {} } metrics_set { gauc { uid_field: 'visitor' } } }"
    )
    config = easyrec_config.to_rocket_config(easyrec_proto.parse(gauc))
    assert config.user_field == "visitor"
    assert rocket_config.RocketConfig.from_json(config.to_json()) == config

    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format

    evaluator = local_pipeline_nodes(tmp_path, config)["Evaluator"]
    eval_config = json_format.Parse(evaluator.exec_properties["eval_config"], tfma.EvalConfig())
    assert [list(s.feature_keys) for s in eval_config.slicing_specs] == [[], ["site"]]
    gauc_configs = [
        m.config
        for spec in eval_config.metrics_specs
        for m in spec.metrics
        if m.class_name == "GAUC"
    ]
    assert gauc_configs == ['{"user_key": "visitor"}'] * 2  # candidate's and booster's


def test_config_json_round_trips_and_a_hand_edited_one_is_checked():
    config = easyrec_config.load(DATA / "custom_pipeline.config")
    assert rocket_config.RocketConfig.from_json(config.to_json()) == config
    data = json.loads(config.to_json())
    data["model"]["hint_wieght"] = 2.0
    with pytest.raises(ValueError, match=r"ModelConfig: unknown keys \['hint_wieght'\]"):
        rocket_config.RocketConfig.from_json(json.dumps(data))
    data = json.loads(config.to_json())
    data["train"]["batch_size"] = 0
    with pytest.raises(ValueError, match="batch_size must be positive, train_steps and num_epoch"):
        rocket_config.RocketConfig.from_json(json.dumps(data))
    data = json.loads(config.to_json())
    del data["label_field"]
    with pytest.raises(ValueError, match="RocketConfig: .*label_field"):
        rocket_config.RocketConfig.from_json(json.dumps(data))


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("lazy_adam_optimizer { beta1: 0.8 }", {"optimizer": "lazy_adam", "beta1": 0.8}),
        ("adam_optimizer { beta2: 0.99 }", {"optimizer": "adam", "beta1": 0.9, "beta2": 0.99}),
        ("adagrad_optimizer { }", {"optimizer": "adagrad", "initial_accumulator_value": 0.1}),
        ("momentum_optimizer { momentum_optimizer_value: 0.5 }", {"momentum": 0.5}),
        (
            "rms_prop_optimizer { decay: 0.95 epsilon: 0.1 }",
            {"rms_decay": 0.95, "rms_epsilon": 0.1},
        ),
        (
            "ftrl_optimizer { l1_reg: 0.1 learning_rate_power: -0.7 }",
            {"optimizer": "ftrl", "l1_reg": 0.1, "learning_rate_power": -0.7},
        ),  # fmt: skip
    ],
)
def test_easyrec_optimizers_map_with_their_parameters(block, expected):
    text = f"train_config {{ optimizer_config {{ {block} }} }}"
    train = easyrec_config.to_rocket_config(easyrec_proto.parse(text)).train
    for name, value in expected.items():
        assert getattr(train, name) == pytest.approx(value), name


def test_an_optimizer_config_without_an_optimizer_is_refused():
    text = "train_config { optimizer_config { use_moving_average: true } }"
    with pytest.raises(ConfigError, match="set one of adam_optimizer, lazy_adam_optimizer"):
        easyrec_config.to_rocket_config(easyrec_proto.parse(text, "x.config"), "x.config")
