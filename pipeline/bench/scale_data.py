"""The scale part's rows: exactly `users` distinct user ids and `ads` distinct ad ids,
clicks from a planted taste term, written as gzipped TFRecords of tf.Examples as
ExampleGen writes them.

Rows: the default config keeps ids seen at least `frequency_threshold` (2) times in the
vocabulary. With rows = users, every user id would be seen once and the user vocabulary
would be empty, so the full size has rows = 2 x users: every user id appears exactly
twice and every ad id four times, and both vocabularies hold every id.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rocket_seed

from pipeline import sample_data
from pipeline.bench.settings import ScaleSettings

RAW_PREFIX = "raw"

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
# tfx_bsl's RecordBatchToExamplesEncoder (what the Transform step writes with) is no
# substitute here: it writes a missing value as an empty feature, where ExampleGen leaves
# the feature out, so its Examples are not ExampleGen's (nor the raw files' size).


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
        for i, column in enumerate(rocket_seed.TAOBAO_PROFILE_FIELDS)
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
