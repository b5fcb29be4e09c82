"""The seed's configuration: EasyRec's Taobao input format (CSVInput's 20 columns) and
its `rocket_launching` model_config (17 features of group `all`), as RocketConfig, with
the product's three measured changes: embedding_dim 8 (EMBEDDING_DIM), DNNs without
BatchNorm (rocket_config.DNNConfig) and two lookup features in the group (LOOKUPS)."""

from __future__ import annotations

from typing import Any

from rocket_config import (
    BUCKET,
    ID,
    LOOKUP,
    TAG,
    FeatureConfig,
    FeatureGroup,
    InputField,
    ModelConfig,
    RocketConfig,
    TrainConfig,
)

# The user-profile columns of the Taobao data: the same names in the raw user_profile.csv
# and in our input rows.
TAOBAO_PROFILE_FIELDS = (
    "cms_segid",
    "cms_group_id",
    "final_gender_code",
    "age_level",
    "pvalue_level",
    "shopping_level",
    "occupation",
    "new_user_class_level",
)

TAOBAO_INPUT_FIELDS = (
    InputField("clk", "int"),
    InputField("buy", "int"),
    *(
        InputField(name)
        for name in (
            "pid",
            "adgroup_id",
            "cate_id",
            "campaign_id",
            "customer",
            "brand",
            "user_id",
            *TAOBAO_PROFILE_FIELDS,
            "tag_category_list",
            "tag_brand_list",
        )
    ),
    InputField("price", "int"),
)

SEED_GROUP_ALL = (
    "user_id",
    "cms_segid",
    "cms_group_id",
    "age_level",
    "pvalue_level",
    "shopping_level",
    "occupation",
    "new_user_class_level",
    "adgroup_id",
    "cate_id",
    "campaign_id",
    "customer",
    "brand",
    "price",
    "pid",
    "tag_category_list",
    "tag_brand_list",
)


# How often the ad's category and brand occur in the user's behaviour lists: the two
# LookupFeatures (map, key) of EasyRec's Taobao feature generation example
# (docs/source/feature/rtp_fg.md: combo_cate_id, combo_brand), appended to the seed's
# group. On the generated logs every model gains with them (the light net 0.047 AUC at
# 50,000 rows), the linear baseline as much; on deep_data they change nothing beyond
# the seeds' spread, on the real sample (every model near chance) the nets lost 0.019
# AUC, about one spread (docs/benchmarks.md, "The ad's category in the behaviour
# list"). A count bucket: 0, 1, 2-3, 4-7, 8-15, 16+.
LOOKUPS = (
    ("combo_cate_id", "tag_category_list", "cate_id"),
    ("combo_brand", "tag_brand_list", "brand"),
)
LOOKUP_BOUNDARIES = (1.0, 2.0, 4.0, 8.0, 16.0)
DEFAULT_GROUP = SEED_GROUP_ALL + tuple(name for name, _, _ in LOOKUPS)


# The product's embedding width: the seed's 16 halved. Over 3 seeds on 50,000 generated
# rows the light net gained 0.006 AUC and 0.012 GAUC with 8 (docs/benchmarks.md,
# "Defaults"); fewer weights per id also memorise less, and serve faster.
EMBEDDING_DIM = 8


def default_features() -> tuple[FeatureConfig, ...]:
    features = []
    for field_ in TAOBAO_INPUT_FIELDS:
        if field_.name in ("clk", "buy"):
            continue
        if field_.name.startswith("tag_"):
            features.append(FeatureConfig(field_.name, kind=TAG, embedding_dim=EMBEDDING_DIM))
        elif field_.name == "price":
            features.append(FeatureConfig(field_.name, kind=BUCKET, num_buckets=50,
                                          embedding_dim=EMBEDDING_DIM))  # fmt: skip
        else:
            features.append(FeatureConfig(field_.name, kind=ID, embedding_dim=EMBEDDING_DIM))
    for name, tags, key in LOOKUPS:
        features.append(FeatureConfig(name, kind=LOOKUP, embedding_dim=EMBEDDING_DIM,
                                      input_names=(tags, key),
                                      boundaries=LOOKUP_BOUNDARIES))  # fmt: skip
    return tuple(features)


def default_config(**train_overrides: Any) -> RocketConfig:
    """The product's default: the seed's configuration on EasyRec's Taobao input format,
    with embedding_dim 8, no BatchNorm and the two lookups."""
    return RocketConfig(
        input_fields=TAOBAO_INPUT_FIELDS,
        label_field="clk",
        features=default_features(),
        model=ModelConfig(feature_groups=(FeatureGroup("all", DEFAULT_GROUP),)),
        train=TrainConfig(**train_overrides),
        user_field="user_id",
        slice_fields=("pid",),
    ).validate()
