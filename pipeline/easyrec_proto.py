"""EasyRec's text-format configuration, parsed with protobuf's own text parser.

EasyRec users keep their configs in protobuf text format (`model_config { ... }` alone,
or a whole pipeline config). We declare the subset of EasyRec's messages that this
project honours as protobuf descriptors and let `google.protobuf.text_format` parse the
file, so syntax errors and unknown fields are reported by the parser with line and
column, exactly as EasyRec's own loader would. (The descriptors are built in Python
because no protoc is needed that way; the field names are EasyRec's.)

Every field declared here has an effect (pipeline/easyrec_config.py maps the message to
our RocketConfig), except the few in `_NO_EFFECT`, which are accepted with a printed
notice (`notices`) because they only concern EasyRec's own runtime.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

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
        ("num_epochs", "uint32", False),
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
        ("boundaries", "float", True),
    ],
    "TrainConfig": [
        ("optimizer_config", "OptimizerConfig", True),
        ("num_steps", "uint32", False),
        ("log_step_count_steps", "uint32", False),
        ("save_checkpoints_steps", "uint32", False),
        ("sync_replicas", "bool", False),
        ("keep_checkpoint_max", "uint32", False),
        # Ours, not EasyRec's: the share of train rows held out as validation data,
        # whether the Trainer also trains the linear baseline, its regularization and
        # whether the light SavedModel serves the light net blended with it.
        ("validation_fraction", "float", False),
        ("linear_baseline", "bool", False),
        ("blend_linear_baseline", "bool", False),
        ("linear_embedding_regularization", "float", False),
        ("linear_weight_regularization", "float", False),
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
    "FeatureType": ["IdFeature", "RawFeature", "TagFeature", "LookupFeature"],
    "WideOrDeep": ["DEEP", "WIDE", "WIDE_AND_DEEP"],
    "Similarity": ["COSINE", "INNER_PRODUCT", "EUCLID"],  # EasyRec's numbers 0, 1, 2
}
_ENUM_NUMBERS = {"FieldType": [0, 1, 2, 4, 5, 6], "FeatureType": [0, 1, 2, 4]}

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


def notices(message, prefix: str = "") -> list[str]:
    """One line per field set in the message that has no effect here (`_NO_EFFECT`)."""
    notes = []
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.name in _NO_EFFECT:
            notes.append(f"{path} has no effect here: {_NO_EFFECT[field.name]}")
        if field.type == field.TYPE_MESSAGE:
            for item in value if field.label == field.LABEL_REPEATED else [value]:
                notes += notices(item, f"{path}.")
    return notes
