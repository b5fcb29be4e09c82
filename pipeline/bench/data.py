"""The quality, serving and training parts' datasets: rows read or generated, parsed as
ExampleGen parses them, split, analysed by TFT once and transformed in memory."""

from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import Callable
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


def _read_lines(files: list[str]) -> list[tuple[str, int, bytes]]:
    lines = []
    for path in files:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                lines.append((path, number, raw.rstrip(b"\r\n")))
    return lines


def _examples(lines: list[tuple[str, int, bytes]], config) -> list:
    """tf.Examples as the pipeline's ExampleGen writes them (same parser, same errors)."""
    from components.easyrec_example_gen.row_parser import Column, RowParser

    parser = RowParser(
        [Column(f.name, f.type) for f in config.input_fields],
        separator=config.separator,
        label_field=config.label_field,
    )
    out = []
    for path, number, raw in lines:
        example = parser.parse(raw, path, number)
        if example is not None:
            out.append(example)
    return out


def _user_of(example, user_field: str) -> str:
    values = example.features.feature[user_field].bytes_list.value
    return values[0].decode() if values else ""


def split_examples(
    examples: list, eval_fraction: float, by_user: bool, user_field: str = "user_id"
) -> tuple[list, list]:
    """(train, eval). By user: a crc32 of the user id decides, so no eval user is seen in
    training (the real sample is grouped by user). Else a crc32 of the example's bytes,
    as the pipeline's hash split does."""
    train, evaluation = [], []
    threshold = int(eval_fraction * 1000)
    for example in examples:
        if by_user:
            key = _user_of(example, user_field).encode()
        else:
            # deterministic: map fields are otherwise serialized in a per-process order.
            key = example.SerializeToString(deterministic=True)
        (evaluation if zlib.crc32(key) % 1000 < threshold else train).append(example)
    if not train or not evaluation:
        raise BenchError(
            f"the {len(examples)} rows give an empty train or eval split; give more rows"
        )
    return train, evaluation


def load_dataset(
    name: str, source: str, examples: list, eval_fraction: float, by_user: bool
) -> BenchData:
    train, evaluation = split_examples(examples, eval_fraction, by_user)
    split = (
        f"grouped by user: crc32(user_id) puts {eval_fraction:.0%} of users in eval"
        if by_user
        else f"by row: crc32 of each example puts ~{eval_fraction:.0%} in eval"
    )
    return BenchData(
        name=name,
        source=source,
        split=split,
        train_examples=[e.SerializeToString() for e in train],
        eval_examples=[e.SerializeToString() for e in evaluation],
        eval_users=np.array([_user_of(e, "user_id") for e in evaluation]),
    )


def analyze_and_transform(data: BenchData, config, workdir: Path) -> None:
    """TFT analysis of the train split on Beam's DirectRunner (once per dataset), then the
    transform graph applied to both splits once; the results stay in memory."""
    import rocket_preprocessing
    import tensorflow as tf
    import tensorflow_transform as tft

    spec = rocket_preprocessing.raw_feature_spec(config)
    out_dir = workdir / f"transform_{data.name}"
    run_tft(
        config,
        data.train_examples,
        out_dir,
        workdir / "tft_tmp",
        ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    )
    data.tft_output = tft.TFTransformOutput(str(out_dir))
    layer = data.tft_output.transform_features_layer()

    def transform(examples: list[bytes]) -> dict:
        parts = []
        for start in range(0, len(examples), 4096):
            raw = tf.io.parse_example(tf.constant(examples[start : start + 4096]), spec)
            parts.append(layer(raw))
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

    label = rocket_preprocessing.LABEL_KEY
    train = transform(data.train_examples)
    data.train_labels = train.pop(label)
    data.train_features = train
    evaluation = transform(data.eval_examples)
    data.eval_labels = evaluation.pop(label).numpy()
    data.eval_features = evaluation


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
