"""EasyRec text-format configuration -> RocketConfig, with protobuf's own text parser.

EasyRec users keep their configs in protobuf text format (`model_config { ... }` alone,
or a whole pipeline config). We declare the subset of EasyRec's messages that this
project honours as protobuf descriptors and let `google.protobuf.text_format` parse the
file, so syntax errors and unknown fields are reported by the parser with line and
column, exactly as EasyRec's own loader would. (The descriptors are built in Python
because no protoc is needed that way; the field names are EasyRec's.)

Every field declared here has an effect, except the few in `_NO_EFFECT`, which are
accepted with a printed notice because they only concern EasyRec's own runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import rocket_config
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from rocket_config import BUCKET, ID, TAG, DNNConfig, FeatureConfig, FeatureGroup

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "string": _F.TYPE_STRING,
    "uint32": _F.TYPE_UINT32,
    "int32": _F.TYPE_INT32,
    "uint64": _F.TYPE_UINT64,
    "bool": _F.TYPE_BOOL,
    # EasyRec declares these `float`; parsed as double, 1e-6 stays 1e-6 (not 9.99999997e-7).
    "float": _F.TYPE_DOUBLE,
}

# message name -> [(field name, type, repeated?)]; types are scalars, enums or messages.
_MESSAGES: dict[str, list[tuple[str, str, bool]]] = {
    "EasyRecConfig": [
        ("model_dir", "string", False),
        ("train_input_path", "string", False),
        ("eval_input_path", "string", False),
        ("data_config", "DatasetConfig", False),
        ("feature_configs", "FeatureConfig", True),
        ("feature_config", "FeatureConfigList", False),
        ("train_config", "TrainConfig", False),
        ("eval_config", "EvalConfig", False),
        ("model_config", "ModelConfig", False),
        ("export_config", "ExportConfig", False),
    ],
    "ExportConfig": [
        ("exporter_type", "string", False),
        ("best_exporter_metric", "string", False),
        ("metric_bigger", "bool", False),
        ("enable_early_stop", "bool", False),
        ("max_check_steps", "uint32", False),
    ],
    "DatasetConfig": [
        ("input_fields", "InputField", True),
        ("label_fields", "string", True),
        ("separator", "string", False),
        ("batch_size", "uint32", False),
        ("input_type", "InputType", False),
        ("prefetch_size", "uint32", False),
        ("shuffle", "bool", False),
        # Ours, not EasyRec's: the input contract training and serving share.
        ("max_field_bytes", "uint32", False),
        ("max_tag_items", "uint32", False),
        ("slice_fields", "string", True),  # metrics are also reported per value of each
    ],
    "InputField": [
        ("input_name", "string", False),
        ("input_type", "FieldType", False),
        ("default_val", "string", False),
    ],
    "FeatureConfigList": [("features", "FeatureConfig", True)],
    "FeatureConfig": [
        ("input_names", "string", True),
        ("feature_name", "string", False),
        ("feature_type", "FeatureType", False),
        ("embedding_dim", "uint32", False),
        ("hash_bucket_size", "uint64", False),
        ("num_buckets", "uint64", False),
        ("separator", "string", False),
        ("combiner", "string", False),
    ],
    "TrainConfig": [
        ("optimizer_config", "OptimizerConfig", True),
        ("num_steps", "uint32", False),
        ("log_step_count_steps", "uint32", False),
        ("save_checkpoints_steps", "uint32", False),
        ("sync_replicas", "bool", False),
        ("keep_checkpoint_max", "uint32", False),
        # Ours, not EasyRec's: the share of train rows held out as validation data.
        ("validation_fraction", "float", False),
    ],
    "OptimizerConfig": [
        ("adam_optimizer", "AdamOptimizer", False),
        ("use_moving_average", "bool", False),
        ("lazy_adam_optimizer", "AdamOptimizer", False),
        ("adagrad_optimizer", "AdagradOptimizer", False),
        ("momentum_optimizer", "MomentumOptimizer", False),
        ("rms_prop_optimizer", "RMSPropOptimizer", False),
        ("ftrl_optimizer", "FtrlOptimizer", False),
    ],
    "AdamOptimizer": [
        ("learning_rate", "LearningRate", False),
        ("beta1", "float", False),
        ("beta2", "float", False),
    ],
    "AdagradOptimizer": [
        ("learning_rate", "LearningRate", False),
        ("initial_accumulator_value", "float", False),
    ],
    "MomentumOptimizer": [
        ("learning_rate", "LearningRate", False),
        ("momentum_optimizer_value", "float", False),
    ],
    "RMSPropOptimizer": [
        ("learning_rate", "LearningRate", False),
        ("momentum_optimizer_value", "float", False),
        ("decay", "float", False),
        ("epsilon", "float", False),
    ],
    "FtrlOptimizer": [
        ("learning_rate", "LearningRate", False),
        ("learning_rate_power", "float", False),
        ("initial_accumulator_value", "float", False),
        ("l1_reg", "float", False),
        ("l2_reg", "float", False),
        ("l2_shrinkage_reg", "float", False),
    ],
    "LearningRate": [
        ("constant_learning_rate", "ConstantLearningRate", False),
        ("exponential_decay_learning_rate", "ExponentialDecayLearningRate", False),
    ],
    "ConstantLearningRate": [("learning_rate", "float", False)],
    "ExponentialDecayLearningRate": [
        ("initial_learning_rate", "float", False),
        ("decay_steps", "uint32", False),
        ("decay_factor", "float", False),
        ("min_learning_rate", "float", False),
        ("staircase", "bool", False),
    ],
    "EvalConfig": [("metrics_set", "EvalMetrics", True)],
    "EvalMetrics": [("auc", "AUC", False), ("gauc", "GAUC", False)],
    "AUC": [("num_thresholds", "uint32", False)],
    "GAUC": [("uid_field", "string", False), ("reduction", "string", False)],
    "ModelConfig": [
        ("model_class", "string", False),
        ("feature_groups", "FeatureGroupConfig", True),
        ("rocket_launching", "RocketLaunching", False),
        ("embedding_regularization", "float", False),
        ("num_class", "uint32", False),
    ],
    "FeatureGroupConfig": [
        ("group_name", "string", False),
        ("feature_names", "string", True),
        ("wide_deep", "WideOrDeep", False),
    ],
    "RocketLaunching": [
        ("share_dnn", "DNN", False),
        ("booster_dnn", "DNN", False),
        ("light_dnn", "DNN", False),
        ("l2_regularization", "float", False),
        ("feature_based_distillation", "bool", False),
        ("feature_distillation_function", "Similarity", False),
        # Ours, not EasyRec's: the hint-loss weight and the paper's gradient variant.
        ("hint_weight", "float", False),
        ("light_trains_share", "bool", False),
    ],
    "DNN": [
        ("hidden_units", "uint32", True),
        ("dropout_ratio", "float", True),
        ("activation", "string", False),
        ("use_bn", "bool", False),
    ],
}

_ENUMS = {
    "FieldType": ["INT32", "INT64", "STRING", "FLOAT", "DOUBLE", "BOOL"],
    "InputType": ["CSVInput"],
    "FeatureType": ["IdFeature", "TagFeature", "RawFeature"],
    "WideOrDeep": ["DEEP", "WIDE", "WIDE_AND_DEEP"],
    "Similarity": ["COSINE", "INNER_PRODUCT", "EUCLID"],  # EasyRec's numbers 0, 1, 2
}
_ENUM_NUMBERS = {"FieldType": [0, 1, 2, 4, 5, 6]}

_NO_EFFECT = {
    "model_dir": "the output folder is --output",
    "train_input_path": "the input is --data",
    "eval_input_path": "the eval split is hashed from --data (--eval-fraction)",
    "keep_checkpoint_max": "the Trainer exports once, at the end",
    "sync_replicas": "training runs on one machine",
    "prefetch_size": "tf.data autotunes prefetching",
    "shuffle": "training data is always shuffled",
    "use_moving_average": "not used by this model",
}

_PACKAGE = "rocket_easyrec"


def _build_root_class():
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="rocket_easyrec.proto", package=_PACKAGE, syntax="proto2"
    )
    for name, values in _ENUMS.items():
        enum = file_proto.enum_type.add(name=name)
        for index, value in enumerate(values):
            number = _ENUM_NUMBERS.get(name, list(range(len(values))))[index]
            enum.value.add(name=value, number=number)
    for name, fields in _MESSAGES.items():
        message = file_proto.message_type.add(name=name)
        for number, (field_name, type_name, repeated) in enumerate(fields, start=1):
            field = message.field.add(name=field_name, number=number)
            field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            if type_name in _SCALARS:
                field.type = _SCALARS[type_name]
            else:
                field.type = _F.TYPE_ENUM if type_name in _ENUMS else _F.TYPE_MESSAGE
                field.type_name = f".{_PACKAGE}.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    descriptor = pool.FindMessageTypeByName(f"{_PACKAGE}.EasyRecConfig")
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


_EasyRecConfig = _build_root_class()


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file and the field."""


def parse(text: str, source: str = "<config>"):
    """The EasyRecConfig message; syntax errors and unknown fields name line and column."""
    message = _EasyRecConfig()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as error:
        raise ConfigError(f"{source}:{error}") from None
    return message


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


def _feature(message, where: str) -> FeatureConfig:
    if len(message.input_names) != 1:
        raise ConfigError(f"{where}.input_names: exactly one input per feature is supported")
    name = message.input_names[0]
    if message.feature_name and message.feature_name != name:
        raise ConfigError(f"{where}.feature_name: renaming features is not supported")
    type_name = (
        message.DESCRIPTOR.fields_by_name["feature_type"]
        .enum_type.values_by_number[message.feature_type]
        .name
    )
    dim = message.embedding_dim or 16
    combiner = message.combiner or "sum"
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


def _notices(message, prefix: str = "") -> list[str]:
    notes = []
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.name in _NO_EFFECT:
            notes.append(f"{path} has no effect here: {_NO_EFFECT[field.name]}")
        if field.type == field.TYPE_MESSAGE:
            for item in value if field.label == field.LABEL_REPEATED else [value]:
                notes += _notices(item, f"{path}.")
    return notes


def to_rocket_config(message, source: str = "<config>") -> rocket_config.RocketConfig:
    """Seed defaults, overridden by what the message sets; raises ConfigError naming fields."""
    base = rocket_config.default_config()
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
    for note in _notices(message):
        print(f"[config] note: {note}")
    return to_rocket_config(message, str(path))
