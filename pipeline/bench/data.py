"""The quality, serving and training parts' datasets: rows read or generated, parsed as
ExampleGen parses them, split, analysed by TFT once and transformed in memory."""

from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import data_source, sample_data
from pipeline.bench.settings import BenchError, BenchSettings
from pipeline.bench.transform import run_tft


@dataclass
class BenchData:
    """One dataset, split and analysed once; every model variant reads these tensors."""

    name: str
    source: str
    split: str
    train_examples: list[bytes]
    eval_examples: list[bytes]
    eval_users: np.ndarray
    tft_output: Any = None
    train_features: dict = field(default_factory=dict)
    train_labels: Any = None
    eval_features: dict = field(default_factory=dict)
    eval_labels: np.ndarray | None = None
    # Rows of the train split; the at-size part keeps them in files, not train_examples.
    train_rows: int = 0
    # The transformed train split's gzipped TFRecords (the at-size part), else None.
    train_files: str | None = None


def _read_lines(files: list[str]) -> list[tuple[str, int, bytes]]:
    lines = []
    for path in files:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                lines.append((path, number, raw.rstrip(b"\r\n")))
    return lines


def parse_rows(lines: Iterable[tuple[str, int, bytes]], config) -> Iterator:
    """tf.Examples as the pipeline's ExampleGen writes them (same parser, same errors),
    one (file, line number, raw line) at a time; rows the parser skips are left out."""
    from components.easyrec_example_gen.row_parser import Column, RowParser

    parser = RowParser(
        [Column(f.name, f.type) for f in config.input_fields],
        separator=config.separator,
        label_field=config.label_field,
    )
    for path, number, raw in lines:
        example = parser.parse(raw, path, number)
        if example is not None:
            yield example


def _examples(lines: list[tuple[str, int, bytes]], config) -> list:
    return list(parse_rows(lines, config))


def user_of(example, user_field: str) -> str:
    values = example.features.feature[user_field].bytes_list.value
    return values[0].decode() if values else ""


def split_key(example, by_user: bool, user_field: str = "user_id") -> bytes:
    """What the bench's splits hash: the user id (no eval user is seen in training; the
    real sample is grouped by user), else the example's bytes, as the pipeline's hash
    split does."""
    if by_user:
        return user_of(example, user_field).encode()
    # deterministic: map fields are otherwise serialized in a per-process order.
    return example.SerializeToString(deterministic=True)


def in_eval(example, eval_fraction: float, by_user: bool, user_field: str = "user_id") -> bool:
    """Whether an example goes to the eval split: a crc32 of its split_key decides."""
    return zlib.crc32(split_key(example, by_user, user_field)) % 1000 < int(eval_fraction * 1000)


def fold_of(example, folds: int, by_user: bool, user_field: str = "user_id") -> int:
    """The cross-validation fold (0 .. folds - 1) an example is scored in: a crc32 of its
    split_key, so a row (or a user's rows) lands in the same fold whatever the order."""
    return zlib.crc32(split_key(example, by_user, user_field)) % folds


def split_examples(
    examples: list, eval_fraction: float, by_user: bool, user_field: str = "user_id"
) -> tuple[list, list]:
    """(train, eval), each example placed by `in_eval`."""
    train, evaluation = [], []
    for example in examples:
        (evaluation if in_eval(example, eval_fraction, by_user, user_field) else train).append(
            example
        )
    if not train or not evaluation:
        raise BenchError(
            f"the {len(examples)} rows give an empty train or eval split; give more rows"
        )
    return train, evaluation


def split_description(eval_fraction: float, by_user: bool, folds: int = 1) -> str:
    """How `in_eval` (or, with folds, `fold_of`) splits, in words (benchmark.json's
    `split`)."""
    if folds > 1:
        unit = "user id" if by_user else "example"
        return (f"{folds}-fold cross-validation: crc32 of each {unit} picks its fold; every "
                f"row is scored once, by models trained on the other {folds - 1} folds; a "
                "seed's AUC is the mean of its folds' AUCs, its GAUC is taken over all "
                "rows")  # fmt: skip
    if by_user:
        return f"grouped by user: crc32(user_id) puts {eval_fraction:.0%} of users in eval"
    return f"by row: crc32 of each example puts ~{eval_fraction:.0%} in eval"


def load_dataset(
    name: str, source: str, examples: list, eval_fraction: float, by_user: bool
) -> BenchData:
    train, evaluation = split_examples(examples, eval_fraction, by_user)
    return BenchData(
        name=name,
        source=source,
        split=split_description(eval_fraction, by_user),
        train_examples=[e.SerializeToString() for e in train],
        eval_examples=[e.SerializeToString() for e in evaluation],
        eval_users=np.array([user_of(e, "user_id") for e in evaluation]),
        train_rows=len(train),
    )


def transform_in_memory(tft_output, config, examples: list[bytes]) -> tuple[dict, Any]:
    """(transformed features, labels) of serialized raw examples, by the transform graph
    in memory, in their order."""
    import rocket_preprocessing
    import tensorflow as tf

    spec = rocket_preprocessing.raw_feature_spec(config)
    layer = tft_output.transform_features_layer()
    parts = []
    for start in range(0, len(examples), 4096):
        raw = tf.io.parse_example(tf.constant(examples[start : start + 4096]), spec)
        parts.append(layer(raw))
    merged = concat_batches(parts)
    labels = merged.pop(rocket_preprocessing.LABEL_KEY)
    return merged, labels


def concat_batches(parts: list[dict]) -> dict:
    """Batches of feature dicts (dense or SparseTensor values) as one dict, in order."""
    import tensorflow as tf

    merged = {}
    for key in parts[0]:
        values = [part[key] for part in parts]
        if isinstance(values[0], tf.SparseTensor):
            width = max(int(v.dense_shape[1]) for v in values)
            values = [tf.sparse.reset_shape(v, [v.dense_shape[0], width]) for v in values]
            merged[key] = tf.sparse.concat(0, values)
        else:
            merged[key] = tf.concat(values, 0)
    return merged


def read_transformed(tft_output, file_pattern: str) -> tuple[dict, np.ndarray]:
    """(features, labels) of gzipped transformed tf.Example files, in memory."""
    import rocket_preprocessing
    import tensorflow as tf

    spec = tft_output.transformed_feature_spec()
    files = sorted(tf.io.gfile.glob(file_pattern))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(8192)
    merged = concat_batches([tf.io.parse_example(batch, spec) for batch in records])
    # preprocessing_fn writes the label dense, one per row: a FixedLen int64 feature.
    return merged, merged.pop(rocket_preprocessing.LABEL_KEY).numpy()


def analyze_and_transform(data: BenchData, config, workdir: Path) -> None:
    """TFT analysis of the train split on Beam's DirectRunner (once per dataset), then the
    transform graph applied to both splits once; the results stay in memory."""
    import tensorflow_transform as tft

    out_dir = workdir / f"transform_{data.name}"
    run_tft(
        config,
        data.train_examples,
        out_dir,
        workdir / "tft_tmp",
        ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    )
    data.tft_output = tft.TFTransformOutput(str(out_dir))
    data.train_features, data.train_labels = transform_in_memory(
        data.tft_output, config, data.train_examples
    )
    data.eval_features, labels = transform_in_memory(data.tft_output, config, data.eval_examples)
    data.eval_labels = labels.numpy()


def load_main(
    settings: BenchSettings,
    base,
    data: str | None,
    output: Path,
    workdir: Path,
    log: Callable[[str], None],
) -> BenchData:
    """The main dataset (--data, or the generator), split and analysed by TFT."""
    if data is not None:
        try:
            source = data_source.resolve(data, output)
        except data_source.InputError as error:
            raise BenchError(str(error)) from None
        examples = _examples(_read_lines(list(source.files)), base)
        main = load_dataset(
            "data", ", ".join(source.files), examples, settings.eval_fraction, False
        )
    else:
        rows = sample_data.generate_rows(settings.generated_rows, seed=0)
        lines = [("generated", i + 1, r.encode()) for i, r in enumerate(rows)]
        main = load_dataset(
            "generated",
            f"pipeline.sample_data, {settings.generated_rows} rows, seed 0",
            _examples(lines, base),
            settings.eval_fraction,
            False,
        )
    t0 = time.time()
    analyze_and_transform(main, base, workdir)
    seconds = time.time() - t0
    log(f"[bench] TFT on {main.name}: {len(main.train_examples)} train rows ({seconds:.0f}s)")
    return main


def load_real(
    settings: BenchSettings, base, path: Path, workdir: Path, log: Callable[[str], None]
) -> BenchData:
    """The real sample, split by user and analysed by TFT."""
    real = load_dataset(
        "taobao_sample",
        str(path),
        _examples(_read_lines([str(path)]), base),
        settings.eval_fraction,
        True,
    )
    t0 = time.time()
    analyze_and_transform(real, base, workdir)
    log(f"[bench] TFT on the real sample ({time.time() - t0:.0f}s)")
    return real
