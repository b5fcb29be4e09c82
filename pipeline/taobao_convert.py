"""`rocket convert-taobao`: the public Taobao display-ad raw files -> EasyRec-format rows.

A Beam pipeline (the DirectRunner here, Dataflow with the same code) that writes one row
per impression of raw_sample.csv, in the 20 columns of EasyRec's Taobao CSVInput
(docs: reference.md §3), with no header:
- the ad (ad_feature.csv) and the user profile (user_profile.csv) are joined by id. A
  missing profile or ad gives empty fields; a `NULL` brand stays `NULL`;
- tag_category_list / tag_brand_list are the categories and brands of the user's
  behaviour (behavior_log.csv) strictly BEFORE the impression, within `history_days`
  (default 7), the most recent `max_tags` (default 50), most recent first. Behaviour at
  the impression's second or later never enters a row: no leakage from the future;
- price is bucketed into 50 quantile buckets (0-49) of the ad table's prices;
- impressions are split by time: the last `eval_days` of the log (or from `eval_start`)
  go to OUTPUT/eval, the rest to OUTPUT/train, as part-*.csv files.

Input files are read whole, one file per Beam element, so every error names the file and
line (`bad input row at FILE:LINE: ...`). Columns are found by header name (trimmed,
case-insensitive: the real user_profile.csv's last name ends with a space), so column
order and extra columns do not matter. Several files per input (a glob) are read in
parallel; each must have its header line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.taobao_rows import (
    AD_FEATURE,
    BEHAVIOR_LOG,
    EVAL,
    PROFILE_FIELDS,
    RAW_SAMPLE,
    TRAIN,
    USER_PROFILE,
    Behaviour,
    ConvertOptions,
    TaobaoInputError,
    bad_row,
    column_indices,
    history_tags,
    parse_ad,
    parse_behaviour,
    parse_impression,
    parse_profile,
    price_boundaries,
    price_bucket,
    split_cells,
    split_start,
)

METRICS_NAMESPACE = "convert_taobao"

# --- the DoFns ---------------------------------------------------------------------------

Parser = Callable[[dict[str, str], str, int], Any]


class ReadCsv(beam.DoFn):
    """Reads whole files (paths in, records out) with line numbers: the header maps the
    required columns, then `parser(cells by column name, path, line)` gives a record."""

    def __init__(self, required: tuple[str, ...], parser: Parser, kind: str):
        self.required = required
        self.parser = parser
        self.rows = Metrics.counter(METRICS_NAMESPACE, f"{kind}_rows")

    def process(self, path: str) -> Iterator[Any]:
        with FileSystems.open(path) as handle:  # .gz / .bz2 by extension
            indices = None
            width = 0
            # readline, not iteration: Beam's CompressedFile (.gz, .bz2) is not iterable.
            for line_number, raw in enumerate(iter(handle.readline, b""), start=1):
                try:
                    text = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as error:
                    raise bad_row(
                        path, line_number, f"invalid UTF-8 at byte {error.start}"
                    ) from None
                if indices is None:
                    header = split_cells(text, path, line_number)
                    indices = column_indices(header, self.required, path)
                    width = len(header)
                    continue
                if not text.strip():
                    continue
                cells = split_cells(text, path, line_number)
                if len(cells) != width:
                    raise bad_row(
                        path, line_number, f"expected {width} columns, found {len(cells)}"
                    )
                self.rows.inc()
                yield self.parser(
                    {n: cells[i].strip() for n, i in indices.items()}, path, line_number
                )
            if indices is None:
                raise TaobaoInputError(f"bad input file {path}: empty (no header line)")


def _at(where: tuple[str, int]) -> str:
    return f"{where[0]}:{where[1]}"


class AttachAd(beam.DoFn):
    """(adgroup_id, {impressions, ads}) -> (user, (Impression, ad columns, price bucket))."""

    def __init__(self) -> None:
        self.missing = Metrics.counter(METRICS_NAMESPACE, "impressions_without_ad")

    def process(self, element, boundaries: list[float]):
        adgroup_id, grouped = element
        ads = list(grouped["ads"])
        if len(ads) > 1:
            first, second = sorted(a.where for a in ads)[:2]
            raise TaobaoInputError(
                f"bad input row at {_at(second)}: adgroup_id {adgroup_id} is already at "
                f"{_at(first)} (one row per ad)"
            )
        ad = ads[0] if ads else None
        if ad is None:
            columns = ("", "", "", "")
            bucket = ""
        else:
            columns = (ad.cate_id, ad.campaign_id, ad.customer, ad.brand)
            bucket = price_bucket(ad.price, boundaries)
        for impression in grouped["impressions"]:
            if ad is None:
                self.missing.inc()
            yield impression.user, (impression, columns, bucket)


class MakeRows(beam.DoFn):
    """(user, {impressions, profiles, behaviours}) -> (split, EasyRec row)."""

    def __init__(self, history_seconds: int, max_tags: int):
        self.history_seconds = history_seconds
        self.max_tags = max_tags
        self.no_profile = Metrics.counter(METRICS_NAMESPACE, "impressions_without_profile")
        self.counters = {
            TRAIN: Metrics.counter(METRICS_NAMESPACE, "train_rows"),
            EVAL: Metrics.counter(METRICS_NAMESPACE, "eval_rows"),
        }

    def process(self, element, eval_start: int | None):
        user, grouped = element
        impressions = list(grouped["impressions"])
        if not impressions:
            return
        profiles = list(grouped["profiles"])
        if len(profiles) > 1:
            first, second = sorted(p.where for p in profiles)[:2]
            raise TaobaoInputError(
                f"bad input row at {_at(second)}: userid {user} is already at {_at(first)} "
                "(one profile per user)"
            )
        if profiles:
            profile = profiles[0].fields
        else:
            profile = ("",) * len(PROFILE_FIELDS)
            self.no_profile.inc(len(impressions))
        events = sorted(grouped["behaviours"], key=lambda e: (e.time_stamp, e.order))
        times = [e.time_stamp for e in events]
        for impression, ad_columns, bucket in impressions:
            cates, brands = history_tags(
                events, times, impression.time_stamp, self.history_seconds, self.max_tags
            )
            row = (
                str(impression.clk),
                "0",  # buy: the raw sample has no purchase label
                impression.pid,
                impression.adgroup_id,
                *ad_columns,
                user,
                *profile,
                cates,
                brands,
                bucket,
            )
            late = eval_start is not None and impression.time_stamp >= eval_start
            split = EVAL if late else TRAIN
            self.counters[split].inc()
            yield split, ",".join(row)


# --- the pipeline -------------------------------------------------------------------------


def input_files(pattern: str, option: str) -> list[str]:
    """The files of one input option (a path or a glob), or an error naming the option."""
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception as error:  # noqa: BLE001 - Beam raises several types for a bad path
        raise TaobaoInputError(f"{option} {pattern}: cannot be read ({error})") from None
    files = sorted(m.path for m in matched if not os.path.basename(m.path).startswith("."))
    if not files:
        raise TaobaoInputError(f"{option} {pattern}: no such file")
    return files


def _read(pipeline, label: str, files: list[str], required, parser) -> beam.PCollection:
    return (
        pipeline
        | f"List{label}" >> beam.Create(files)
        | f"Spread{label}" >> beam.Reshuffle()  # files to different workers
        | f"Read{label}" >> beam.ParDo(ReadCsv(required, parser, label.lower()))
    )


def check_output(output: str) -> None:
    if "://" in output:  # an object store: an object of exactly that name is a file
        is_file = any(
            m.path.rstrip("/") == output.rstrip("/")
            for m in FileSystems.match([output])[0].metadata_list
        )
    else:
        is_file = os.path.isfile(output)
    if is_file:
        raise TaobaoInputError(f"--output {output}: is a file; give a folder")
    for split in (TRAIN, EVAL):
        folder = FileSystems.join(output, split)
        existing = FileSystems.match([FileSystems.join(folder, "*")])[0].metadata_list
        if existing:
            raise TaobaoInputError(
                f"--output {output}: {folder} already holds files; choose a new folder "
                "(old parts would mix with the new ones)"
            )


def prepare(options: ConvertOptions) -> dict[str, list[str]]:
    """Check the options, the inputs and the output before anything runs: the input files
    of each option (an error names the option)."""
    options.validate()
    files = {
        "raw": input_files(options.raw_sample, "--raw-sample"),
        "ads": input_files(options.ad_feature, "--ad-feature"),
        "profiles": input_files(options.user_profile, "--user-profile"),
        "behaviour": input_files(options.behavior_log, "--behavior-log"),
    }
    check_output(options.output)
    return files


def build_pipeline(
    pipeline: beam.Pipeline, options: ConvertOptions, files: dict[str, list[str]]
) -> None:
    impressions = _read(pipeline, "RawSample", files["raw"], RAW_SAMPLE, parse_impression)
    ads = _read(pipeline, "AdFeature", files["ads"], AD_FEATURE, parse_ad)
    profiles = _read(pipeline, "UserProfile", files["profiles"], USER_PROFILE, parse_profile)
    behaviours = _read(pipeline, "BehaviorLog", files["behaviour"], BEHAVIOR_LOG, parse_behaviour)

    # Exact quantiles over the ad table (one price per adgroup): it is small (846k ads in
    # the real data), so one list is cheap, and exact boundaries are reproducible.
    boundaries = (
        ads
        | "Prices" >> beam.FlatMap(lambda kv: [] if kv[1].price is None else [kv[1].price])
        | "AllPrices" >> beam.combiners.ToList()
        | "PriceBoundaries" >> beam.Map(price_boundaries)
    )
    times = impressions | "ImpressionTimes" >> beam.Map(lambda kv: kv[1].time_stamp)
    latest = times | "Latest" >> beam.combiners.Top.Largest(1)
    earliest = times | "Earliest" >> beam.combiners.Top.Smallest(1)
    eval_start = latest | "EvalStart" >> beam.Map(lambda top: split_start(options, top))

    with_ads = (
        {"impressions": impressions, "ads": ads}
        | "JoinAds" >> beam.CoGroupByKey()
        | "AttachAd" >> beam.ParDo(AttachAd(), beam.pvalue.AsSingleton(boundaries))
    )
    history = options.history_seconds

    def useful(event: tuple[str, Behaviour], first: list[int], last: list[int]) -> bool:
        # Only behaviour that can precede some impression within the window is shuffled.
        if not first:
            return False
        return first[0] - history <= event[1].time_stamp < last[0]

    recent = behaviours | "RecentBehaviour" >> beam.Filter(
        useful, beam.pvalue.AsSingleton(earliest), beam.pvalue.AsSingleton(latest)
    )
    rows = (
        {"impressions": with_ads, "profiles": profiles, "behaviours": recent}
        | "JoinUsers" >> beam.CoGroupByKey()
        | "MakeRows"
        >> beam.ParDo(MakeRows(history, options.max_tags), beam.pvalue.AsSingleton(eval_start))
    )
    train, evaluation = rows | "Split" >> beam.Partition(
        lambda kv, _: 0 if kv[0] == TRAIN else 1, 2
    )
    for split, collection in ((TRAIN, train), (EVAL, evaluation)):
        _ = (
            collection
            | f"{split}Lines" >> beam.Map(lambda kv: kv[1])
            | f"Write{split}"
            >> beam.io.WriteToText(
                FileSystems.join(options.output, split, "part"), file_name_suffix=".csv"
            )
        )


@dataclass(frozen=True)
class ConvertResult:
    output: str
    counts: dict[str, int]


def run(options: ConvertOptions, files: dict[str, list[str]] | None = None) -> ConvertResult:
    """Build and run the conversion; returns the row counts from Beam's metrics."""
    files = files or prepare(options)
    pipeline = beam.Pipeline(options=PipelineOptions(list(options.beam_args)))
    build_pipeline(pipeline, options, files)
    result = pipeline.run()
    result.wait_until_finish()
    counts = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))[
        "counters"
    ]:
        value = counter.committed if counter.committed is not None else counter.attempted
        counts[counter.key.metric.name] = counts.get(counter.key.metric.name, 0) + int(value)
    if not counts.get("rawsample_rows"):
        raise TaobaoInputError(
            f"--raw-sample {options.raw_sample}: no impression rows (only a header?); "
            "nothing was converted"
        )
    return ConvertResult(options.output, counts)
