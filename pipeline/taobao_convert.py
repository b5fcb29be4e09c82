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

import bisect
import csv
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import apache_beam as beam
import rocket_config
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

DAY_SECONDS = 86_400
PRICE_BUCKETS = 50
NULL_VALUES = frozenset({"", "NULL"})
_FORBIDDEN = (",", '"', "|", "\n", "\r")  # would break an EasyRec row or a tag list
METRICS_NAMESPACE = "convert_taobao"

RAW_SAMPLE = ("user", "time_stamp", "adgroup_id", "pid", "nonclk", "clk")
AD_FEATURE = ("adgroup_id", "cate_id", "campaign_id", "customer", "brand", "price")
USER_PROFILE = ("userid", *rocket_config.TAOBAO_PROFILE_FIELDS)
BEHAVIOR_LOG = ("user", "time_stamp", "btag", "cate", "brand")
PROFILE_FIELDS = USER_PROFILE[1:]
# The 20 EasyRec columns, in order: the input format the pipeline reads.
OUTPUT_COLUMNS = tuple(f.name for f in rocket_config.TAOBAO_INPUT_FIELDS)
TRAIN, EVAL = "train", "eval"


class TaobaoInputError(ValueError):
    """A raw file or option cannot be converted; the message names it (and the line)."""


def bad_row(path: str, line: int, reason: str) -> TaobaoInputError:
    # The same words as the EasyRec row parser's errors, which the CLI reports as is.
    return TaobaoInputError(f"bad input row at {path}:{line}: {reason}")


# --- records ------------------------------------------------------------------------------


class Impression(NamedTuple):
    user: str
    time_stamp: int
    adgroup_id: str
    pid: str
    clk: int


class Ad(NamedTuple):
    cate_id: str
    campaign_id: str
    customer: str
    brand: str
    price: float | None
    where: tuple[str, int]  # (file, line)


class Profile(NamedTuple):
    fields: tuple[str, ...]  # PROFILE_FIELDS, in order
    where: tuple[str, int]  # (file, line)


class Behaviour(NamedTuple):
    time_stamp: int
    cate: str
    brand: str
    order: tuple[str, int]  # (file, line): ties at one second keep the file's order


# --- options ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvertOptions:
    raw_sample: str
    ad_feature: str
    user_profile: str
    behavior_log: str
    output: str
    history_days: float = 7.0
    max_tags: int = 50
    eval_days: float = 1.0
    eval_start: int | None = None  # unix seconds; overrides eval_days
    beam_args: tuple[str, ...] = ()

    def validate(self) -> ConvertOptions:
        if not self.history_days > 0 or not math.isfinite(self.history_days):
            raise TaobaoInputError(f"--history-days {self.history_days}: must be positive")
        if self.max_tags < 1:
            raise TaobaoInputError(f"--max-tags {self.max_tags}: must be 1 or more")
        if self.eval_start is None and (
            not self.eval_days > 0 or not math.isfinite(self.eval_days)
        ):
            raise TaobaoInputError(f"--eval-days {self.eval_days}: must be positive")
        return self

    @property
    def history_seconds(self) -> int:
        return int(round(self.history_days * DAY_SECONDS))


# --- reading ------------------------------------------------------------------------------


def normalize_header(name: str) -> str:
    """Header names as compared: without BOM and surrounding spaces, lower case."""
    return name.replace("\ufeff", "").strip().lower()


def column_indices(header: list[str], required: tuple[str, ...], path: str) -> dict[str, int]:
    names = [normalize_header(n) for n in header]
    duplicates = sorted({n for n in names if names.count(n) > 1 and n in required})
    if duplicates:
        raise TaobaoInputError(f"bad input header at {path}:1: {duplicates} more than once")
    missing = [n for n in required if n not in names]
    if missing:
        raise TaobaoInputError(
            f"bad input header at {path}:1: no column {', '.join(missing)} "
            f"(found: {', '.join(names) or 'nothing'}); expected {', '.join(required)}"
        )
    return {n: names.index(n) for n in required}


def _split(text: str, path: str, line: int) -> list[str]:
    try:
        return next(csv.reader([text], strict=True), [])
    except csv.Error as error:
        raise bad_row(path, line, f"unreadable CSV ({error})") from None


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
                    header = _split(text, path, line_number)
                    indices = column_indices(header, self.required, path)
                    width = len(header)
                    continue
                if not text.strip():
                    continue
                cells = _split(text, path, line_number)
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


def _text(cells: dict[str, str], name: str, path: str, line: int, required: bool) -> str:
    value = cells[name]
    if required and value in NULL_VALUES:
        raise bad_row(path, line, f"column {name}: the id is missing")
    for char in _FORBIDDEN:
        if char in value:
            raise bad_row(
                path,
                line,
                f"column {name}: {value[:40]!r} contains {char!r}, "
                "which an EasyRec row cannot carry",
            )
    return value


def _integer(cells: dict[str, str], name: str, path: str, line: int) -> int:
    value = cells[name]
    try:
        return int(value)
    except ValueError:
        raise bad_row(path, line, f"column {name}: {value[:40]!r} is not an integer") from None


def _flag(cells: dict[str, str], name: str, path: str, line: int) -> int:
    value = cells[name]
    if value not in ("0", "1"):
        raise bad_row(path, line, f"column {name}: {value[:40]!r} is not 0 or 1")
    return int(value)


def parse_impression(cells: dict[str, str], path: str, line: int) -> tuple[str, Impression]:
    """raw_sample.csv row -> (adgroup_id, Impression)."""
    _flag(cells, "nonclk", path, line)
    impression = Impression(
        user=_text(cells, "user", path, line, required=True),
        time_stamp=_integer(cells, "time_stamp", path, line),
        adgroup_id=_text(cells, "adgroup_id", path, line, required=True),
        pid=_text(cells, "pid", path, line, required=False),
        clk=_flag(cells, "clk", path, line),
    )
    return impression.adgroup_id, impression


def parse_ad(cells: dict[str, str], path: str, line: int) -> tuple[str, Ad]:
    """ad_feature.csv row -> (adgroup_id, Ad). `NULL` attributes are kept as they are."""
    raw_price = cells["price"]
    price = None
    if raw_price not in NULL_VALUES:
        try:
            price = float(raw_price)
        except ValueError:
            price = math.nan
        if not math.isfinite(price) or price < 0:
            raise bad_row(path, line, f"column price: {raw_price[:40]!r} is not a price")
    ad = Ad(
        cate_id=_text(cells, "cate_id", path, line, required=False),
        campaign_id=_text(cells, "campaign_id", path, line, required=False),
        customer=_text(cells, "customer", path, line, required=False),
        brand=_text(cells, "brand", path, line, required=False),
        price=price,
        where=(path, line),
    )
    return _text(cells, "adgroup_id", path, line, required=True), ad


def parse_profile(cells: dict[str, str], path: str, line: int) -> tuple[str, Profile]:
    """user_profile.csv row -> (userid, Profile); empty fields stay empty."""
    fields = tuple(_text(cells, n, path, line, required=False) for n in PROFILE_FIELDS)
    return _text(cells, "userid", path, line, required=True), Profile(fields, (path, line))


def parse_behaviour(cells: dict[str, str], path: str, line: int) -> tuple[str, Behaviour]:
    """behavior_log.csv row -> (user, Behaviour); every btag (pv, cart, fav, buy) counts."""
    behaviour = Behaviour(
        time_stamp=_integer(cells, "time_stamp", path, line),
        cate=_text(cells, "cate", path, line, required=False),
        brand=_text(cells, "brand", path, line, required=False),
        order=(path, line),
    )
    return _text(cells, "user", path, line, required=True), behaviour


# --- the pieces with the answers ----------------------------------------------------------


def price_boundaries(prices: Iterable[float], buckets: int = PRICE_BUCKETS) -> list[float]:
    """Exact quantile boundaries: with the n prices sorted, boundary i (1..buckets-1) is
    the price at rank floor(i * n / buckets). Equal prices share a bucket."""
    ordered = sorted(prices)
    if not ordered:
        return []
    return [ordered[(i * len(ordered)) // buckets] for i in range(1, buckets)]


def price_bucket(price: float | None, boundaries: list[float]) -> str:
    """The bucket 0..len(boundaries) of a price ('' without one): how many boundaries are
    at or below it."""
    if price is None or not boundaries:
        return ""
    return str(bisect.bisect_right(boundaries, price))


def history_tags(
    events: list[Behaviour],
    times: list[int],
    time_stamp: int,
    history_seconds: int,
    max_tags: int,
) -> tuple[str, str]:
    """Tag lists of one impression from the user's behaviour sorted by time: events with
    time_stamp - history <= t < time_stamp, the most recent `max_tags`, most recent first.
    Missing categories / brands (empty, NULL) are left out of their list."""
    end = bisect.bisect_left(times, time_stamp)  # strictly before the impression
    start = max(bisect.bisect_left(times, time_stamp - history_seconds), end - max_tags)
    recent = events[start:end][::-1]
    cates = [e.cate for e in recent if e.cate not in NULL_VALUES]
    brands = [e.brand for e in recent if e.brand not in NULL_VALUES]
    return "|".join(cates), "|".join(brands)


def split_start(options: ConvertOptions, latest: list[int]) -> int | None:
    """First time_stamp of the eval split: --eval-start, else the last eval_days of the
    log (time_stamp > latest - eval_days * 86400)."""
    if options.eval_start is not None:
        return options.eval_start
    if not latest:
        return None
    return latest[0] - int(round(options.eval_days * DAY_SECONDS)) + 1


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
