"""The served light model: the light net's logit blended with the linear baseline's.

The Trainer trains the pair and, beside it, a logistic regression over the same ids
(the linear baseline). Neither wins everywhere: on small or cross-poor logs the logistic
regression ranks better, where the clicks depend on crosses of ids the nets do, and on
both a blend of the two logits beat each of its parts (docs/benchmarks.md, "The served
light model: the light net blended with the linear baseline"). So the light SavedModel
serves w * light logit + (1 - w) * linear logit (a wide-and-deep model whose wide part
is trained apart): w = 0.5 unless the validation rows, which neither model was fit to,
clearly prefer another weight, and w = 0 when they show no sign that the light net ranks
at all (choose); w = 1 serves the light net alone. The booster's SavedModel
(measured beside the light, never pushed) is blended with the same w, so the teacher and
the student are compared in the form they would serve.

The validation rows must be new to both models. The light net only picked its kept step
on them; a linear baseline fit to its end on every train row (below
rocket_config.LOGISTIC_BASELINE_MAX_ROWS) has seen them, so its validation logits would
flatter it, and a logistic regression at the same C fit without them (scikit-learn's, on
the same one-hot ids: rocket_logistic) stands in for it there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import rocket_logistic
import rocket_model
import tensorflow as tf
import tf_keras as keras

if TYPE_CHECKING:  # rocket_data and rocket_metrics import Beam: the exports never need it
    import rocket_data

# The light net's weights tried, 0 (the linear baseline alone) to 1 (the light net alone).
LIGHT_WEIGHTS = tuple(round(w, 1) for w in np.linspace(0.0, 1.0, 11))
EVEN = 0.5  # the weight served unless the validation rows clearly prefer another
# The light net gets no weight unless its validation AUC is this many standard errors
# above chance (choose).
EVIDENCE_ERRORS = 2.0
CRITERION = (  # how the weight is chosen, as logs say it
    "validation AUC (0 when the light net's is within two standard errors of chance, else "
    "0.5 unless another weight beats it by more than the AUC's standard error)"
)


def margins(logits: tf.Tensor) -> np.ndarray:
    """The click logit of each row: logit_1 - logit_0 for 2 classes, the logit for 1."""
    logits = np.asarray(logits)
    return logits[:, 1] - logits[:, 0] if logits.shape[-1] == 2 else logits[:, 0]


def read_margins(
    dataset, nets: dict[str, tuple[rocket_model.RocketLaunchingModel, str]]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One pass over a finite (features, label) dataset: its labels and, for each name
    of `nets`, the click logits of that (model, net) on its rows, in order. Each model is
    called once a batch, however many of its nets are asked for."""
    labels, parts = [], {name: [] for name in nets}
    for features, label in dataset:
        labels.append(np.reshape(label.numpy(), [-1]))
        outputs = {}
        for name, (model, net) in nets.items():
            if id(model) not in outputs:
                outputs[id(model)] = model(features, training=False)
            parts[name].append(margins(outputs[id(model)][f"{net}_logits"]))
    return np.concatenate(labels), {name: np.concatenate(p) for name, p in parts.items()}


def auc(labels: np.ndarray, logits: np.ndarray) -> float:
    """The exact ROC AUC of click logits (scikit-learn's)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, logits))


@dataclass(frozen=True)
class Blend:
    """The light net's weight in the served logit and how it was chosen."""

    light_weight: float
    # The weight whose blend ranked the validation rows best, and how precisely those
    # rows know an AUC (one standard error, Hanley and McNeil).
    best_on_validation: float
    standard_error: float
    # The standard error of the light net's own validation AUC (weight 1), and whether
    # that AUC is EVIDENCE_ERRORS of them above chance.
    light_standard_error: float
    light_ranks: bool
    validation_rows: int
    # The validation AUC of each weight tried, in LIGHT_WEIGHTS' order; none when the
    # validation rows hold one class only (no AUC, and both errors NaN).
    validation_scores: tuple[float, ...]
    # Where the linear baseline's validation logits came from (see the module docstring).
    linear_logits: str

    def as_dict(self) -> dict:
        return {
            "light_weight": self.light_weight,
            "chosen_by": CRITERION,
            "best_on_validation": self.best_on_validation,
            "validation_auc_standard_error": _rounded(self.standard_error),
            "light_validation_auc_standard_error": _rounded(self.light_standard_error),
            "light_ranks": self.light_ranks,
            "validation_rows": self.validation_rows,
            "weights": list(LIGHT_WEIGHTS),
            "validation_scores": [round(v, 6) for v in self.validation_scores],
            "linear_logits": self.linear_logits,
        }


def _rounded(value: float) -> float | None:
    """6 digits, or None (JSON's null) for NaN."""
    return None if np.isnan(value) else round(value, 6)


def choose(light: np.ndarray, linear: np.ndarray, labels: np.ndarray, source: str) -> Blend:
    """EVEN, unless the weight of LIGHT_WEIGHTS whose blend ranks the validation rows best
    (AUC, what the gate and the bench compare) beats it there by more than one standard
    error of their AUC. A validation split of a few hundred clicks knows an AUC to
    ±0.01-0.07, the blends' differences are smaller, and a weight picked on such rows
    follows their noise (on the bench's 50,000 generated rows it chose the baseline alone
    where the nets ranked the eval rows 0.0055 better); with many clicks the evidence
    decides. On the bench's logs the validation log loss chose the baseline alone where
    a blend ranked better.

    But 0, the baseline alone, when the light net's own validation AUC is within
    EVIDENCE_ERRORS standard errors of chance. Its kept step was the best of many checks
    on these same rows, so that AUC flatters it, and one that close to 0.5 is no evidence
    that the net ranks at all: on the real sample's folds (~50 validation clicks) such
    nets ranked the eval rows at 0.46-0.52, and blending them in pulled the served model
    below the baseline (docs/benchmarks.md). On the bench's generated and deep_data rows
    the light net stood 8 to 44 standard errors above chance, so the rule never fires
    there. And 0 when the validation rows hold one class only (a small log's hold-out
    without a click): no AUC is defined, so nothing shows that the light net ranks."""
    import rocket_metrics

    clicks = int(np.sum(labels))
    others = len(labels) - clicks
    if clicks == 0 or others == 0:
        # No AUC is defined on one class (a small log's hold-out without a click): no
        # evidence that the light net ranks, so the baseline alone, as near chance.
        nan = float("nan")
        return Blend(0.0, 0.0, nan, nan, False, len(labels), (), source)
    scores = tuple(auc(labels, w * light + (1 - w) * linear) for w in LIGHT_WEIGHTS)
    best = max(range(len(scores)), key=lambda i: (round(scores[i], 9), i))
    even = LIGHT_WEIGHTS.index(EVEN)
    error = rocket_metrics.auc_standard_error(scores[even], clicks, others)
    light_error = rocket_metrics.auc_standard_error(scores[-1], clicks, others)
    light_ranks = scores[-1] - 0.5 > EVIDENCE_ERRORS * light_error
    if not light_ranks:
        chosen = LIGHT_WEIGHTS.index(0.0)
    else:
        chosen = best if scores[best] - scores[even] > error else even
    return Blend(LIGHT_WEIGHTS[chosen], LIGHT_WEIGHTS[best], error, light_error, light_ranks,
                 len(labels), scores, source)  # fmt: skip


def out_of_sample_linear_margins(
    splits: rocket_data.Splits,
    sizes: dict[str, int],
    weight_regularization: float,
    validation_fraction: float,
) -> np.ndarray:
    """The validation rows' click logits from scikit-learn's logistic regression with the
    baseline's L2 (`weight_regularization` s, i.e. C = 1 / (s x rows)), fit on the train
    rows without them: what the linear baseline fit on every train row would give rows
    it had not seen."""
    import rocket_data
    from sklearn.linear_model import LogisticRegression

    train = rocket_data.split_rows(splits.train_once(), validation_fraction, validation=False)
    train_x, train_y = rocket_logistic.one_hot_rows(train, sizes)
    validation_x, _ = rocket_logistic.one_hot_rows(splits.validation, sizes)
    c = 1.0 / (weight_regularization * len(train_y)) if weight_regularization > 0 else 1e4
    model = LogisticRegression(C=c, max_iter=rocket_logistic.OPTIONS["max_iter"])
    return model.fit(train_x, train_y).decision_function(validation_x)


def choose_for(
    pair: rocket_model.RocketLaunchingModel,
    linear: rocket_model.RocketLaunchingModel,
    splits: rocket_data.Splits,
    sizes: dict[str, int],
    validation_fraction: float,
    linear_training: dict,
) -> Blend:
    """The blend of the trained pair's light net and linear baseline, chosen on
    splits.validation. `linear_training` is the baseline's training record: fit on every
    train row (`every_train_row`), it has seen the validation rows (module docstring)."""
    linear_read_validation = bool(linear_training.get("every_train_row"))
    nets = {"light": (pair, rocket_model.served_net(pair.rocket))}
    if not linear_read_validation:
        nets["linear"] = (linear, rocket_model.LIGHT)
    labels, read = read_margins(splits.validation, nets)
    if linear_read_validation:
        linear_margins = out_of_sample_linear_margins(
            splits, sizes, linear.rocket.weight_regularization, validation_fraction
        )
        source = (
            "scikit-learn's logistic regression with the baseline's L2, fit on the train "
            "rows without the validation rows (the baseline trained on them)"
        )
    else:
        linear_margins = read["linear"]
        source = "the linear baseline (it did not train on the validation rows)"
    return choose(read["light"], linear_margins, labels, source)


def evaluate(
    pair: rocket_model.RocketLaunchingModel,
    linear: rocket_model.RocketLaunchingModel,
    light_weight: float,
    dataset,
) -> dict[str, float]:
    """The eval AUC of each of the pair's nets blended with the linear baseline at
    `light_weight` (`auc_light`, `auc_booster` when it has one), with 10,000 thresholds
    as the Evaluator's TFMA AUC; and the served light model's exact AUC lift over the
    linear baseline on the same rows with its paired standard error (DeLong:
    `auc_light_minus_linear`, `auc_light_minus_linear_standard_error`), the yardstick of
    the run's verdict."""
    import rocket_metrics

    nets = [n for n in (rocket_model.LIGHT, rocket_model.BOOSTER) if getattr(pair, f"{n}_tower")]
    labels, read = read_margins(
        dataset, {"linear": (linear, rocket_model.LIGHT), **{net: (pair, net) for net in nets}}
    )
    out = {}
    for net in nets:
        blended = light_weight * read[net] + (1 - light_weight) * read["linear"]
        auc = keras.metrics.AUC(num_thresholds=10000)
        auc.update_state(labels, tf.sigmoid(blended))
        out[f"auc_{net}"] = float(auc.result())
        if net == rocket_model.LIGHT:
            lift, error = rocket_metrics.paired_auc_difference(labels, blended, read["linear"])
            out["auc_light_minus_linear"] = round(lift, 6)
            out["auc_light_minus_linear_standard_error"] = round(error, 6)
    return out


def describe(light_weight: float) -> str:
    """What a light SavedModel of this blend serves, in words."""
    if light_weight >= 1.0:
        return "the light net alone"
    if light_weight <= 0.0:
        return "the linear baseline alone (the validation rows gave the light net no weight)"
    return (
        f"{light_weight:g} x the light net's logit + {1 - light_weight:g} x the linear baseline's"
    )


def no_ranking_warning(served: dict) -> str | None:
    """What to tell the user when the light net got no weight because its validation AUC
    was within EVIDENCE_ERRORS standard errors of chance (None otherwise), from a served
    record (Blend.as_dict)."""
    if served.get("light_ranks", True):
        return None
    if not served["validation_scores"]:
        rows = served["validation_rows"]
        return (f"the validation hold-out ({rows:,} rows) holds one class only, so no AUC "
                "shows that the light net ranks: the light SavedModel serves the linear "
                "baseline alone; bring more rows (or more clicks in the validation hold-out, "
                "train_config validation_fraction)")  # fmt: skip
    light = served["validation_scores"][-1]
    error = served["light_validation_auc_standard_error"]
    return (f"the light net's validation AUC {light:.4f} is within {EVIDENCE_ERRORS:g} "
            f"standard errors (±{error:.3f}) of chance, no evidence that it ranks: the light "
            "SavedModel serves the linear baseline alone; bring more rows (or more clicks "
            "in the validation hold-out, train_config validation_fraction)")  # fmt: skip


class BlendedPath(tf.Module):
    """Two NetPaths served as one: light_weight * the net's logits + (1 - light_weight) *
    the linear baseline's. It holds both paths' variables and nothing else."""

    def __init__(
        self,
        net: rocket_model.NetPath,
        linear: rocket_model.NetPath,
        light_weight: float,
        name: str | None = None,
    ):
        super().__init__(name=name or f"{net.name}_blended")
        if net.num_class != linear.num_class:
            raise ValueError(f"num_class {net.num_class} and {linear.num_class}: no blend")
        self.net = net
        self.linear = linear
        self.light_weight = float(light_weight)
        self.num_class = net.num_class
        self.input_columns = sorted(set(net.input_columns) | set(linear.input_columns))

    def logits(self, transformed: dict) -> tf.Tensor:
        w = self.light_weight
        return w * self.net.logits(transformed) + (1.0 - w) * self.linear.logits(transformed)

    def __call__(self, transformed: dict) -> tf.Tensor:
        return rocket_model.probabilities_from_logits(self.logits(transformed), self.num_class)

    def folded(self) -> BlendedPath:
        return BlendedPath(self.net.folded(), self.linear.folded(), self.light_weight, self.name)


def served_path(
    net: rocket_model.NetPath, linear: rocket_model.NetPath | None, light_weight: float | None
) -> rocket_model.NetPath | BlendedPath:
    """What a net's SavedModel serves: the net alone without a blend (or at weight 1),
    else the blend."""
    if linear is None or light_weight is None or light_weight >= 1.0:
        return net
    return BlendedPath(net, linear, light_weight)
