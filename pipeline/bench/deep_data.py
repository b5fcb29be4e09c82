"""A second generator for the bench, unlike pipeline.sample_data: small id spaces (every
id seen often) and a click logit that is a fixed random deep net of the ids.

sample_data plants a few named interactions over large, Zipf-popular id spaces, so most
of its ids are rare and memorising them is the risk. Here every user, ad, category and
profile value recurs hundreds of times, and the logit is a 3-layer tanh net over random
per-value vectors: no feature adds up on its own, depth pays, and a model is judged on
learning a function of the crosses rather than on not memorising. Same 20 columns of
EasyRec's Taobao CSVInput as sample_data, so the same configuration reads both.
"""

from __future__ import annotations

import numpy as np

from pipeline import sample_data

COLUMNS = sample_data.COLUMNS
TARGET_CTR = 0.08
VECTOR_DIM = 6
HIDDEN = (48, 24)
LOGIT_STD = 2.0  # the net's logit is rescaled to this spread before the intercept
# Values of each id column (the profile columns keep Taobao's small ranges).
SPACES = {"user_id": 400, "adgroup_id": 300, "cate_id": 30, "brand": 80, "campaign_id": 150,
          "customer": 60}  # fmt: skip
PROFILE_RANGES = (100, 13, 2, 6, 3, 3, 2, 4)  # cms_segid ... new_user_class_level


def _deep_logit(vectors: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """A fixed random tanh net of the concatenated per-column vectors, one logit a row."""
    x = np.concatenate(vectors, axis=1)
    for width in HIDDEN:
        weights = rng.normal(0, 1.5 / np.sqrt(x.shape[1]), (x.shape[1], width))
        x = np.tanh(x @ weights)
    logit = x @ rng.normal(0, 1 / np.sqrt(x.shape[1]), x.shape[1])
    return (logit - logit.mean()) / (logit.std() + 1e-9) * LOGIT_STD


def generate_rows(num_rows: int, seed: int = 0) -> list[str]:
    """`num_rows` CSV lines (no newline) in EasyRec's Taobao CSVInput format."""
    return generate(num_rows, seed)[0]


def generate(num_rows: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """The CSV lines and each row's true click logit (what a perfect model would score)."""
    if num_rows <= 0:
        raise ValueError(f"num_rows must be positive, got {num_rows}")
    rng = np.random.default_rng(seed)
    n_users, n_ads = SPACES["user_id"], SPACES["adgroup_id"]
    profile = np.stack([rng.integers(0, r, n_users) for r in PROFILE_RANGES], axis=1)
    ad_cate = rng.integers(0, SPACES["cate_id"], n_ads)
    ad_brand = rng.integers(0, SPACES["brand"], n_ads)
    ad_campaign = rng.integers(0, SPACES["campaign_id"], n_ads)
    campaign_customer = rng.integers(0, SPACES["customer"], SPACES["campaign_id"])
    ad_price = rng.integers(0, 50, n_ads)
    # Each user's behaviour list: categories (and one brand each) the user favours.
    favourite = [rng.choice(SPACES["cate_id"], size=rng.integers(1, 5), replace=False)
                 for _ in range(n_users)]  # fmt: skip

    users = rng.integers(0, n_users, num_rows)
    ads = rng.integers(0, n_ads, num_rows)
    pid = rng.integers(0, 2, num_rows)

    def table(size: int) -> np.ndarray:
        return rng.normal(0, 1, (size, VECTOR_DIM))

    user_vec, cate_vec, brand_vec = table(n_users), table(SPACES["cate_id"]), table(SPACES["brand"])
    age_vec, price_vec, pid_vec = table(6), table(50), table(2)
    in_favourite = np.array([ad_cate[a] in favourite[u] for u, a in zip(users, ads)], float)
    # Products of independent zero-mean vectors: no column has an effect of its own, so
    # a sum of per-value weights (a logistic regression) finds little; the net above them
    # makes the crosses' effect deep as well as pairwise.
    logits = _deep_logit(
        [user_vec[users] * cate_vec[ad_cate[ads]], age_vec[profile[users, 3]]
         * price_vec[ad_price[ads]], brand_vec[ad_brand[ads]] * pid_vec[pid],
         (in_favourite[:, None] - 0.5) * user_vec[users]],
        rng,
    )  # fmt: skip
    logits += sample_data.intercept_for(logits, TARGET_CTR)
    clk = (rng.random(num_rows) < 1 / (1 + np.exp(-logits))).astype(int)

    rows = []
    for i in range(num_rows):
        u, a = users[i], ads[i]
        cates = favourite[u]
        fields = [
            str(clk[i]),
            "0",
            sample_data.PIDS[pid[i]],
            str(10_000 + a),
            str(500 + ad_cate[a]),
            str(20_000 + ad_campaign[a]),
            str(30_000 + campaign_customer[ad_campaign[a]]),
            str(40_000 + ad_brand[a]),
            str(100_000 + u),
            *(str(v) for v in profile[u]),
            "|".join(str(500 + c) for c in cates),
            "|".join(str(40_000 + (c * 7) % SPACES["brand"]) for c in cates),
            str(ad_price[a]),
        ]
        rows.append(",".join(fields))
    return rows, logits
