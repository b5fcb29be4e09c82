"""The Beam-free half of `rocket convert-taobao` (pipeline/taobao_convert.py): the raw
files' columns, one checked record per raw row (errors name the file and line), the
options, and the answers per impression: price buckets, history tags, the time split."""

from __future__ import annotations

import bisect
import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import rocket_seed

DAY_SECONDS = 86_400
PRICE_BUCKETS = 50
NULL_VALUES = frozenset({"", "NULL"})
_FORBIDDEN = (",", '"', "|", "\n", "\r")  # would break an EasyRec row or a tag list

RAW_SAMPLE = ("user", "time_stamp", "adgroup_id", "pid", "nonclk", "clk")
AD_FEATURE = ("adgroup_id", "cate_id", "campaign_id", "customer", "brand", "price")
USER_PROFILE = ("userid", *rocket_seed.TAOBAO_PROFILE_FIELDS)
BEHAVIOR_LOG = ("user", "time_stamp", "btag", "cate", "brand")
PROFILE_FIELDS = USER_PROFILE[1:]
# The 20 EasyRec columns, in order: the input format the pipeline reads.
OUTPUT_COLUMNS = tuple(f.name for f in rocket_seed.TAOBAO_INPUT_FIELDS)
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


def split_cells(text: str, path: str, line: int) -> list[str]:
    try:
        return next(csv.reader([text], strict=True), [])
    except csv.Error as error:
        raise bad_row(path, line, f"unreadable CSV ({error})") from None


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
