"""Deterministic generator of EasyRec-format, Taobao-like click logs (the embedded default).

The rows have the 20 columns of EasyRec's Taobao CSVInput (no header, `NULL` brands, empty
profile fields, `|`-separated behaviour tag lists, ~5% clicks). The click probability is
planted with interactions that a shallow model cannot express by adding per-feature
effects: a user-interest x ad-category bilinear term, "the ad's category is in the user's
behaviour list", an age x price XOR and a pvalue x shopping product. Nothing here is
tuned to favour Rocket Launching: the same logit function serves every model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rocket_seed

COLUMNS = tuple(f.name for f in rocket_seed.TAOBAO_INPUT_FIELDS)  # EasyRec CSV order

PIDS = ("430548_1007", "430539_1007")
TARGET_CTR = 0.05
LATENT_DIM = 8


@dataclass(frozen=True)
class _World:
    """Users, ads and categories with the latent factors that drive clicks."""

    user_ids: np.ndarray
    user_profile: np.ndarray  # (users, 8) int, -1 = empty
    user_interest: np.ndarray  # (users, LATENT_DIM)
    user_bias: np.ndarray
    user_has_history: np.ndarray
    cate_ids: np.ndarray
    cate_vec: np.ndarray  # (cates, LATENT_DIM)
    cate_brands: list[np.ndarray]
    brand_ids: np.ndarray
    ad_ids: np.ndarray
    ad_cate: np.ndarray  # index into cate_ids
    ad_campaign: np.ndarray
    ad_customer: np.ndarray
    ad_brand: np.ndarray  # index into brand_ids, -1 = NULL
    ad_price: np.ndarray
    ad_quality: np.ndarray


def _build_world(num_rows: int, rng: np.random.Generator) -> _World:
    n_users = max(200, num_rows // 10)
    n_cates = 120
    n_brands = 600
    n_ads = max(100, num_rows // 25)

    user_ids = rng.choice(np.arange(1_000_000, 1_200_000), size=n_users, replace=False)
    profile = np.stack(
        [
            rng.integers(0, 100, n_users),  # cms_segid
            rng.integers(0, 13, n_users),  # cms_group_id
            rng.integers(1, 3, n_users),  # final_gender_code
            rng.integers(1, 7, n_users),  # age_level
            rng.integers(1, 4, n_users),  # pvalue_level
            rng.integers(1, 4, n_users),  # shopping_level
            rng.integers(0, 2, n_users),  # occupation
            rng.integers(1, 5, n_users),  # new_user_class_level
        ],
        axis=1,
    )
    # As in the real sample: 4% of users have no profile, pvalue_level is empty for half.
    profile[rng.random(n_users) < 0.04] = -1
    profile[rng.random(n_users) < 0.5, 4] = -1
    profile[rng.random(n_users) < 0.3, 7] = -1

    cate_ids = rng.choice(np.arange(1000, 13000), size=n_cates, replace=False)
    brand_ids = rng.choice(np.arange(1000, 460000), size=n_brands, replace=False)
    brand_cate = rng.integers(0, n_cates, n_brands)
    cate_brands = [np.flatnonzero(brand_cate == c) for c in range(n_cates)]
    for c in range(n_cates):  # every category sells at least one brand
        if cate_brands[c].size == 0:
            cate_brands[c] = np.array([rng.integers(0, n_brands)])

    ad_cate = rng.integers(0, n_cates, n_ads)
    ad_brand = np.array([rng.choice(cate_brands[c]) for c in ad_cate])
    ad_brand[rng.random(n_ads) < 1 / 3] = -1
    n_campaigns = max(50, n_ads // 2)
    ad_campaign = rng.integers(0, n_campaigns, n_ads)
    campaign_customer = rng.integers(0, max(20, n_campaigns // 3), n_campaigns)

    return _World(
        user_ids=user_ids,
        user_profile=profile,
        user_interest=rng.normal(0, 1, (n_users, LATENT_DIM)),
        user_bias=rng.normal(0, 0.3, n_users),
        user_has_history=rng.random(n_users) < 0.58,
        cate_ids=cate_ids,
        cate_vec=rng.normal(0, 1 / np.sqrt(LATENT_DIM), (n_cates, LATENT_DIM)),
        cate_brands=cate_brands,
        brand_ids=brand_ids,
        ad_ids=rng.choice(np.arange(1, 850000), size=n_ads, replace=False),
        ad_cate=ad_cate,
        ad_campaign=ad_campaign + 100000,
        ad_customer=campaign_customer[ad_campaign] + 1,
        ad_brand=ad_brand,
        ad_price=rng.integers(0, 50, n_ads),
        ad_quality=rng.normal(0, 0.4, n_ads),
    )


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _history(
    world: _World, user: int, rng: np.random.Generator, cdfs: dict[int, np.ndarray]
) -> tuple[list[int], list[int]]:
    """A behaviour list: runs of categories the user likes, each run with one brand.
    `cdfs` keeps each user's category distribution across rows."""
    if not world.user_has_history[user]:
        return [], []
    length = int(np.clip(rng.normal(31, 12), 1, 50))
    cdf = cdfs.get(user)
    if cdf is None:
        cdf = cdfs[user] = _cdf(_softmax(2.0 * world.cate_vec @ world.user_interest[user]))
    cates: list[int] = []
    brands: list[int] = []
    while len(cates) < length:
        # What rng.choice(len(prefs), p=prefs) draws (one uniform, searched in the
        # normalised cumulative sum), without its per-call checks and cumulative sum: the
        # same rows in a sixth of the time.
        c = int(cdf.searchsorted(rng.random(), side="right"))
        options = world.cate_brands[c]
        b = int(options[rng.integers(0, len(options))])  # rng.choice(options)'s draw
        run = min(int(rng.integers(1, 12)), length - len(cates))
        cates += [c] * run
        brands += [b] * run
    return cates, brands


def _cdf(p: np.ndarray) -> np.ndarray:
    cdf = p.cumsum()
    cdf /= cdf[-1]
    return cdf


def _click_logits(
    world: _World, users: np.ndarray, ads: np.ndarray, in_history: np.ndarray, pid: np.ndarray
) -> np.ndarray:
    """Everything but the intercept: interactions a deep net can find, a wide one cannot."""
    interest = np.einsum("ij,ij->i", world.user_interest[users], world.cate_vec[world.ad_cate[ads]])
    profile = world.user_profile[users]
    age, pvalue, shopping = profile[:, 3], profile[:, 4], profile[:, 5]
    expensive = world.ad_price[ads] >= 25
    age_price = np.where(age < 0, 0.0, np.where((age >= 4) ^ expensive, 0.5, -0.5))
    pv_shop = np.where((pvalue < 0) | (shopping < 0), 0.0, 0.4 * (pvalue - 2) * (shopping - 2))
    quality = world.ad_quality[ads] * np.where(pid == 0, 1.0, 0.3)
    return (
        1.4 * interest + 0.8 * in_history + age_price + pv_shop + quality + world.user_bias[users]
    )


def intercept_for(logits: np.ndarray, target: float) -> float:
    """Bisection for the intercept that gives the target mean click probability."""
    lo, hi = -15.0, 5.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(logits + mid)))) > target:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def _field(value: int) -> str:
    return "" if value < 0 else str(value)


def generate_rows(num_rows: int, seed: int = 0) -> list[str]:
    """`num_rows` CSV lines (no newline) in EasyRec's Taobao CSVInput format."""
    if num_rows <= 0:
        raise ValueError(f"num_rows must be positive, got {num_rows}")
    rng = np.random.default_rng(seed)
    world = _build_world(num_rows, rng)
    n_users, n_ads = len(world.user_ids), len(world.ad_ids)

    # Popular users and ads appear often, as in real logs (Zipf-like popularity).
    users = rng.choice(n_users, size=num_rows, p=_zipf(n_users, rng))
    random_ads = rng.choice(n_ads, size=num_rows, p=_zipf(n_ads, rng))
    pid = rng.integers(0, 2, num_rows)

    cdfs: dict[int, np.ndarray] = {}
    histories = [_history(world, u, rng, cdfs) for u in users]
    # Half the impressions show an ad from a category the user likes (targeting).
    ads = random_ads.copy()
    targeted = rng.random(num_rows) < 0.5
    for i in np.flatnonzero(targeted):
        cates = histories[i][0]
        if cates:
            candidates = np.flatnonzero(world.ad_cate == cates[rng.integers(len(cates))])
            if candidates.size:
                ads[i] = rng.choice(candidates)
    in_history = np.array(
        [world.ad_cate[a] in set(h[0]) for a, h in zip(ads, histories)], dtype=float
    )
    logits = _click_logits(world, users, ads, in_history, pid)
    logits += intercept_for(logits, TARGET_CTR)
    clk = (rng.random(num_rows) < 1 / (1 + np.exp(-logits))).astype(int)
    buy = clk * (rng.random(num_rows) < 0.02)

    rows = []
    for i in range(num_rows):
        u, a = users[i], ads[i]
        cates, brands = histories[i]
        brand = world.ad_brand[a]
        fields = [
            str(clk[i]),
            str(buy[i]),
            PIDS[pid[i]],
            str(world.ad_ids[a]),
            str(world.cate_ids[world.ad_cate[a]]),
            str(world.ad_campaign[a]),
            str(world.ad_customer[a]),
            "NULL" if brand < 0 else str(world.brand_ids[brand]),
            str(world.user_ids[u]),
            *(_field(v) for v in world.user_profile[u]),
            "|".join(str(world.cate_ids[c]) for c in cates),
            "|".join(str(world.brand_ids[b]) for b in brands),
            str(world.ad_price[a]),
        ]
        rows.append(",".join(fields))
    return rows


def _zipf(n: int, rng: np.random.Generator, exponent: float = 0.8) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    weights = weights[rng.permutation(n)]
    return weights / weights.sum()


def write_sample(path: Path | str, num_rows: int, seed: int = 0) -> Path:
    """Write the generated rows to `path` (a file); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = generate_rows(num_rows, seed)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path
