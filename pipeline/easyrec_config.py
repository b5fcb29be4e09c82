"""EasyRec configuration -> RocketConfig: the parsed message (pipeline/easyrec_proto.py)
mapped onto the seed's defaults, with a ConfigError naming each field this project cannot
honour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import rocket_config
import rocket_seed
from rocket_config import BUCKET, ID, LOOKUP, TAG, DNNConfig, FeatureConfig, FeatureGroup

from pipeline.easyrec_proto import ConfigError, notices, parse


def _dnn(message, where: str) -> DNNConfig:
    if not message.hidden_units:
        raise ConfigError(f"{where}.hidden_units is empty")
    if len(message.dropout_ratio) > 1 and len(message.dropout_ratio) != len(message.hidden_units):
        raise ConfigError(f"{where}.dropout_ratio: one value, or one per hidden layer")
    if len(set(message.dropout_ratio)) > 1:
        raise ConfigError(f"{where}.dropout_ratio: a different ratio per layer is not supported")
    activation = message.activation or "relu"
    activation = activation.removeprefix("tf.nn.")
    return DNNConfig(
        hidden_units=tuple(message.hidden_units),
        dropout_ratio=message.dropout_ratio[0] if message.dropout_ratio else 0.0,
        activation=activation,
        use_bn=message.use_bn if message.HasField("use_bn") else True,
    )


_TYPES = {
    "INT32": "int",
    "INT64": "int",
    "STRING": "string",
    "FLOAT": "float",
    "DOUBLE": "float",
    "BOOL": "int",
}


def _input_fields(data_config) -> tuple[rocket_config.InputField, ...]:
    enum = data_config.DESCRIPTOR.fields_by_name["input_fields"].message_type
    type_enum = enum.fields_by_name["input_type"].enum_type
    fields = []
    for field in data_config.input_fields:
        type_name = type_enum.values_by_number[field.input_type].name
        fields.append(rocket_config.InputField(field.input_name, _TYPES[type_name]))
    return tuple(fields)


def _lookup(message, where: str, dim: int) -> FeatureConfig:
    """EasyRec's LookupFeature over a plain tag list: the key's count among its items."""
    if len(message.input_names) != 2 or not message.feature_name:
        raise ConfigError(
            f"{where}: a LookupFeature needs a feature_name and two input_names "
            "(the tag list, then the key)"
        )
    if not message.boundaries:
        raise ConfigError(
            f"{where} ({message.feature_name}): a LookupFeature needs boundaries, which "
            "bucket the key's count among the list's items into ids"
        )
    return FeatureConfig(
        message.feature_name,
        kind=LOOKUP,
        embedding_dim=dim,
        separator=message.separator or "|",
        input_names=tuple(message.input_names),
        boundaries=tuple(message.boundaries),
    )


def _feature(message, where: str) -> FeatureConfig:
    type_name = (
        message.DESCRIPTOR.fields_by_name["feature_type"]
        .enum_type.values_by_number[message.feature_type]
        .name
    )
    dim = message.embedding_dim or 16
    if type_name == "LookupFeature":
        return _lookup(message, where, dim)
    if len(message.input_names) != 1:
        raise ConfigError(f"{where}.input_names: exactly one input per feature is supported")
    name = message.input_names[0]
    if message.feature_name and message.feature_name != name:
        raise ConfigError(f"{where}.feature_name: renaming features is not supported")
    if message.boundaries:
        raise ConfigError(f"{where} ({name}): boundaries are read by a LookupFeature only")
    # EasyRec's FeatureConfig.combiner defaults to "mean" (feature_config.proto): a config
    # that leaves it out pools a tag list as EasyRec would.
    combiner = message.combiner or "mean"
    if type_name == "RawFeature":
        raise ConfigError(f"{where} ({name}): RawFeature (dense values) is not supported")
    if type_name == "TagFeature":
        if message.num_buckets:
            raise ConfigError(f"{where} ({name}): num_buckets on a TagFeature is not supported")
        return FeatureConfig(
            name,
            kind=TAG,
            embedding_dim=dim,
            separator=message.separator or "|",
            hash_bucket_size=message.hash_bucket_size,
            combiner=combiner,
        )
    if message.num_buckets and message.hash_bucket_size:
        raise ConfigError(f"{where} ({name}): set num_buckets or hash_bucket_size, not both")
    if message.num_buckets:
        return FeatureConfig(
            name, kind=BUCKET, embedding_dim=dim, num_buckets=message.num_buckets, combiner=combiner
        )
    return FeatureConfig(
        name,
        kind=ID,
        embedding_dim=dim,
        hash_bucket_size=message.hash_bucket_size,
        combiner=combiner,
    )


def to_rocket_config(message, source: str = "<config>") -> rocket_config.RocketConfig:
    """Seed defaults, overridden by what the message sets; raises ConfigError naming fields."""
    base = rocket_seed.default_config()
    input_fields, label, separator = base.input_fields, base.label_field, base.separator
    limits: dict[str, int] = {}
    slice_fields: tuple[str, ...] | None = None
    train = base.train
    if message.HasField("data_config"):
        data = message.data_config
        if data.input_fields:
            input_fields = _input_fields(data)
        if len(data.label_fields) > 1:
            raise ConfigError(f"{source}: data_config.label_fields: one label (the click)")
        if data.label_fields:
            label = data.label_fields[0]
        separator = data.separator or separator
        if data.batch_size:
            train = _replace(train, batch_size=data.batch_size)
        if data.num_epochs:
            train = _replace(train, num_epochs=float(data.num_epochs))
        limits = {
            name: getattr(data, name)
            for name in ("max_field_bytes", "max_tag_items")
            if data.HasField(name)
        }
        if data.slice_fields:
            slice_fields = tuple(data.slice_fields)

    features = base.features
    feature_messages = list(message.feature_configs) + list(message.feature_config.features)
    if feature_messages:
        features = tuple(
            _feature(m, f"feature_configs[{i}]") for i, m in enumerate(feature_messages)
        )

    if message.HasField("train_config"):
        train = _train_config(message.train_config, train, source)
    if message.HasField("export_config"):
        train = _export_config(message.export_config, train, source)

    model = base.model
    if message.HasField("model_config"):
        model = _model_config(message.model_config, model, source)
    if feature_messages and not message.model_config.feature_groups:
        # The default group is the seed's plus the product's lookups: with its own feature
        # configs and no group, a config gets the seed's group and the lookups it configures.
        configured = {f.name for f in features}
        lookups = tuple(name for name, _, _ in rocket_seed.LOOKUPS if name in configured)
        group = FeatureGroup("all", rocket_seed.SEED_GROUP_ALL + lookups)
        model = _replace(model, feature_groups=(group,))

    # GAUC's user column: EasyRec's `eval_config { metrics_set { gauc { uid_field } } }`;
    # without it, and for the slices without `data_config { slice_fields }`, the defaults
    # (user_id, pid) where the data has such columns.
    columns = {f.name for f in input_fields}
    user_field = base.user_field if base.user_field in columns else ""
    for metrics in message.eval_config.metrics_set:
        if metrics.HasField("gauc") and metrics.gauc.uid_field:
            user_field = metrics.gauc.uid_field
    if slice_fields is None:
        slice_fields = tuple(name for name in base.slice_fields if name in columns)
    try:
        return rocket_config.RocketConfig(
            input_fields=input_fields,
            label_field=label,
            features=features,
            model=model,
            train=train,
            separator=separator,
            user_field=user_field,
            slice_fields=slice_fields,
            **limits,
        ).validate()
    except ValueError as error:
        raise ConfigError(f"{source}: {error}") from None


def _replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


# EasyRec's optimizer messages: ours, and {EasyRec field: our TrainConfig field}. A field
# left out keeps EasyRec's default, which is TrainConfig's.
_OPTIMIZERS = {
    "adam_optimizer": ("adam", {"beta1": "beta1", "beta2": "beta2"}),
    "lazy_adam_optimizer": ("lazy_adam", {"beta1": "beta1", "beta2": "beta2"}),
    "adagrad_optimizer": ("adagrad", {"initial_accumulator_value": "initial_accumulator_value"}),
    "momentum_optimizer": ("momentum", {"momentum_optimizer_value": "momentum"}),
    "rms_prop_optimizer": (
        "rms_prop",
        {"momentum_optimizer_value": "momentum", "decay": "rms_decay", "epsilon": "rms_epsilon"},
    ),
    "ftrl_optimizer": (
        "ftrl",
        {
            name: name
            for name in (
                "learning_rate_power",
                "initial_accumulator_value",
                "l1_reg",
                "l2_reg",
                "l2_shrinkage_reg",
            )
        },
    ),
}


def _optimizer(optimizer, source: str) -> tuple[dict, Any]:
    """The TrainConfig changes of one optimizer_config, and its learning_rate message."""
    kinds = [name for name in _OPTIMIZERS if optimizer.HasField(name)]
    if len(kinds) != 1:
        raise ConfigError(
            f"{source}: train_config.optimizer_config: set one of {', '.join(_OPTIMIZERS)}"
        )
    ours, fields = _OPTIMIZERS[kinds[0]]
    message = getattr(optimizer, kinds[0])
    changes = {"optimizer": ours}
    changes.update({field: getattr(message, name) for name, field in fields.items()
                    if message.HasField(name)})  # fmt: skip
    return changes, message.learning_rate


def _train_config(message, train, source: str):
    if len(message.optimizer_config) > 1:
        raise ConfigError(f"{source}: train_config.optimizer_config: one optimizer")
    changes = {}
    if message.num_steps:
        changes["train_steps"] = message.num_steps
    if message.log_step_count_steps:
        changes["log_every_steps"] = message.log_step_count_steps
    if message.save_checkpoints_steps:  # EasyRec evaluates (and exports the best) there
        changes["eval_every_steps"] = message.save_checkpoints_steps
    if message.HasField("validation_fraction"):
        changes["validation_fraction"] = message.validation_fraction
    for name in ("linear_baseline", "blend_linear_baseline"):
        if message.HasField(name):
            changes[name] = getattr(message, name)
    for name in ("linear_embedding_regularization", "linear_weight_regularization"):
        if message.HasField(name):
            changes[name] = getattr(message, name)
    for optimizer in message.optimizer_config:
        optimizer_changes, rate = _optimizer(optimizer, source)
        changes.update(optimizer_changes)
        if rate.HasField("constant_learning_rate"):
            value = rate.constant_learning_rate.learning_rate
            changes.update(learning_rate=value, decay_factor=1.0, min_learning_rate=value)
        elif rate.HasField("exponential_decay_learning_rate"):
            decay = rate.exponential_decay_learning_rate
            changes.update(
                learning_rate=decay.initial_learning_rate or train.learning_rate,
                decay_steps=decay.decay_steps or train.decay_steps,
                decay_factor=decay.decay_factor or train.decay_factor,
                min_learning_rate=decay.min_learning_rate,
                staircase=decay.staircase,
            )
    return _replace(train, **changes)


def _export_config(message, train, source: str):
    """EasyRec's export_config: which weights the Trainer exports (final or best by the
    light net's validation AUC) and early stopping."""
    where = f"{source}: export_config"
    changes = {}
    if message.HasField("exporter_type"):
        if message.exporter_type not in rocket_config.KEEP_CHOICES:
            raise ConfigError(
                f"{where}.exporter_type: {message.exporter_type!r} is not supported; "
                f"one of {', '.join(rocket_config.KEEP_CHOICES)}"
            )
        changes["keep"] = message.exporter_type
    if message.HasField("best_exporter_metric") and message.best_exporter_metric != "auc":
        raise ConfigError(
            f"{where}.best_exporter_metric: only 'auc' (the light net's validation AUC)"
        )
    if message.HasField("metric_bigger") and not message.metric_bigger:
        raise ConfigError(f"{where}.metric_bigger: AUC is better when bigger")
    if message.HasField("enable_early_stop"):
        changes["early_stop"] = message.enable_early_stop
    if message.max_check_steps:
        changes["max_check_steps"] = message.max_check_steps
    return _replace(train, **changes)


def _model_config(message, model, source: str):
    if message.model_class and message.model_class != "RocketLaunching":
        raise ConfigError(
            f"{source}: model_config.model_class is {message.model_class!r}; "
            "this project trains 'RocketLaunching'"
        )
    changes = {}
    if message.feature_groups:
        groups = []
        for i, group in enumerate(message.feature_groups):
            if not group.feature_names:
                raise ConfigError(f"{source}: feature_groups[{i}].feature_names is empty")
            if group.wide_deep == 1:
                raise ConfigError(
                    f"{source}: feature_groups[{i}].wide_deep: WIDE groups "
                    "are not used by RocketLaunching; use DEEP"
                )
            groups.append(FeatureGroup(group.group_name or f"group{i}", tuple(group.feature_names)))
        changes["feature_groups"] = tuple(groups)
    if message.HasField("embedding_regularization"):
        changes["embedding_regularization"] = message.embedding_regularization
    if message.HasField("num_class"):
        changes["num_class"] = message.num_class
    if message.HasField("rocket_launching"):
        rocket = message.rocket_launching
        where = "model_config.rocket_launching"
        try:
            # share_dnn absent: both nets read the embeddings directly.
            changes["share_dnn"] = (
                _dnn(rocket.share_dnn, f"{where}.share_dnn")
                if rocket.HasField("share_dnn")
                else None
            )
            if rocket.HasField("booster_dnn"):
                changes["booster_dnn"] = _dnn(rocket.booster_dnn, f"{where}.booster_dnn")
            if rocket.HasField("light_dnn"):
                changes["light_dnn"] = _dnn(rocket.light_dnn, f"{where}.light_dnn")
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None
        for name in (
            "l2_regularization",
            "feature_based_distillation",
            "hint_weight",
            "light_trains_share",
        ):
            if rocket.HasField(name):
                changes[name] = getattr(rocket, name)
        if rocket.HasField("feature_distillation_function"):
            enum = rocket.DESCRIPTOR.fields_by_name["feature_distillation_function"].enum_type
            changes["feature_distillation_function"] = enum.values_by_number[
                rocket.feature_distillation_function
            ].name
    return _replace(model, **changes)


def load(path: str | Path) -> rocket_config.RocketConfig:
    """Read, parse and convert an EasyRec config file; prints notices for no-effect fields."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file")
    message = parse(path.read_text(encoding="utf-8"), str(path))
    for note in notices(message):
        print(f"[config] note: {note}")
    return to_rocket_config(message, str(path))
