"""What training reads: the input datasets of a TFX FnArgs (the Trainer's and the
Tuner's), the validation rows held out of the train split by each row's content, and
the step budget (TrainArgs' steps, capped by EasyRec's num_epochs)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import rocket_config
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from rocket_distribution import WorkerRole, shard_policy
from rocket_preprocessing import LABEL_KEY
from tfx_bsl.public import tfxio

VALIDATION_BUCKETS = 10000


def row_buckets(features: dict, label: tf.Tensor) -> tf.Tensor:
    """A bucket in [0, VALIDATION_BUCKETS) for each row of a batch, from the row's label
    and all its feature values: a row lands in the same bucket whatever the order, shuffle,
    batch or worker it is read in, so the validation rows are never trained on."""
    rows = tf.shape(label)[0]
    parts = [_row_strings(label, rows)]
    parts += [_row_strings(features[name], rows) for name in sorted(features)]
    joined = tf.strings.reduce_join(tf.stack(parts, axis=1), axis=1, separator="\x1f")
    return tf.strings.to_hash_bucket_fast(joined, VALIDATION_BUCKETS)


def _row_strings(value, rows: tf.Tensor) -> tf.Tensor:
    """Each row's values of one feature joined into one string; a sparse or ragged
    feature joins only the row's own values (no padding, which depends on the batch)."""
    if isinstance(value, tf.SparseTensor):
        # One segment join over the row ids: what joining the RaggedTensor.from_sparse rows
        # gives (a SparseTensor's values are in row order), in 2 ops where the ragged
        # conversion built ~40; the Trainer traces this for each of its datasets.
        values = value.values
        if values.dtype != tf.string:
            values = tf.strings.as_string(values)
        return tf.strings.unsorted_segment_join(
            values, value.indices[:, 0], num_segments=rows, separator=","
        )
    if isinstance(value, tf.RaggedTensor):
        if value.dtype != tf.string:
            value = tf.ragged.map_flat_values(tf.strings.as_string, value)
        return tf.strings.reduce_join(value, axis=1, separator=",")
    value = tf.reshape(value, [rows, -1])
    if value.dtype != tf.string:
        value = tf.strings.as_string(value)
    return tf.strings.reduce_join(value, axis=1, separator=",")


def split_rows(dataset: tf.data.Dataset, fraction: float, validation: bool) -> tf.data.Dataset:
    """Each batch of a batched (features, label) dataset with only its rows in (or, with
    validation False, out of) the validation share. Batches shrink by about that share;
    `.rebatch()` restores a fixed size. Rows are masked within the batch: unbatching and
    batching again cost 18 s per 300 batches of 512 here, masking 2.7 s."""
    limit = round(fraction * VALIDATION_BUCKETS)

    # Not converted by autograph: its Python branches are on tensor types, known when
    # tracing. Converting it (and what it calls) took 2.7 s of each of the Trainer's
    # four dataset traces on the default run.
    @tf.autograph.experimental.do_not_convert
    def select(features, label):
        buckets = row_buckets(features, label)
        keep = buckets < limit if validation else buckets >= limit
        kept = _KeptRows(keep)
        return {name: kept.of(value) for name, value in features.items()}, kept.of(label)

    return dataset.map(select, num_parallel_calls=tf.data.AUTOTUNE)


class _KeptRows:
    """The rows of a batch where `keep` is True, taken from dense, sparse or ragged values
    by gathers on indices computed once per batch. tf.boolean_mask on each feature built
    ~100 ops a feature (1,946 for the seed's features), and a split's trace took 1.3-1.6 s
    (the Trainer traces four, the bench two per net it trains); with gathers, 0.6 s."""

    def __init__(self, keep: tf.Tensor):
        self.keep = keep
        self.rows = tf.reshape(tf.where(keep), [-1])  # the kept rows' old numbers
        self.count = tf.size(self.rows, out_type=tf.int64)
        self.new_row = tf.cumsum(tf.cast(keep, tf.int64)) - 1  # old row -> new row

    def of(self, value):
        if not isinstance(value, tf.SparseTensor):  # dense or ragged: whole rows
            return tf.gather(value, self.rows)
        entries = tf.reshape(tf.where(tf.gather(self.keep, value.indices[:, 0])), [-1])
        indices = tf.gather(value.indices, entries)
        indices = tf.concat([tf.gather(self.new_row, indices[:, :1]), indices[:, 1:]], axis=1)
        shape = tf.concat([[self.count], value.dense_shape[1:]], 0)
        return tf.SparseTensor(indices, tf.gather(value.values, entries), shape)


def make_dataset(
    file_pattern: list[str] | str,
    data_accessor,
    tft_output: tft.TFTransformOutput,
    batch_size: int,
    num_epochs: int | None,
    shuffle: bool,
    shuffle_seed: int | None = None,
    auto_shard_policy: tf.data.experimental.AutoShardPolicy | None = None,
) -> tf.data.Dataset:
    """Batches of transformed features from TFX's data accessor. `batch_size` is the global
    batch: under a multi-worker strategy Keras splits it over the replicas and shards the
    dataset over the workers by `auto_shard_policy`. Element sharding needs every worker
    to read the same order, hence `shuffle_seed` for multi-worker runs."""
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size,
            label_key=LABEL_KEY,
            num_epochs=num_epochs,
            shuffle=shuffle,
            shuffle_seed=shuffle_seed,
        ),
        tft_output.transformed_metadata.schema,
    )
    if auto_shard_policy is not None:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = auto_shard_policy
        dataset = dataset.with_options(options)
    return dataset


def count_rows(file_patterns: list[str] | str) -> int:
    """Records in the gzipped TFRecord files of a split (as ExampleGen writes them)."""
    patterns = [file_patterns] if isinstance(file_patterns, str) else file_patterns
    files = sorted(name for pattern in patterns for name in tf.io.gfile.glob(pattern))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return int(records.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))


def epoch_limited_steps(train: rocket_config.TrainConfig, train_rows: int, steps: int) -> int:
    """`steps`, or fewer when train.num_epochs passes over the rows training sees (the
    train split less its validation hold-out) end sooner; at least one step."""
    if not train.num_epochs:
        return steps
    rows = train_rows * (1 - train.validation_fraction)
    return max(1, min(steps, math.ceil(train.num_epochs * rows / train.batch_size)))


def epoch_steps(train: rocket_config.TrainConfig, train_rows: int) -> int:
    """Steps of one pass over the rows training sees (the train split less its hold-out)."""
    return max(1, math.ceil(train_rows * (1 - train.validation_fraction) / train.batch_size))


def auto_steps(train: rocket_config.TrainConfig, train_rows: int) -> int:
    """The budget when no step count is given: AUTO_EPOCHS passes over the rows training
    sees, at least AUTO_MIN_STEPS."""
    epochs = rocket_config.AUTO_EPOCHS * epoch_steps(train, train_rows)
    return max(rocket_config.AUTO_MIN_STEPS, epochs)


def step_budget(train: rocket_config.TrainConfig, train_rows: int, steps: int) -> int:
    """`steps` (TrainArgs' or train_steps), or auto_steps when it is 0; capped by
    train.num_epochs (epoch_limited_steps)."""
    return epoch_limited_steps(train, train_rows, steps or auto_steps(train, train_rows))


# Validation checks per epoch of the train rows when train_config sets no interval: CTR
# nets peak within the first epochs and then memorise ids (at 50,000 rows the light net's
# best check came after 1.4 epochs and it lost 0.05 AUC by the fourth), so a fixed
# interval of a twelfth of train_steps (100 steps: 1.4 epochs there) stepped over the peak.
CHECKS_PER_EPOCH = 2


def epoch_check_steps(train: rocket_config.TrainConfig, train_rows: int, steps: int) -> int:
    """The default validation interval for `train_rows` train rows and a budget of
    `steps`: a twelfth of the steps, or half an epoch of the rows training sees when that
    is shorter (at least one step)."""
    epoch = epoch_steps(train, train_rows)
    return max(1, min(-(-steps // 12), math.ceil(epoch / CHECKS_PER_EPOCH), steps))


def training_plan(fn_args, config: rocket_config.RocketConfig,
                  report: bool = True) -> tuple[rocket_config.RocketConfig, int]:  # fmt: skip
    """The config and step budget of a TFX FnArgs (the Trainer's or the Tuner's): TrainArgs'
    num_steps (else train_steps; when both are 0, chosen from the row count by
    step_budget), capped by num_epochs when it is set, and, when train_config sets no
    eval_every_steps, a validation check every half epoch of the split's rows
    (epoch_check_steps); the model's row-count choices are made and said
    (rocket_config.row_count_choices). The rows are counted only when needed. The
    returned config's train_steps is the budget."""
    train = config.train
    steps = fn_args.train_steps or train.train_steps
    epoch_checks = train.validation_fraction > 0 and not train.eval_every_steps
    model = config.model
    by_rows = model.embedding_regularization is None
    if steps and not (train.num_epochs or epoch_checks or by_rows):
        train = dataclasses.replace(train, train_steps=steps)
        return dataclasses.replace(config, train=train), steps
    rows = count_rows(fn_args.train_files)
    chosen = steps or auto_steps(train, rows)
    limited = epoch_limited_steps(train, rows, chosen)
    train = dataclasses.replace(train, train_steps=limited)
    if epoch_checks:
        train = dataclasses.replace(train, eval_every_steps=epoch_check_steps(train, rows, limited))
    choices = rocket_config.row_count_choices(dataclasses.replace(config, train=train), rows)
    config = choices.config
    if report:
        source = ""
        if not steps:
            source = (
                f" (chosen from the rows: {rocket_config.AUTO_EPOCHS} epochs of "
                f"{epoch_steps(train, rows)} steps, at least {rocket_config.AUTO_MIN_STEPS})"
            )
        budget = f"at most {limited} steps (of {chosen})" if train.num_epochs else f"{chosen} steps"
        epochs = f"num_epochs {train.num_epochs:g} over " if train.num_epochs else ""
        print(
            f"[Trainer] {epochs}{rows:,} train rows ({train.validation_fraction:.0%} held out "
            f"for validation), batch {train.batch_size}: {budget}{source}, a validation "
            f"check every {train.check_every()} steps",
            flush=True,
        )
        for note in choices.notes:
            print(f"[Trainer] {note}", flush=True)
    return config, limited


def train_steps_of(fn_args, config: rocket_config.RocketConfig, report: bool = True) -> int:
    """The step budget of training_plan."""
    return training_plan(fn_args, config, report)[1]


@dataclass
class Splits:
    """What training reads: the train rows (repeated, shuffled, without the validation
    rows), the validation rows held out of the train split (None when
    validation_fraction is 0) and the eval split (one ordered pass)."""

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    eval: tf.data.Dataset
    # Every row of the train split, one ordered pass, not sharded: what the linear
    # baseline's L2 is cross-validated on (it trains on them all: train_all). Built when
    # called (only small logs need it).
    train_once: Callable[[], tf.data.Dataset] | None = None
    # Every row of the train split, the validation rows included, repeated and shuffled
    # as `train` is (the same sharding): what a model that reads no validation rows, the
    # linear baseline fit to its end, trains on. None when nothing is held out.
    train_all: tf.data.Dataset | None = None


def read_splits(fn_args, tft_output: tft.TFTransformOutput, train: rocket_config.TrainConfig,
                role: WorkerRole) -> Splits:  # fmt: skip
    """The datasets of a TFX FnArgs (the Trainer's or the Tuner's): same rows, same order,
    same validation hold-out for both."""
    # A seeded shuffle: a rerun sees the same batches (with the seeded weights, the same
    # model), and under multi-worker training every worker reads the same order, so that
    # sharding by element gives each worker a disjoint part. The global seed too: a
    # shuffle's order depends on it as well as on its own seed, and a process that has
    # already trained (a Tuner's later trials) has it set.
    keras.utils.set_random_seed(train.seed)
    train_sharding = eval_sharding = None
    if role.multi_worker:
        train_sharding = shard_policy(fn_args.train_files, role.num_workers)
        # Eval by element: every worker gets an even share of a finite split even when its
        # files differ in size.
        eval_sharding = tf.data.experimental.AutoShardPolicy.DATA
        print(f"[Trainer] train data sharded by {train_sharding.name}", flush=True)
    train_dataset = make_dataset(
        fn_args.train_files,
        fn_args.data_accessor,
        tft_output,
        train.batch_size,
        num_epochs=None,
        shuffle=True,
        shuffle_seed=train.seed,
        auto_shard_policy=train_sharding,
    )

    def read_once(files, sharding=eval_sharding):  # eval-sized batches, in file order, once
        return make_dataset(
            files,
            fn_args.data_accessor,
            tft_output,
            train.eval_batch_size,
            num_epochs=1,
            shuffle=False,
            auto_shard_policy=sharding,
        )

    def train_once() -> tf.data.Dataset:
        return read_once(fn_args.train_files, sharding=None)

    validation_dataset = train_all = None
    if train.validation_fraction > 0:
        train_all = train_dataset
        # Held out of the train split by each row's content (row_buckets), so the eval
        # split stays the gate's alone and no validation row is trained on.
        train_dataset = split_rows(
            train_dataset, train.validation_fraction, validation=False
        ).rebatch(train.batch_size, drop_remainder=True)
        validation_dataset = split_rows(
            read_once(fn_args.train_files), train.validation_fraction, validation=True
        ).rebatch(train.eval_batch_size)
        if role.multi_worker:
            validation_dataset = validation_dataset.cache()  # read once, sharded each check
        else:
            validation_dataset = in_memory(validation_dataset)
    return Splits(
        train_dataset, validation_dataset, read_once(fn_args.eval_files), train_once, train_all
    )


def in_memory(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset`, read once into memory (a finite dataset of batches) and served from
    there. Each validation check makes a new iterator: over the reading and parsing graph
    (even `.cache()`d) that took 0.24 s a check, 7 s of the default run's Trainer."""
    parts = [tf.data.Dataset.from_tensors(batch) for batch in dataset]
    if not parts:
        return dataset
    while len(parts) > 1:  # pairwise: a chain of log2(batches) concatenations, not one each
        pairs = zip(parts[0::2], parts[1::2] + [None])
        parts = [first if second is None else first.concatenate(second) for first, second in pairs]
    return parts[0]
