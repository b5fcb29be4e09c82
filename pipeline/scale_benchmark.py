"""The large-id-space part of `rocket bench`: Transform and Trainer at a real id count.

Why a part of its own: the other parts run on tens of thousands of generated rows, where
every vocabulary is small and everything fits in one process. What breaks first in
production is the id space: TFT's vocabulary pass over a million user ids, a Transform
spread over Beam workers, and a Trainer whose user table has a million rows (and Adam's
two slots of that shape). This part generates rows with exactly `users` distinct user ids
and `ads` distinct ad ids and measures:

- Transform: TFT analyze + transform with the project's preprocessing_fn and default
  config, as TFX's Transform runs it (read tf.Example TFRecords, analyze, read again and
  transform, write gzipped transformed tf.Examples and the transform graph), on Beam's
  DirectRunner in multi-processing mode with 1 and 2 workers: rows/s, the 2-over-1
  scaling ratio, peak memory of the process tree.
- Trainer: the rocket model with the table sizes of that Transform output, trained on it
  through the Trainer's own input path (rocket_training.make_dataset): examples/s after a
  warm-up, peak memory, and the embedding-memory estimate the Trainer prints.

Each Transform run and the training run is a fresh subprocess (`python -m
pipeline.scale_benchmark transform|train ...`), so its Beam workers are its children and
its memory is its own; the parent samples the RSS of the whole process tree with psutil.

Rows: the default config keeps ids seen at least `frequency_threshold` (2) times in the
vocabulary. With rows = users, every user id would be seen once and the user vocabulary
would be empty, so the full size has rows = 2 x users: every user id appears exactly
twice and every ad id four times, and both vocabularies hold every id.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import rocket_config

import pipeline  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)
from pipeline import sample_data

RAW_PREFIX = "raw"
TRANSFORMED_PREFIX = "transformed_examples"
TRANSFORM_FN_DIR = "transform_output"
RESULT_FILE = "result.json"
SAMPLE_SECONDS = 0.5
LOG = "[bench] scale:"


@dataclass(frozen=True)
class ScaleSettings:
    """Sizes of the scale part. `full()` is `rocket bench`'s; tests pass tiny ones."""

    rows: int
    users: int
    ads: int
    workers: tuple[int, ...] = (1, 2)
    train_steps: int = 200  # timed, after the warm-up steps
    warmup_steps: int = 20
    batch_size: int = 512
    shards: int = 8  # raw TFRecord files: what the Beam workers split between them
    # The small-table reference training caps every table at this many rows: about the
    # real 10k-row sample's largest vocabulary.
    small_table_rows: int = 10_000
    seed: int = 0

    @classmethod
    def full(cls) -> ScaleSettings:
        return cls(rows=2_000_000, users=1_000_000, ads=500_000)

    def check(self) -> ScaleSettings:
        if min(self.users, self.ads) <= 0 or self.rows < max(self.users, self.ads):
            raise ValueError(
                f"rows ({self.rows}) must be at least users ({self.users}) and ads "
                f"({self.ads}), both positive: every id appears at least once"
            )
        if not self.workers or min(self.workers) < 1:
            raise ValueError(f"workers must be positive, got {self.workers}")
        if min(self.train_steps, self.warmup_steps, self.batch_size, self.shards,
               self.small_table_rows) < 1:  # fmt: skip
            raise ValueError(
                "train_steps, warmup_steps, batch_size, shards and small_table_rows must be "
                "positive"
            )
        return self


# --- data -------------------------------------------------------------------------------

N_CATES = 6000  # ~6.7k categories in the Taobao display-ad data
N_BRANDS = 60_000
N_PATTERNS = 4096  # distinct behaviour histories (tag lists), shared by similar users
LATENT_DIM = 8
TARGET_CTR = 0.05
PIDS = (b"430548_1007", b"430539_1007")


@dataclass
class ScaleData:
    """Column arrays of the generated rows: rows index users and ads, whose attributes
    live in per-user / per-ad arrays. -1 marks a missing value."""

    clk: np.ndarray
    buy: np.ndarray
    pid: np.ndarray
    user: np.ndarray  # row -> user index; user_id = index + 1
    ad: np.ndarray  # row -> ad index; adgroup_id = index + 1
    user_profile: np.ndarray  # (users, 8)
    user_pattern: np.ndarray  # user -> history pattern, -1 = no history
    ad_cate: np.ndarray  # ad -> category id
    ad_campaign: np.ndarray
    ad_customer: np.ndarray
    ad_brand: np.ndarray  # ad -> brand id, -1 = NULL
    ad_price: np.ndarray
    pattern_cates: list[str]  # "|"-joined category ids of each pattern
    pattern_brands: list[str]

    @property
    def rows(self) -> int:
        return int(self.clk.shape[0])

    def csv_line(self, i: int) -> str:
        """Row i as an EasyRec Taobao CSV line (the columns of rocket_config's
        TAOBAO_INPUT_FIELDS): what ExampleGen would read for the same example."""
        u, a = int(self.user[i]), int(self.ad[i])
        pattern = int(self.user_pattern[u])
        brand = int(self.ad_brand[a])
        return ",".join(
            [
                str(self.clk[i]),
                str(self.buy[i]),
                PIDS[self.pid[i]].decode(),
                str(a + 1),
                str(self.ad_cate[a]),
                str(self.ad_campaign[a]),
                str(self.ad_customer[a]),
                "NULL" if brand < 0 else str(brand),
                str(u + 1),
                *("" if v < 0 else str(v) for v in self.user_profile[u]),
                self.pattern_cates[pattern] if pattern >= 0 else "",
                self.pattern_brands[pattern] if pattern >= 0 else "",
                str(self.ad_price[a]),
            ]
        )


def _patterns(rng: np.random.Generator, cate_vec: np.ndarray, cate_brand: np.ndarray):
    """Behaviour histories: runs of categories a latent taste prefers, one brand a run."""
    tastes = rng.normal(0, 1, (N_PATTERNS, LATENT_DIM))
    cates_text, brands_text = [], []
    seen = np.zeros((N_PATTERNS, N_CATES), dtype=bool)
    for p in range(N_PATTERNS):
        length = int(np.clip(rng.normal(31, 12), 1, 50))
        scores = 2.0 * cate_vec @ tastes[p]
        prefs = np.exp(scores - scores.max())
        prefs /= prefs.sum()
        runs = rng.integers(1, 12, length)
        chosen = rng.choice(N_CATES, size=length, p=prefs)
        cates = np.repeat(chosen, runs)[:length]
        brands = cate_brand[cates]
        seen[p, cates] = True
        cates_text.append("|".join(str(c + 1000) for c in cates))
        brands_text.append("|".join(str(b) for b in brands))
    return tastes, seen, cates_text, brands_text


def generate(settings: ScaleSettings) -> ScaleData:
    """Rows where every user id appears rows/users times (floor or ceil) and every ad id
    rows/ads times, shuffled; ~5% clicks from a planted user-taste x ad-category term,
    "the ad's category is in the user's history", user and ad biases."""
    settings.check()
    rng = np.random.default_rng(settings.seed)
    n, n_users, n_ads = settings.rows, settings.users, settings.ads
    user = rng.permutation(np.arange(n, dtype=np.int64) % n_users)
    ad = rng.permutation(np.arange(n, dtype=np.int64) % n_ads)

    cate_vec = rng.normal(0, 1 / np.sqrt(LATENT_DIM), (N_CATES, LATENT_DIM))
    cate_brand = rng.integers(1000, 460_000, N_CATES)  # one main brand per category
    tastes, seen, cates_text, brands_text = _patterns(rng, cate_vec, cate_brand)

    # Users: a history pattern (58% have one, as in the real sample), a taste near it.
    user_pattern = rng.integers(0, N_PATTERNS, n_users)
    user_pattern[rng.random(n_users) >= 0.58] = -1
    user_taste = tastes[np.maximum(user_pattern, 0)] * (user_pattern >= 0)[:, None]
    user_taste = (user_taste + rng.normal(0, 0.5, (n_users, LATENT_DIM))).astype(np.float32)
    highs = (100, 13, 3, 7, 4, 4, 2, 5)
    lows = (0, 0, 1, 1, 1, 1, 0, 1)
    profile = np.stack([rng.integers(lo, hi, n_users) for lo, hi in zip(lows, highs)], axis=1)
    profile[rng.random(n_users) < 0.04] = -1
    profile[rng.random(n_users) < 0.5, 4] = -1
    profile[rng.random(n_users) < 0.3, 7] = -1

    # Ads: category, campaign (two ads each), customer, brand (NULL for a third), price.
    ad_cate_index = rng.integers(0, N_CATES, n_ads)
    ad_brand = np.where(rng.random(n_ads) < 1 / 3, -1, cate_brand[ad_cate_index])
    campaign = rng.integers(0, max(1, n_ads // 2), n_ads)
    customer = rng.integers(0, max(1, n_ads // 6), max(1, n_ads // 2))[campaign]

    logits = (
        1.4 * np.einsum("ij,ij->i", user_taste[user], cate_vec[ad_cate_index[ad]])
        + 0.8 * ((user_pattern[user] >= 0) & seen[user_pattern[user], ad_cate_index[ad]])
        + rng.normal(0, 0.3, n_users)[user]
        + rng.normal(0, 0.4, n_ads)[ad]
    )
    logits += sample_data.intercept_for(logits, TARGET_CTR)
    clk = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.int64)
    return ScaleData(
        clk=clk,
        buy=clk * (rng.random(n) < 0.02),
        pid=rng.integers(0, 2, n),
        user=user,
        ad=ad,
        user_profile=profile,
        user_pattern=user_pattern,
        ad_cate=ad_cate_index + 1000,
        ad_campaign=campaign + 100_000,
        ad_customer=customer + 1,
        ad_brand=ad_brand,
        ad_price=rng.integers(0, 50, n_ads),
        pattern_cates=cates_text,
        pattern_brands=brands_text,
    )


# Serialized tf.Examples, built from pre-encoded pieces: a row is its click/buy/pid piece,
# its user's piece and its ad's piece, concatenated (map entries of Features may come in
# any order). ~2 µs a row instead of ~40 µs for tf.train.Example objects; the test checks
# that each Example equals what ExampleGen's RowParser makes of the row's CSV line.


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _delimited(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + _varint(len(payload)) + payload


def _entry(name: str, feature: bytes) -> bytes:
    """One map entry of Features.feature (field 1): key (1) and Feature value (2)."""
    return _delimited(0x0A, _delimited(0x0A, name.encode()) + _delimited(0x12, feature))


@functools.cache
def _bytes_prefix(name: str, length: int) -> bytes:
    """Everything of a one-value bytes feature's map entry before the value: its
    lengths depend only on the name and the value's length."""
    marker = b"\x00" * length
    entry = _entry(name, _delimited(0x0A, _delimited(0x0A, marker)))  # bytes_list.value
    return entry[: len(entry) - length]


def _bytes_entry(name: str, value: bytes) -> bytes:
    return _bytes_prefix(name, len(value)) + value


def _int_entry(name: str, value: int) -> bytes:
    if value < 0:
        raise ValueError(f"{name}: negative ints are not encoded here ({value})")
    return _entry(name, _delimited(0x1A, _delimited(0x0A, _varint(value))))  # packed int64


def _optional(name: str, value: int) -> bytes:
    return b"" if value < 0 else _bytes_entry(name, str(value).encode())


def encoded_examples(data: ScaleData) -> Callable[[int, int], list[bytes]]:
    """A function (start, stop) -> serialized tf.Examples of those rows."""
    profiles = [
        {v: _optional(column, v) for v in np.unique(data.user_profile[:, i]).tolist()}
        for i, column in enumerate(rocket_config.TAOBAO_PROFILE_FIELDS)
    ]
    users = [
        _bytes_entry("user_id", str(u + 1).encode())
        + b"".join(cache[v] for cache, v in zip(profiles, profile))
        for u, profile in enumerate(data.user_profile.tolist())
    ]
    tags = [
        _bytes_entry("tag_category_list", cates.encode())
        + _bytes_entry("tag_brand_list", brands.encode())
        for cates, brands in zip(data.pattern_cates, data.pattern_brands)
    ] + [b""]  # index -1: no history
    user_tags = [tags[p] for p in data.user_pattern.tolist()]
    prices = {v: _int_entry("price", v) for v in np.unique(data.ad_price).tolist()}
    ads = [
        _bytes_entry("adgroup_id", str(a + 1).encode())
        + _bytes_entry("cate_id", str(cate).encode())
        + _bytes_entry("campaign_id", str(campaign).encode())
        + _bytes_entry("customer", str(customer).encode())
        + _optional("brand", brand)
        + prices[price]
        for a, (cate, campaign, customer, brand, price) in enumerate(
            zip(
                data.ad_cate.tolist(),
                data.ad_campaign.tolist(),
                data.ad_customer.tolist(),
                data.ad_brand.tolist(),
                data.ad_price.tolist(),
            )
        )
    ]
    heads = {
        (c, b, p): _int_entry("clk", c) + _int_entry("buy", b) + _bytes_entry("pid", PIDS[p])
        for c in (0, 1)
        for b in (0, 1)
        for p in (0, 1)
    }

    def rows(start: int, stop: int) -> list[bytes]:
        out = []
        part = slice(start, stop)
        for c, b, p, u, a in zip(
            data.clk[part].tolist(),
            data.buy[part].tolist(),
            data.pid[part].tolist(),
            data.user[part].tolist(),
            data.ad[part].tolist(),
        ):
            features = heads[c, b, p] + users[u] + user_tags[u] + ads[a]
            out.append(b"\x0a" + _varint(len(features)) + features)
        return out

    return rows


def write_examples(data: ScaleData, directory: Path, shards: int) -> list[str]:
    """Gzipped TFRecord shards of the rows, as ExampleGen writes them; their paths."""
    import tensorflow as tf

    directory.mkdir(parents=True, exist_ok=True)
    rows = encoded_examples(data)
    bounds = np.linspace(0, data.rows, shards + 1).astype(int)
    paths = []
    for shard, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        path = directory / f"{RAW_PREFIX}-{shard:05d}-of-{shards:05d}.gz"
        with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
            for step in range(start, stop, 100_000):
                for record in rows(step, min(step + 100_000, stop)):
                    writer.write(record)
        paths.append(str(path))
    return paths


def vocabulary_floor_sizes(data: ScaleData, threshold: int) -> dict[str, int]:
    """How many user and ad ids are seen at least `threshold` times: the vocabulary sizes
    that TFT should find."""
    return {
        "user_id": int((np.bincount(data.user) >= threshold).sum()),
        "adgroup_id": int((np.bincount(data.ad) >= threshold).sum()),
    }


# --- the measured subprocesses ------------------------------------------------------------


def _count_records(pattern: str) -> int:
    import tensorflow as tf

    files = tf.io.gfile.glob(pattern)
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=2)
    # In batches: one reduce step a record takes ~40 µs, one a batch ~10x less a record.
    batches = dataset.batch(8192)
    return int(batches.reduce(np.int64(0), lambda n, b: n + tf.size(b, tf.int64)).numpy())


def run_transform(raw_pattern: str, output: Path, workers: int) -> dict:
    """TFT analyze + transform as TFX's Transform runs them (statistics disabled, as in
    the project's pipeline): analysis pass, a second read to transform, gzipped
    transformed tf.Examples and the transform graph under `output`."""
    import apache_beam as beam
    import rocket_preprocessing
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import schema_utils
    from tfx_bsl.coders import example_coder
    from tfx_bsl.public import tfxio

    from pipeline.benchmark import raw_feature_spec

    config = rocket_config.default_config()
    schema = schema_utils.schema_from_feature_spec(raw_feature_spec(config))
    source = tfxio.TFExampleRecord(
        file_pattern=raw_pattern, schema=schema, telemetry_descriptors=["rocket_bench_scale"]
    )
    fn = functools.partial(
        rocket_preprocessing.preprocessing_fn,
        custom_config={rocket_preprocessing.CONFIG_KEY: config.to_json()},
    )
    shutil.rmtree(output, ignore_errors=True)
    options = beam.options.pipeline_options.PipelineOptions(
        [
            "--runner=DirectRunner",
            "--direct_running_mode=multi_processing",
            f"--direct_num_workers={workers}",
        ]
    )

    class Encode(beam.DoFn):
        def __init__(self, transformed_schema):
            self.schema = transformed_schema

        def setup(self):
            self.encoder = example_coder.RecordBatchToExamplesEncoder(self.schema)

        def process(self, element):
            record_batch, _ = element
            yield from self.encoder.encode(record_batch)

    started = time.time()
    with tft_beam.Context(temp_dir=str(output / "tmp"), force_tf_compat_v1=False):
        with beam.Pipeline(options=options) as p:
            analyze = p | "ReadAnalyze" >> source.BeamSource()
            transform_fn = (analyze, source.TensorAdapterConfig()) | tft_beam.AnalyzeDataset(fn)
            _ = transform_fn | tft_beam.WriteTransformFn(str(output / TRANSFORM_FN_DIR))
            again = p | "ReadTransform" >> source.BeamSource()
            transformed, _ = (
                (again, source.TensorAdapterConfig()),
                transform_fn,
            ) | tft_beam.TransformDataset(output_record_batches=True)
            _ = (
                transformed
                | "Encode" >> beam.ParDo(Encode(transform_fn[1].schema))
                | "Write"
                >> beam.io.WriteToTFRecord(str(output / TRANSFORMED_PREFIX), file_name_suffix=".gz")
            )
    seconds = time.time() - started
    shutil.rmtree(output / "tmp", ignore_errors=True)
    tft_output = tft.TFTransformOutput(str(output / TRANSFORM_FN_DIR))
    return {
        "pipeline_seconds": round(seconds, 2),
        "transformed_rows": _count_records(str(output / f"{TRANSFORMED_PREFIX}*")),
        "vocabulary_sizes": {
            f.name: tft_output.vocabulary_size_by_name(rocket_preprocessing.vocabulary_name(f.name))
            for f in config.model_features()
            if f.kind != rocket_config.BUCKET and not f.hash_bucket_size
        },
    }


class _Accessor:
    """What the Trainer's fn_args.data_accessor does for tf.Example files: a tfxio
    TFExampleRecord's TensorFlowDataset with the transformed schema."""

    @staticmethod
    def tf_dataset_factory(file_pattern, options, schema):
        from tfx_bsl.public import tfxio

        record = tfxio.TFExampleRecord(
            file_pattern=file_pattern, schema=schema, telemetry_descriptors=["rocket_bench"]
        )
        return record.TensorFlowDataset(options)


def _fold_ids(features: dict, label, rows: dict[str, int]):
    """The ids of the capped features folded into their capped tables (id mod rows)."""
    import tensorflow as tf
    from rocket_preprocessing import transformed_name

    features = dict(features)
    for name, size in rows.items():
        ids = features[transformed_name(name)]
        features[transformed_name(name)] = tf.SparseTensor(
            ids.indices, ids.values % size, ids.dense_shape
        )
    return features, label


def run_training(
    transform_dir: Path,
    settings: ScaleSettings,
    optimizer: str = "adam",
    table_rows: int | None = None,
) -> dict:
    """The rocket model with the Transform output's table sizes, trained through the
    Trainer's input path with `optimizer`; examples/s over the steps after the warm-up.
    With `table_rows`, every table is capped to that many rows and the ids are folded
    into it: the same data, batches and model, only the tables are small (the reference
    the large tables' examples/s is compared with)."""
    import rocket_model
    import rocket_training
    import tensorflow_transform as tft
    import tf_keras as keras
    from rocket_preprocessing import table_size

    total = settings.warmup_steps + settings.train_steps
    config = rocket_config.default_config(
        batch_size=settings.batch_size, train_steps=total, optimizer=optimizer
    )
    tft_output = tft.TFTransformOutput(str(transform_dir / TRANSFORM_FN_DIR))
    features = config.model_features()
    sizes = {f.name: table_size(f, tft_output) for f in features}
    capped = {n: table_rows for n, size in sizes.items() if table_rows and size > table_rows}
    sizes.update(capped)
    memory = rocket_training.embedding_memory(features, sizes)
    print(rocket_training.format_embedding_memory(memory), flush=True)
    keras.utils.set_random_seed(settings.seed)
    model = rocket_model.build_model(config, sizes)
    dataset = rocket_training.make_dataset(
        str(transform_dir / f"{TRANSFORMED_PREFIX}*"),
        _Accessor(),
        tft_output,
        settings.batch_size,
        num_epochs=None,
        shuffle=True,
        shuffle_seed=settings.seed,
    )
    if capped:
        dataset = dataset.map(lambda f, label: _fold_ids(f, label, capped))
    marks: dict[int, float] = {}

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 in (settings.warmup_steps, total):
                marks[batch + 1] = time.perf_counter()

    guard = rocket_training.ProgressAndNanGuard(total, 50, settings.batch_size)
    started = time.time()
    history = model.fit(
        dataset, epochs=1, steps_per_epoch=total, verbose=0, callbacks=[guard, Clock()]
    )
    seconds = marks[total] - marks[settings.warmup_steps]
    mib = 2**20
    sizes_mb = {t.feature: t.total_bytes / mib for t in memory}
    return {
        "optimizer": optimizer,
        "table_sizes": sizes,
        "embedding_memory_estimate_mb": {
            "weights": round(sum(t.weight_bytes for t in memory) / mib, 1),
            "adam_slots": round(sum(t.slot_bytes for t in memory) / mib, 1),
            "total": round(sum(t.total_bytes for t in memory) / mib, 1),
            "user_id": round(sizes_mb["user_id"], 1),
            "adgroup_id": round(sizes_mb["adgroup_id"], 1),
        },
        "embedding_memory_table": rocket_training.format_embedding_memory(memory).splitlines(),
        "fit_seconds": round(time.time() - started, 2),
        "timed_seconds": round(seconds, 3),
        "examples_per_second": round(settings.train_steps * settings.batch_size / seconds, 1),
        "final_loss": round(float(history.history["total_loss"][-1]), 5),
    }


def _child_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.scale_benchmark")
    parser.add_argument("step", choices=("transform", "train"))
    parser.add_argument("--raw", help="raw TFRecord pattern (transform)")
    parser.add_argument("--output", required=True, help="transform output folder")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--settings", help="ScaleSettings as JSON (train)")
    parser.add_argument("--optimizer", default="adam", help="train_config optimizer (train)")
    parser.add_argument(
        "--small-tables", action="store_true", help="cap tables at small_table_rows (train)"
    )
    parser.add_argument("--result", required=True, help="JSON file for the result")
    args = parser.parse_args(argv)
    if args.step == "transform":
        result = run_transform(args.raw, Path(args.output), args.workers)
    else:
        raw = json.loads(args.settings)
        settings = ScaleSettings(**{**raw, "workers": tuple(raw["workers"])})
        cap = settings.small_table_rows if args.small_tables else None
        result = run_training(Path(args.output), settings, args.optimizer, cap)
    Path(args.result).write_text(json.dumps(result))
    return 0


# --- the parent: memory sampling, the part's block ----------------------------------------


class TreeSampler:
    """A process and all its descendants, sampled every SAMPLE_SECONDS: the peak of their
    summed RSS (a page shared between processes counts once per process), and the CPU
    seconds they and the whole machine used, to tell how many cores the run got and how
    busy the other processes of a shared machine kept it."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS):
        import psutil

        self._root = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.peak_bytes = 0
        self.peak_processes = 0
        self.samples = 0
        self._cpu: dict[int, float] = {}  # pid -> last seen user + system seconds
        self._machine_start = self._machine_busy()
        self._started = time.time()
        self.seconds = 0.0
        self.machine_busy_seconds = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _machine_busy() -> float:
        import psutil

        times = psutil.cpu_times()
        return sum(times) - times.idle - getattr(times, "iowait", 0.0)

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds of the tree (a process's last 0.5 s before it ends may be missed)."""
        return sum(self._cpu.values())

    def _sample(self) -> None:
        import psutil

        total, count = 0, 0
        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return
        for process in processes:
            try:
                total += process.memory_info().rss
                cpu = process.cpu_times()
                self._cpu[process.pid] = cpu.user + cpu.system
                count += 1
            except psutil.Error:
                pass  # ended between the listing and the reading
        self.peak_bytes = max(self.peak_bytes, total)
        self.peak_processes = max(self.peak_processes, count)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self._interval)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.seconds = time.time() - self._started
        self.machine_busy_seconds = self._machine_busy() - self._machine_start


def _measured(args: list[str], workdir: Path, name: str) -> dict:
    """Runs one step in a fresh process, sampling its process tree; its result plus
    process wall seconds and peak memory."""
    result_path = workdir / f"{name}.{RESULT_FILE}"
    log_path = workdir / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        "pipeline.scale_benchmark",
        *args,
        "--result",
        str(result_path),
    ]
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.time()
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        with TreeSampler(process.pid) as sampler:
            code = process.wait()
    if code != 0:
        tail = log_path.read_text()[-1500:]
        raise RuntimeError(f"scale {name} failed with exit code {code}: {tail}")
    result = json.loads(result_path.read_text())
    result["process_seconds"] = round(time.time() - started, 2)
    result["peak_memory_mb"] = round(sampler.peak_bytes / 2**20, 1)
    result["peak_processes"] = sampler.peak_processes
    result["samples"] = sampler.samples
    # Average cores busy over the process's life: its own tree, and everything else.
    result["cores_used"] = round(sampler.cpu_seconds / sampler.seconds, 2)
    others = max(0.0, sampler.machine_busy_seconds - sampler.cpu_seconds)
    result["other_processes_cores"] = round(others / sampler.seconds, 2)
    result["log"] = log_path.read_text()
    return result


# The three trainings on the same Transform output: Adam (the seed's), EasyRec's
# lazy_adam_optimizer, and Adam with every table capped at small_table_rows rows.
TRAININGS = {
    "training": [],
    "training_lazy_adam": ["--optimizer", "lazy_adam"],
    "training_small_tables": ["--small-tables"],
}


def training_ratios(trainings: dict) -> dict:
    """examples/s of the large tables over the small tables' of the same run, per
    optimizer: what the table size costs each."""
    small = trainings["training_small_tables"]["examples_per_second"]
    return {
        "adam_over_small_tables": round(trainings["training"]["examples_per_second"] / small, 3),
        "lazy_over_small_tables": round(
            trainings["training_lazy_adam"]["examples_per_second"] / small, 3
        ),
    }


def run_scale(
    settings: ScaleSettings,
    log: Callable[[str], None] = print,
    workdir: Path | None = None,
) -> dict:
    """Generate, Transform with each worker count, train; the `scale` block."""

    settings.check()
    started = time.time()
    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="rocket_scale_")) if own else workdir
    try:
        log(
            f"{LOG} generating {settings.rows:,} rows ({settings.users:,} users, "
            f"{settings.ads:,} ads)"
        )
        t0 = time.time()
        data = generate(settings)
        array_seconds = time.time() - t0
        paths = write_examples(data, workdir / "raw", settings.shards)
        generation_seconds = time.time() - t0
        threshold = rocket_config.default_config().feature("user_id").frequency_threshold
        expected = vocabulary_floor_sizes(data, threshold)
        click_rate = float(data.clk.mean())
        raw_mb = sum(os.path.getsize(p) for p in paths) / 2**20
        del data
        log(f"{LOG} {len(paths)} gzipped shards, {raw_mb:.0f} MB ({generation_seconds:.0f}s)")

        transform = {}
        for workers in settings.workers:
            log(f"{LOG} Transform, DirectRunner multi_processing, {workers} worker(s) ...")
            run = _measured(
                [
                    "transform",
                    "--raw",
                    str(workdir / "raw" / f"{RAW_PREFIX}-*"),
                    "--output",
                    str(workdir / f"transform_{workers}"),
                    "--workers",
                    str(workers),
                ],
                workdir,
                f"transform_{workers}",
            )
            run.pop("log")
            run["rows_per_second"] = round(settings.rows / run["pipeline_seconds"], 1)
            transform[str(workers)] = run
            log(
                f"{LOG} {workers} worker(s): {run['pipeline_seconds']:.0f}s, "
                f"{run['rows_per_second']:,.0f} rows/s, peak {run['peak_memory_mb']:,.0f} MB, "
                f"{run['cores_used']} cores used ({run['other_processes_cores']} by others)"
            )
        rates = {k: v["rows_per_second"] for k, v in transform.items()}
        scaling = round(rates["2"] / rates["1"], 3) if "1" in rates and "2" in rates else None

        first = str(settings.workers[0])
        trainings = {}
        for name, extra in TRAININGS.items():
            log(f"{LOG} training ({name}) {settings.warmup_steps}+{settings.train_steps} steps")
            run = _measured(
                [
                    "train",
                    "--output",
                    str(workdir / f"transform_{first}"),
                    "--settings",
                    json.dumps(asdict(settings)),
                    *extra,
                ],
                workdir,
                name,
            )
            run.pop("log")
            trainings[name] = run
            log(
                f"{LOG} {name}: {run['examples_per_second']:,.0f} examples/s, peak "
                f"{run['peak_memory_mb']:,.0f} MB"
            )
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    vocab = transform[first]["vocabulary_sizes"]
    return {
        "settings": asdict(settings),
        "data": {
            "rows": settings.rows,
            "distinct_user_ids": settings.users,
            "distinct_ad_ids": settings.ads,
            "click_rate": round(click_rate, 4),
            "raw_mb": round(raw_mb, 1),
            "generation_seconds": round(generation_seconds, 1),
            "generation_arrays_seconds": round(array_seconds, 1),
            "frequency_threshold": threshold,
            "expected_vocabulary_sizes": expected,
        },
        "vocabulary_sizes": {k: vocab[k] for k in ("user_id", "adgroup_id")},
        "all_vocabulary_sizes": vocab,
        "transform": transform,
        "transform_scaling_2_over_1": scaling,
        "training": trainings["training"],
        "training_lazy_adam": trainings["training_lazy_adam"],
        "training_small_tables": trainings["training_small_tables"],
        **training_ratios(trainings),
        "wall_seconds": round(time.time() - started, 1),
        "note": (
            f"{os.cpu_count()} cores: the DirectRunner's workers share them with its "
            "runner process (which feeds them and does the shuffles of the vocabulary "
            "counts), so a 2-over-1 ratio of at most 2 is expected, and less in practice. "
            "The machine is shared: cores used is the CPU seconds of the run's process "
            "tree over its wall time, other processes' cores what the rest of the machine "
            "used meanwhile. rows/s = rows / seconds of the Beam pipeline (analysis pass, "
            "second read and transform, writes), without process start, imports and the "
            "count of the output; peak memory = summed RSS of the process tree (the Beam "
            f"workers are children), sampled every {SAMPLE_SECONDS} s. Every user id appears "
            f"{settings.rows // settings.users}x and every ad id "
            f"{settings.rows // settings.ads}x, so the frequency floor of {threshold} keeps "
            "all of them. Training: Transform output of the first run, "
            f"{settings.warmup_steps} warm-up steps, then {settings.train_steps} timed "
            f"steps of {settings.batch_size}, three times: Adam, lazy Adam, and Adam with "
            f"every table capped at {settings.small_table_rows:,} rows (ids folded in: the same "
            "batches and model, small tables)."
        ),
    }


def markdown_lines(block: dict) -> list[str]:
    """The Scale section of benchmark.md."""
    data, train = block["data"], block["training"]
    lines = [
        "## Scale (large id space: Transform and Trainer)",
        "",
        f"{data['rows']:,} generated rows, {data['distinct_user_ids']:,} distinct user ids, "
        f"{data['distinct_ad_ids']:,} distinct ad ids, click rate {data['click_rate']}; "
        f"generation {data['generation_seconds']} s ({data['raw_mb']} MB gzipped). "
        f"Vocabularies found: user_id {block['vocabulary_sizes']['user_id']:,}, "
        f"adgroup_id {block['vocabulary_sizes']['adgroup_id']:,} "
        f"(frequency floor {data['frequency_threshold']}).",
        "",
        "| Transform workers | seconds | rows/s | peak memory MB | processes | cores used | "
        "other processes' cores |",
        "|---|---|---|---|---|---|---|",
    ]
    for workers, run in block["transform"].items():
        lines.append(
            f"| {workers} | {run['pipeline_seconds']} | {run['rows_per_second']:,.0f} | "
            f"{run['peak_memory_mb']:,.0f} | {run['peak_processes']} | {run['cores_used']} | "
            f"{run['other_processes_cores']} |"
        )
    ratio = block["transform_scaling_2_over_1"]
    lines += [
        "",
        f"transform_scaling_2_over_1: {'n/a' if ratio is None else ratio}.",
        "",
        f"Trainer: {train['examples_per_second']:,.0f} examples/s "
        f"({block['settings']['train_steps']} steps of {block['settings']['batch_size']} "
        f"after {block['settings']['warmup_steps']} warm-up), peak memory "
        f"{train['peak_memory_mb']:,.0f} MB (cores used {train['cores_used']}, other "
        f"processes' cores {train['other_processes_cores']}); embedding tables estimated "
        f"{train['embedding_memory_estimate_mb']['total']:,} MB with Adam's slots "
        f"(user table {train['table_sizes']['user_id']:,} rows).",
        "",
        "| optimizer, tables | examples/s | peak memory MB |",
        "|---|---|---|",
        *(
            f"| {label} | {block[key]['examples_per_second']:,.0f} | "
            f"{block[key]['peak_memory_mb']:,.0f} |"
            for key, label in (
                ("training", "Adam, full tables"),
                ("training_lazy_adam", "lazy Adam, full tables"),
                (
                    "training_small_tables",
                    f"Adam, tables capped at {block['settings']['small_table_rows']:,} rows",
                ),
            )
        ),
        "",
        f"lazy_over_small_tables: {block['lazy_over_small_tables']} (target ≥ 0.6); "
        f"adam_over_small_tables: {block['adam_over_small_tables']}.",
        "",
        f"{block['note']} Total {block['wall_seconds']} s.",
        "",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
