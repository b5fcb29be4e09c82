"""The one typed configuration of a Rocket Launching run, built once and passed down.

Defaults are the seed's EasyRec `model_config` (share [128,96,64], booster
[256,128,96,64], light [128,64], ...) but for one: the DNNs have no BatchNorm
(`use_bn: false`; see DNNConfig). The seed's features and EasyRec's Taobao input
format are rocket_seed's (`rocket_seed.default_config()`). The whole object travels to
the TFX components as JSON (`to_json` / `from_json`), so Transform and Trainer see the
same values as the CLI.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

# Kinds of model features.
ID = "id"  # one categorical value per row -> vocabulary id
TAG = "tag"  # a separator-joined list of values -> variable-length vocabulary ids
BUCKET = "bucket"  # an integer already bucketed to [0, num_buckets) -> the id itself
# How often one column's value occurs among the items of a tag-list column (e.g. the ad's
# category in the user's behaviour list) -> its bucket among `boundaries`. EasyRec's
# Taobao feature generation crosses cate_id with tag_category_list (and brand with
# tag_brand_list) by a LookupFeature; a net fed the two embeddings side by side has to
# learn that match from the data, and at 50,000 rows it did not (docs/benchmarks.md,
# "The ad's category in the behaviour list").
LOOKUP = "lookup"

FEATURE_KINDS = (ID, TAG, BUCKET, LOOKUP)
# How a row's embeddings are pooled: EasyRec's embedding-column combiners (only a tag list
# has more than one id a row). EasyRec's own default is "mean" (easyrec_config applies it
# to a feature config that leaves combiner out); ours and the seed's is "sum".
COMBINERS = ("sum", "mean", "sqrtn")
FIELD_TYPES = ("int", "string", "float")
DISTILLATION_FUNCTIONS = ("COSINE", "INNER_PRODUCT", "EUCLID")
# Which nets a model trains: both (Rocket Launching), or one alone, trained on labels only
# (the baselines Rocket Launching is measured against).
NETS = ("both", "light", "booster")
# Keras activation names a DNN may use (EasyRec's DNN takes TF function names; these are
# the ones with the same meaning in both).
ACTIVATIONS = (
    "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "swish", "silu", "sigmoid", "tanh",
    "softplus", "linear",
)  # fmt: skip
# The input contract, the same in training and in serving (see RocketConfig).
DEFAULT_MAX_FIELD_BYTES = 131_072  # what Python's csv reader allowed before it was stated
DEFAULT_MAX_TAG_ITEMS = 100  # twice the 50 behaviours convert-taobao keeps per row


@dataclass(frozen=True)
class InputField:
    """One CSV column: its name and the type it is parsed to."""

    name: str
    type: str = "string"


@dataclass(frozen=True)
class FeatureConfig:
    """How one raw column becomes embedding ids."""

    name: str
    kind: str = ID
    embedding_dim: int = 16
    separator: str = "|"  # TAG only
    num_buckets: int = 0  # BUCKET only; values outside [0, num_buckets) get one extra id
    # ID / TAG: 0 builds a TFT vocabulary (below); > 0 hashes into this many buckets, as
    # EasyRec's hash_bucket_size does (no vocabulary pass, fixed table size).
    hash_bucket_size: int = 0
    # Ids seen fewer times than this share the OOV buckets. A floor of 2 keeps one-off ids
    # out of the vocabulary, so the OOV embeddings are trained and unseen ids serve well.
    frequency_threshold: int = 2
    num_oov_buckets: int = 10
    top_k: int | None = None
    combiner: str = "sum"  # COMBINERS
    # LOOKUP only: (the tag-list column, the key column), EasyRec's LookupFeature
    # input_names (map, key); the key's count among the list's first max_tag_items items
    # gets id i when boundaries[i-1] <= count < boundaries[i] (tft.apply_buckets).
    input_names: tuple[str, ...] = ()
    boundaries: tuple[float, ...] = ()

    def columns(self) -> tuple[str, ...]:
        """The input columns the feature's ids are computed from."""
        return self.input_names if self.kind == LOOKUP else (self.name,)


@dataclass(frozen=True)
class DNNConfig:
    """A stack of Dense -> BatchNorm -> activation -> dropout layers.

    use_bn is off by default, unlike EasyRec's DNN (an EasyRec config that leaves it out
    still gets EasyRec's `true`: easyrec_config). With BatchNorm the nets memorised the
    ids of the default run's 40,000 train rows within two epochs and ended below a
    logistic regression (light 0.742, booster 0.681, linear 0.798 AUC); without it both
    nets beat it (docs/benchmarks.md, "Defaults")."""

    hidden_units: tuple[int, ...]
    dropout_ratio: float = 0.0
    activation: str = "relu"
    use_bn: bool = False


@dataclass(frozen=True)
class FeatureGroup:
    name: str
    feature_names: tuple[str, ...]


@dataclass(frozen=True)
class ModelConfig:
    """EasyRec's `model_config { rocket_launching { ... } }`, plus our two honest options."""

    feature_groups: tuple[FeatureGroup, ...]
    share_dnn: DNNConfig | None = DNNConfig((128, 96, 64))
    booster_dnn: DNNConfig = DNNConfig((256, 128, 96, 64))
    light_dnn: DNNConfig = DNNConfig((128, 64))
    l2_regularization: float = 1e-6
    # None, the default: chosen from the train rows (for_train_rows):
    # SMALL_LOG_EMBEDDING_REGULARIZATION below SMALL_LOG_MAX_ROWS, else
    # DEFAULT_EMBEDDING_REGULARIZATION. The linear baseline uses the same value unless
    # train.linear_embedding_regularization sets its own.
    embedding_regularization: float | None = None
    # Ours, for a linear model only (is_linear: the linear baseline): scale/2 * sum(w^2)
    # over its weights, w the click logit's weight of each id and tag token (its
    # embedding times the head), the penalty of a logistic regression (scikit-learn's
    # C=1 is 1/rows); the linear baseline's below LOGISTIC_BASELINE_MAX_ROWS train rows
    # (TrainConfig.linear_weight_regularization). 0: none (EasyRec has no such term).
    weight_regularization: float = 0.0
    num_class: int = 2
    feature_based_distillation: bool = False
    feature_distillation_function: str = "INNER_PRODUCT"  # the seed's `1`
    feature_distillation_weight: float = 0.1
    hint_weight: float = 1.0
    # EasyRec stops the gradient between the shared layers and the light net (False, the
    # default); the paper lets the light net's label loss train the shared layers too
    # (True). Why not chosen per run: the comment above GRADIENTS.
    light_trains_share: bool = False
    # "both" is Rocket Launching. "light" / "booster" build and train that net alone, on
    # labels only; alone, the light net trains the shared layers (nothing else would).
    nets: str = "both"
    # True: a tag token repeated in a row counts once, as in one-hot columns (the linear
    # baseline's, LINEAR_MODEL). False: every token is pooled, repeats included (EasyRec).
    distinct_tag_tokens: bool = False


# EasyRec's optimizer_config kinds (rocket_optimizers builds them).
OPTIMIZERS = ("adam", "lazy_adam", "adagrad", "momentum", "rms_prop", "ftrl")
KEEP_CHOICES = ("best", "final")  # which weights the Trainer exports
# `with_changes(config, **FIXED_STEPS)`: train exactly train_steps on every train row and
# export the final weights (no hold-out, no early stop), e.g. to time the Trainer or to
# make two runs' models differ only by their step counts.
FIXED_STEPS = {"train.validation_fraction": 0.0, "train.keep": "final", "train.early_stop": False}
# The linear baseline (`model.*` changes) that the Trainer and the bench train beside the
# nets: the light net alone with no share tower and no hidden layer, whose logit is a
# weighted sum of the pooled embeddings, i.e. one learned weight per id and tag token: a
# logistic regression over one-hot ids and tag tokens. A token counts once a row, as in
# one-hot columns: a behaviour list repeats its tokens (runs of one category), and on
# counts the same logistic regression ranked worse (docs/benchmarks.md, "The linear
# baseline sees a tag list as one-hot columns").
LINEAR_MODEL = {"nets": "light", "share_dnn": None, "light_dnn": DNNConfig(()),
                "feature_based_distillation": False, "distinct_tag_tokens": True}  # fmt: skip


# The step budget when train_steps is 0: larger data gets more steps. At 50,000 rows a
# fixed 1,200 steps (17 epochs) left the nets' early stop its room; at 200,000 and 300,000
# rows the nets' (deep_data) or the linear model's best checks came at the end of those
# 1,200 steps (2.8 to 4.3 epochs); at 1,000,000 rows they are less than one epoch.
AUTO_MIN_STEPS = 1200
AUTO_EPOCHS = 8


# The nets' embedding_regularization from SMALL_LOG_MAX_ROWS train rows on (EasyRec's
# seed value), when model_config leaves it unset.
DEFAULT_EMBEDDING_REGULARIZATION = 5e-6
# Below this many train rows (the train split, hold-out included), when model_config
# leaves embedding_regularization unset: SMALL_LOG_EMBEDDING_REGULARIZATION for the nets,
# and for the linear baseline a logistic regression's penalty (below).
# The penalty is on the batch's pooled embeddings, so an id's weight is shrunk in
# proportion to how often it occurs: with 5e-6 rare ids keep large weights, the linear
# baseline fell below scikit-learn's logistic regression, and the nets ranked within a
# user worse than it.
# Measured (2026-12-05, exploration on the bench's folds, 2 seeds, light net eval AUC /
# per-fold GAUC; EasyRec's gradient unless said):
#   generated, 8,000 train rows (3 folds): 5e-6 0.7744 / 0.7084; 5e-4 0.7989 / 0.7365;
#     2e-3 0.8017 / 0.7392; the paper's variant 5e-6 0.8104 / 0.6995, 5e-4 0.7997 /
#     0.6982; the linear baseline at 5e-4 0.7825 / 0.7351;
#   the real sample, 8,000 (2 folds): 5e-6 0.5285, 5e-4 0.5393, 2e-3 0.5565, the paper's
#     0.5317 (GAUC near chance for every model);
#   deep_data, 16,000: 5e-6 0.6841, 5e-4 0.6985, 2e-3 0.6720, the paper's 0.6302;
#   generated, 16,000: 5e-6 0.7978, 5e-4 0.7997, the paper's 0.8157 (GAUC a draw);
#   generated, 28,000: 5e-6 0.8159, 5e-4 0.8012; 40,000: 0.8228 against 0.8107.
# Before the lookups the paper's variant ranked within a user worse at every
# regularization tried; with them it ranked better, until EasyRec's was measured against it
# fold by fold (above GRADIENTS). From 28,000 rows on the stronger penalty costs AUC.
# The linear baseline alone: 8,000 generated rows 0.7698 -> 0.7986 (scikit-learn's LR
# 0.7882), the real sample 0.5177 -> 0.5516 (LR 0.5732), 16,000: 0.7791 -> 0.7940 (LR
# 0.7968), deep_data 16,000: 0.6308 -> 0.6285 (LR 0.6334). With the lookups (2026-12-06,
# 3 folds of 10,000 generated rows, 2 seeds) the pooled penalty, which shrinks an id in
# proportion to its frequency, held back the frequent lookup buckets: the linear baseline
# at 5e-4 0.8110, 1e-4 0.8249, 3e-5 0.8305, 1e-5 0.8333 (2 folds of 3), and with an L2
# of 1/rows on its weights (scikit-learn's C=1) and no pooled penalty 0.8363 (2 of 3),
# against scikit-learn's LR 0.8360; on the real sample (5 folds) 5e-4 0.5337, 3e-5
# 0.5219, the L2 0.5347 (LR 0.5583). So below SMALL_LOG_MAX_ROWS the linear baseline is
# fit as a logistic regression (TrainConfig.linear_weight_regularization): the L2 on its
# logit weights, trained to the end of the budget (linear_config): 0.8346 on those folds,
# the real sample 0.5475, deep_data 0.6261 (LR 0.6314 on the same 90% of the rows).
SMALL_LOG_MAX_ROWS = 20_000
# That L2 is SMALL_LOG_LINEAR_L2 / train rows (scikit-learn's C = 1 / SMALL_LOG_LINEAR_L2).
# Until 2026-12-06 it was 1/rows (C=1), which a logistic regression with its C chosen by
# cross-validation (the bench's reference since) beats on generated rows. scikit-learn's LR
# on the bench's splits, eval AUC by C (0.03 / 0.1 / 0.3 / 1 / 3): deep_data 20,000 rows
# 0.6152 / 0.6277 / 0.6326 / 0.6336 / 0.6331; the real sample, 5 folds, 0.5491 / 0.5529 /
# 0.5571 / 0.5583 / 0.5585; generated 10,000 rows, 5 folds: cross-validation chose C 0.03
# to 0.1 on every fold, 0.850-0.898 against 0.817-0.884 at C=1. Our linear baseline on its
# first two folds: L2 1/rows 0.8186, 0.8472; 3/rows 0.8452, 0.8657; 10/rows 0.8577,
# 0.8719; 30/rows 0.8560, 0.8702. 3/rows costs at most 0.001 where C=1 is best and
# gains 0.02 on generated rows; 10/rows would cost 0.006 on deep_data. No one strength
# suits every log, so since 2026-12-07 the Trainer chooses it by cross-validation
# (TrainConfig.linear_l2_by_cross_validation); 3/rows is left for rows with too few clicks.
SMALL_LOG_LINEAR_L2 = 3.0
# Below this many train rows (and when the config leaves the linear baseline's penalties
# and the nets' embedding_regularization unset) the linear baseline is fit as that
# logistic regression, its L2 cross-validated; from here on it is regularised as the nets
# and stops early. Until 2026-12-07 the limit was SMALL_LOG_MAX_ROWS. At 50,000 generated
# rows (39,933 train rows, seed 0, the bench's split; docs/benchmarks.md, "The linear
# baseline as a logistic regression up to 100,000 train rows") the early-stopped baseline
# scored 0.8623 AUC, the logistic one 0.8669 (C 0.032 chosen in 9 s), scikit-learn's
# cross-validated LR 0.8685: early stopped, the baseline is under-trained there. At 300,000
# rows (240,000 train rows) the early-stopped baseline is within 0.001 of scikit-learn's
# (0.8730 against 0.8737), and the folds' cost grows with the rows.
LOGISTIC_BASELINE_MAX_ROWS = 100_000
SMALL_LOG_EMBEDDING_REGULARIZATION = 5e-4
# EasyRec's stop-gradient at every size. Until 2026-12-06 the Trainer trained the pair
# both ways below 30,000 train rows and kept the better best validation AUC. Measured
# (docs/benchmarks.md, "One gradient on small logs"; both candidates from the same seed on
# the bench's folds, light net eval AUC / per-fold GAUC, always EasyRec's, always the
# paper's, and the choice): generated 10,000 rows (5 folds x 3 seeds) 0.8510 / 0.7659,
# 0.8436 / 0.7543, 0.8436 / 0.7543; deep_data 20,000 (3 seeds) 0.6850, 0.6199, 0.6850;
# deep_data 10,000 (5 folds x 3 seeds) 0.6565, 0.6499, 0.6520; generated 20,000 (3 seeds)
# 0.8623 / 0.6592, 0.8557 / 0.6802, 0.8557 / 0.6802; the real sample near chance for all
# three. A hold-out of 28-128 clicks cannot tell the two apart (the paired DeLong standard
# error of their AUC difference was 0.008-0.069), and the best of many checks favours the variant
# that trains longer, the paper's, which sometimes collapsed on the eval rows (0.7107
# against 0.8604). The choice cost a second training run; it lost up to 0.007 AUC and gained
# at most 0.002 (the real sample, at chance).
# The two gradients by light_trains_share, as the Trainer and the run summary name them.
GRADIENTS = {False: "EasyRec's stop-gradient", True: "the paper's variant"}


@dataclass(frozen=True)
class TrainConfig:
    """Optimizer and batching (EasyRec's train_config; the seed: Adam, exponential decay).

    The optimizer's parameters have EasyRec's names and defaults; each is read only by
    the optimizers that have it."""

    batch_size: int = 512
    # At most this many steps (early stopping usually ends training sooner); 0, the
    # default: chosen from the train rows, AUTO_EPOCHS passes over them and at least
    # AUTO_MIN_STEPS (rocket_data.step_budget). TrainArgs' num_steps, when set, wins.
    train_steps: int = 0
    # EasyRec's data_config num_epochs: at most this many passes over the train rows left
    # after the validation hold-out, or train_steps, whichever ends first (0: steps only).
    num_epochs: float = 0.0
    eval_batch_size: int = 2048
    learning_rate: float = 0.001
    decay_steps: int = 1000
    decay_factor: float = 0.5
    min_learning_rate: float = 1e-5
    staircase: bool = False
    log_every_steps: int = 50
    optimizer: str = "adam"
    beta1: float = 0.9  # adam, lazy_adam
    beta2: float = 0.999  # adam, lazy_adam
    momentum: float = 0.9  # momentum, rms_prop (EasyRec's momentum_optimizer_value)
    rms_decay: float = 0.9  # rms_prop (EasyRec's decay)
    rms_epsilon: float = 1.0  # rms_prop (EasyRec's epsilon)
    initial_accumulator_value: float = 0.1  # adagrad, ftrl
    learning_rate_power: float = -0.5  # ftrl
    l1_reg: float = 0.0  # ftrl
    l2_reg: float = 0.0  # ftrl
    l2_shrinkage_reg: float = 0.0  # ftrl
    seed: int = 0  # weights initialisation and shuffling: a rerun gives the same model
    # Training that ends at the best model. A share of the train split's rows (chosen by
    # each row's content, so the same rows whatever the order or sharding) is held out
    # as validation data, never trained on and never the eval split the gate judges.
    # Every eval_every_steps (0: a twelfth of train_steps) the light net's validation AUC
    # is measured (training runs whole checks: train_steps is rounded up to a multiple).
    # keep "best" exports the weights of the best check (EasyRec's export_config
    # exporter_type best), "final" the last ones; with
    # early_stop, training ends once the AUC has not improved for max_check_steps
    # (0: three checks). validation_fraction 0 trains on every row for train_steps and
    # exports the final weights (keep "final", no early stop).
    validation_fraction: float = 0.1
    eval_every_steps: int = 0
    keep: str = "best"
    early_stop: bool = True
    max_check_steps: int = 0
    # Ours: the Trainer also trains LINEAR_MODEL on the same rows by the same loop and
    # records its eval AUC (metrics.json linear_baseline, the run summary): what the nets
    # must beat to be worth serving. Not exported.
    linear_baseline: bool = True
    # Ours: the light SavedModel serves the light net's logit blended with the linear
    # baseline's, the light net's weight 0.5 unless the validation rows clearly prefer
    # another (rocket_blend);
    # false, or no linear baseline, or no validation rows: the light net alone.
    blend_linear_baseline: bool = True
    # The linear baseline's embedding_regularization; None: the nets' (model
    # embedding_regularization, itself chosen from the train rows when unset).
    linear_embedding_regularization: float | None = None
    # The linear baseline's weight_regularization (ModelConfig). None: chosen with the
    # row count: below LOGISTIC_BASELINE_MAX_ROWS, when both linear penalties and the
    # nets' embedding_regularization are unset, a logistic regression's L2 with no pooled
    # penalty (see SMALL_LOG_MAX_ROWS), its strength chosen by cross-validation
    # (linear_l2_by_cross_validation); else 0. A baseline so regularised is fit as a
    # logistic regression is, to its optimum: trained for the whole step budget with no
    # early stop, its final weights kept (linear_config).
    linear_weight_regularization: float | None = None
    # Set by the row-count choice above, not meant to be set by hand: before training,
    # the Trainer replaces linear_weight_regularization by the strength scikit-learn's
    # LogisticRegressionCV chooses on the same rows and one-hot ids (rocket_logistic);
    # linear_weight_regularization (SMALL_LOG_LINEAR_L2/rows) is kept only when the rows
    # have too few clicks for its folds.
    linear_l2_by_cross_validation: bool = False

    def check_every(self) -> int:
        """Steps between two validation checks."""
        return min(self.eval_every_steps or -(-self.train_steps // 12), self.train_steps)

    def patience(self) -> int:
        """Steps without a better validation AUC after which early stopping ends training:
        three checks, and at least a quarter of train_steps. The floor is for slow
        learners on few rows: with a check every half epoch of the real sample's 8,000
        train rows (8 steps), three checks stopped the linear baseline at 0.50 AUC while
        its Adam steps had barely moved its weights."""
        return self.max_check_steps or max(3 * self.check_every(), -(-self.train_steps // 4))


@dataclass(frozen=True)
class RocketConfig:
    input_fields: tuple[InputField, ...]
    label_field: str
    features: tuple[FeatureConfig, ...]
    model: ModelConfig
    train: TrainConfig = TrainConfig()
    separator: str = ","  # the CSV column separator
    # One input contract for training and serving. A string field longer than
    # max_field_bytes (UTF-8) is a bad row in ExampleGen and an InvalidArgument error in
    # the served signature. A tag list keeps its first max_tag_items non-empty items, in
    # the preprocessing graph, which Transform and the served model share.
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES
    max_tag_items: int = DEFAULT_MAX_TAG_ITEMS
    # Evaluation: GAUC groups impressions by user_field ("": no GAUC; EasyRec's
    # eval_config gauc uid_field), and every metric is also reported per value of each
    # slice field. The seed's (default_config): user_id and pid.
    user_field: str = ""
    slice_fields: tuple[str, ...] = ()

    def feature(self, name: str) -> FeatureConfig:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(f"no feature named {name!r} in the feature configuration")

    def model_features(self) -> tuple[FeatureConfig, ...]:
        """The features that some feature group uses, in first-use order."""
        names: list[str] = []
        for group in self.model.feature_groups:
            names += [n for n in group.feature_names if n not in names]
        return tuple(self.feature(n) for n in names)

    def for_transform(self) -> RocketConfig:
        """Only what preprocessing_fn reads: the columns, the label, the features the model
        uses with their id settings (kind, vocabulary, buckets, tag separator) and the tag
        cap. Towers, loss weights, embedding sizes, pooling, training and the evaluation
        columns are reset to their defaults and the groups merged into one, so Transform's
        cache key, which holds its custom_config, survives changes to the model and its
        training."""
        features = tuple(
            dataclasses.replace(
                f, embedding_dim=FeatureConfig.embedding_dim, combiner=FeatureConfig.combiner
            )
            for f in self.model_features()
        )
        group = FeatureGroup("all", tuple(f.name for f in features))
        return dataclasses.replace(
            self,
            features=features,
            model=ModelConfig(feature_groups=(group,)),
            train=TrainConfig(),
            user_field="",  # evaluation's, not preprocessing's
            slice_fields=(),
        )

    def _validate_lookup(self, feature: FeatureConfig, where: str, columns: list[str]) -> None:
        if len(feature.input_names) != 2:
            raise ValueError(
                f"{where}: a lookup feature has two input_names (the tag list, the key), "
                f"got {list(feature.input_names)}"
            )
        for name in feature.input_names:
            if name not in columns or name == self.label_field:
                raise ValueError(
                    f"{where}: input {name!r} is not an input field other than the label"
                )
        if feature.name in columns:
            raise ValueError(f"{where}: a lookup feature's name must not be an input column")
        if not feature.separator:
            raise ValueError(f"{where}: a lookup feature needs the tag list's separator")
        bounds = list(feature.boundaries)
        if not bounds or bounds != sorted(set(bounds)):
            raise ValueError(f"{where}: boundaries must be increasing and not empty, got {bounds}")

    def validate(self) -> RocketConfig:
        """Raise ValueError naming the field for anything impossible; return self."""
        columns = [f.name for f in self.input_fields]
        if len(set(columns)) != len(columns):
            raise ValueError(f"input_fields: duplicate column names in {columns}")
        for f in self.input_fields:
            if f.type not in FIELD_TYPES:
                raise ValueError(f"input_fields.{f.name}: type {f.type!r} not in {FIELD_TYPES}")
        if self.label_field not in columns:
            raise ValueError(f"label_field {self.label_field!r} is not an input field")
        if len(self.separator) != 1:
            raise ValueError(f"data_config.separator must be one character, got {self.separator!r}")
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"feature_configs: more than one config for {duplicates}")
        for feature in self.features:
            where = f"feature_configs.{feature.name}"
            if feature.kind not in FEATURE_KINDS:
                raise ValueError(f"{where}: kind {feature.kind!r} not in {FEATURE_KINDS}")
            if feature.kind == LOOKUP:
                self._validate_lookup(feature, where, columns)
            elif feature.name not in columns:
                raise ValueError(f"{where}: no input field provides it")
            if feature.embedding_dim <= 0:
                raise ValueError(f"{where}: embedding_dim must be positive")
            if feature.kind == BUCKET and feature.num_buckets <= 0:
                raise ValueError(f"{where}: num_buckets must be positive for a bucket feature")
            if feature.hash_bucket_size < 0:
                raise ValueError(f"{where}: hash_bucket_size must not be negative")
            if feature.num_oov_buckets < 1:
                raise ValueError(f"{where}: num_oov_buckets must be at least 1 (unseen ids)")
            if feature.combiner not in COMBINERS:
                raise ValueError(f"{where}: combiner {feature.combiner!r} not in {COMBINERS}")
            if feature.kind == TAG and not feature.separator:
                raise ValueError(f"{where}: a tag feature needs a separator")
        model = self.model
        if not model.feature_groups:
            raise ValueError("model_config.feature_groups is empty")
        known = {f.name for f in self.features}
        for group in model.feature_groups:
            if self.label_field in group.feature_names:
                raise ValueError(
                    f"feature_groups.{group.name}: the label {self.label_field!r} cannot be "
                    "a model input (it is the answer, and serving does not have it)"
                )
            for name in group.feature_names:
                if name not in known:
                    raise ValueError(
                        f"feature_groups.{group.name}: feature {name!r} has no feature config"
                    )
        for label, dnn in (
            ("share_dnn", model.share_dnn),
            ("booster_dnn", model.booster_dnn),
            ("light_dnn", model.light_dnn),
        ):
            if dnn is None:
                continue
            # An empty light tower is allowed: the light head then sits straight on the
            # shared tower (the smallest point of the light-net sweep).
            empty_ok = label == "light_dnn"
            if (not dnn.hidden_units and not empty_ok) or any(u <= 0 for u in dnn.hidden_units):
                raise ValueError(
                    f"rocket_launching.{label}.hidden_units must be positive, "
                    f"got {list(dnn.hidden_units)}"
                )
            if not 0 <= dnn.dropout_ratio < 1:
                raise ValueError(f"rocket_launching.{label}.dropout_ratio must be in [0, 1)")
            if dnn.activation not in ACTIVATIONS:
                raise ValueError(
                    f"rocket_launching.{label}.activation must be one of {ACTIVATIONS}, "
                    f"got {dnn.activation!r}"
                )
        if model.nets not in NETS:
            raise ValueError(f"model_config.nets must be one of {NETS}, got {model.nets!r}")
        if model.num_class not in (1, 2):
            raise ValueError(f"model_config.num_class must be 1 or 2, got {model.num_class}")
        if model.feature_distillation_function not in DISTILLATION_FUNCTIONS:
            raise ValueError(
                "rocket_launching.feature_distillation_function must be one of "
                f"{DISTILLATION_FUNCTIONS}, got {model.feature_distillation_function!r}"
            )
        for name in ("l2_regularization", "embedding_regularization", "weight_regularization",
                     "hint_weight", "feature_distillation_weight"):  # fmt: skip
            if getattr(model, name) is None and name == "embedding_regularization":
                continue  # unset: chosen from the train rows (for_train_rows)
            if not getattr(model, name) >= 0:  # a negative weight rewards what it penalises
                raise ValueError(f"rocket_launching.{name} must be 0 or more, got "
                                 f"{getattr(model, name)}")  # fmt: skip
        if model.weight_regularization and not is_linear(model):
            raise ValueError(
                "rocket_launching.weight_regularization is for a linear model only (nets "
                "light, no share_dnn, no light_dnn layers: the linear baseline's, set by "
                "train_config linear_weight_regularization)"
            )
        train = self.train
        for name in ("linear_embedding_regularization", "linear_weight_regularization"):
            value = getattr(train, name)
            if value is not None and not value >= 0:
                raise ValueError(f"train_config.{name} must be 0 or more, got {value}")
        if train.batch_size <= 0 or train.train_steps < 0 or not train.num_epochs >= 0:
            raise ValueError(
                "train_config: batch_size must be positive, train_steps and num_epochs 0 or "
                "more (train_steps 0: chosen from the row count)"
            )
        if not (train.learning_rate > 0 and train.min_learning_rate >= 0):
            raise ValueError(
                "train_config: the learning rate must be positive and its floor 0 or more, got "
                f"{train.learning_rate} and {train.min_learning_rate}"
            )
        if train.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"train_config: optimizer {train.optimizer!r} is not one of {OPTIMIZERS}"
            )
        if not (0 <= train.beta1 < 1 and 0 <= train.beta2 < 1 and 0 <= train.momentum < 1):
            raise ValueError("train_config: beta1, beta2 and momentum must be in [0, 1)")
        if not (train.initial_accumulator_value >= 0 and train.learning_rate_power <= 0):
            raise ValueError(
                "train_config: initial_accumulator_value must be 0 or more and "
                "learning_rate_power 0 or less"
            )
        if not 0 < train.decay_factor <= 1 or not train.decay_steps > 0:
            raise ValueError(
                "train_config: decay_factor must be in (0, 1] and decay_steps positive, got "
                f"{train.decay_factor} and {train.decay_steps}"
            )
        if not 0 <= train.validation_fraction <= 0.5:
            raise ValueError(
                "train_config: validation_fraction must be in [0, 0.5], got "
                f"{train.validation_fraction}"
            )
        if train.keep not in KEEP_CHOICES or min(train.eval_every_steps, train.max_check_steps) < 0:
            raise ValueError(
                f"train_config: keep must be one of {KEEP_CHOICES} (got {train.keep!r}); "
                "eval_every_steps and max_check_steps 0 or more"
            )
        if train.validation_fraction == 0 and (train.keep == "best" or train.early_stop):
            raise ValueError(
                "train_config: keep 'best' and early_stop need validation data "
                "(validation_fraction above 0)"
            )
        for role, names in (("user_field", (self.user_field,) if self.user_field else ()),
                            ("slice_fields", self.slice_fields)):  # fmt: skip
            for name in names:
                if name not in columns or name == self.label_field:
                    raise ValueError(f"{role}: {name!r} is not an input field other than the label")
        if self.max_field_bytes < 1 or self.max_tag_items < 1:
            raise ValueError(
                "data_config: max_field_bytes and max_tag_items must be 1 or more, got "
                f"{self.max_field_bytes} and {self.max_tag_items}"
            )
        return self

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RocketConfig:
        """The config `to_json` wrote, validated: a hand-edited JSON fails here, naming
        the field, not deep inside Transform or the Trainer."""
        return _from_dict(cls, json.loads(text)).validate()


def _from_dict(cls: Any, data: Any) -> Any:
    """Rebuild nested frozen dataclasses (lists become tuples) from `dataclasses.asdict`."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a JSON object, got {data!r:.60}")
    fields = dataclasses.fields(cls)
    unknown = sorted(set(data) - {f.name for f in fields})
    if unknown:  # a misspelt key would otherwise silently keep its default
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}")
    kwargs = {}
    for f in fields:
        if f.name not in data:
            continue
        value = data[f.name]
        kwargs[f.name] = _convert(f.type, value)
    try:
        return cls(**kwargs)
    except TypeError as error:  # a required key is missing
        raise ValueError(f"{cls.__name__}: {error}") from None


_NESTED = {
    "tuple[InputField, ...]": InputField,
    "tuple[FeatureConfig, ...]": FeatureConfig,
    "tuple[FeatureGroup, ...]": FeatureGroup,
    "ModelConfig": ModelConfig,
    "TrainConfig": TrainConfig,
    "DNNConfig": DNNConfig,
    "DNNConfig | None": DNNConfig,
}


def _convert(type_name: str, value: Any) -> Any:
    nested = _NESTED.get(type_name)
    if nested is not None and type_name.startswith("tuple"):
        return tuple(_from_dict(nested, v) for v in value)
    if nested is not None:
        return _from_dict(nested, value)
    if isinstance(value, list):
        return tuple(value)
    return value


@dataclass(frozen=True)
class RowCountChoices:
    """What row_count_choices decided: the config, and one line per choice saying what
    was chosen and why (the Trainer prints them)."""

    config: RocketConfig
    notes: tuple[str, ...]


def for_train_rows(config: RocketConfig, train_rows: int) -> RocketConfig:
    """`config` with what it leaves to the data decided from the train split's row count
    (row_count_choices)."""
    return row_count_choices(config, train_rows).config


def row_count_choices(config: RocketConfig, train_rows: int) -> RowCountChoices:
    """The choices `config` leaves to the data, made from the train split's row count (see
    SMALL_LOG_MAX_ROWS). An unset embedding_regularization becomes
    SMALL_LOG_EMBEDDING_REGULARIZATION below SMALL_LOG_MAX_ROWS rows, else
    DEFAULT_EMBEDDING_REGULARIZATION, and below LOGISTIC_BASELINE_MAX_ROWS the linear
    baseline is fit as a logistic regression. Each note is written where its choice is
    made, so the console says what was decided, not a second reading of the thresholds."""
    model = config.model
    rows = f"{train_rows:,} train rows"
    small = f"{SMALL_LOG_MAX_ROWS:,}"
    notes = []
    small_log = model.embedding_regularization is None and train_rows < SMALL_LOG_MAX_ROWS
    train = config.train
    if model.embedding_regularization is None:
        chosen = (
            SMALL_LOG_EMBEDDING_REGULARIZATION if small_log else DEFAULT_EMBEDDING_REGULARIZATION
        )
        model = dataclasses.replace(model, embedding_regularization=chosen)
        linear = train.linear_baseline and train.linear_embedding_regularization is None
        logistic = (
            linear
            and train.linear_weight_regularization is None
            and train_rows < LOGISTIC_BASELINE_MAX_ROWS
        )
        strength = f"embedding_regularization {chosen:g}"
        if small_log:
            note = (
                f"{rows} (fewer than {small}): the nets are trained with {strength}, "
                "shrinking rare ids harder (model_config embedding_regularization fixes it)"
            )
        else:
            who = "the nets and the linear baseline" if linear and not logistic else "the nets"
            note = f"{rows} ({small} or more): {who}, {strength}"
        if logistic:
            train = dataclasses.replace(
                train,
                linear_embedding_regularization=0.0,
                linear_weight_regularization=SMALL_LOG_LINEAR_L2 / train_rows,
                linear_l2_by_cross_validation=True,
            )
            note += (
                "; the linear baseline as a logistic regression, the L2 on its weights "
                "chosen by cross-validation, fit to the end of the step budget (fewer than "
                f"{LOGISTIC_BASELINE_MAX_ROWS:,}; train_config linear_weight_regularization "
                "fixes it)"
            )
        notes.append(note)
    return RowCountChoices(dataclasses.replace(config, model=model, train=train), tuple(notes))


def is_linear(model: ModelConfig) -> bool:
    """Whether `model` is a linear model: the light net alone, its head on the pooled
    embeddings (LINEAR_MODEL's shape)."""
    return model.nets == "light" and model.share_dnn is None and not model.light_dnn.hidden_units


def linear_config(config: RocketConfig) -> RocketConfig:
    """The linear baseline: config's features, rows and training, LINEAR_MODEL for a model,
    regularised as train.linear_embedding_regularization and linear_weight_regularization
    say (unset: as the nets, no weight penalty). With a weight penalty it is fit as a
    logistic regression, to the end of the step budget, keeping its final weights: on
    small logs its early stop, on a hold-out of a few dozen clicks, ended it short of
    scikit-learn's LR (docs/benchmarks.md, "The linear baseline fit to its end")."""
    changes = {f"model.{name}": value for name, value in LINEAR_MODEL.items()}
    if config.train.linear_embedding_regularization is not None:
        changes["model.embedding_regularization"] = config.train.linear_embedding_regularization
    if config.train.linear_weight_regularization:
        changes["model.weight_regularization"] = config.train.linear_weight_regularization
        changes["train.early_stop"] = False
        changes["train.keep"] = "final"
    return with_changes(config, **changes)


def with_changes(config: RocketConfig, **changes: Any) -> RocketConfig:
    """A copy with top-level fields or `model.*` / `train.*` fields replaced."""
    model = {k[6:]: v for k, v in changes.items() if k.startswith("model.")}
    train = {k[6:]: v for k, v in changes.items() if k.startswith("train.")}
    top = {k: v for k, v in changes.items() if "." not in k}
    return dataclasses.replace(
        config,
        model=dataclasses.replace(config.model, **model),
        train=dataclasses.replace(config.train, **train),
        **top,
    ).validate()


__all__ = [
    "BUCKET",
    "LOOKUP",
    "COMBINERS",
    "ID",
    "TAG",
    "DNNConfig",
    "FIXED_STEPS",
    "GRADIENTS",
    "DEFAULT_EMBEDDING_REGULARIZATION",
    "SMALL_LOG_EMBEDDING_REGULARIZATION",
    "SMALL_LOG_MAX_ROWS",
    "LOGISTIC_BASELINE_MAX_ROWS",
    "LINEAR_MODEL",
    "FeatureConfig",
    "FeatureGroup",
    "InputField",
    "ModelConfig",
    "RocketConfig",
    "TrainConfig",
    "for_train_rows",
    "row_count_choices",
    "RowCountChoices",
    "is_linear",
    "linear_config",
    "with_changes",
]
