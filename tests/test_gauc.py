"""GAUC against a hand computation, through the TFMA combiner as the Evaluator runs it."""

import numpy as np
import pytest
import rocket_metrics
from tensorflow_model_analysis.metrics import metric_types

# user A: the click (0.9) beats one non-click (0.5) and loses to one (0.95): AUC 1/2, 3 rows
# user B: clicks 0.3, 0.3 beat 0.2 twice and tie with 0.3 twice: (2 + 2 * 0.5) / 4 = 3/4
# user C: only clicks, user D: only a non-click -> no AUC, skipped
USERS = [
    ([1, 0, 0], [0.9, 0.5, 0.95]),
    ([0, 1, 1, 0], [0.2, 0.3, 0.3, 0.3]),
    ([1, 1], [0.1, 0.7]),
    ([0], [0.4]),
]
EXPECTED = (0.5 * 3 + 0.75 * 4) / 7


def test_user_auc_by_hand():
    assert rocket_metrics.user_auc(*USERS[0]) == pytest.approx(0.5)
    assert rocket_metrics.user_auc(*USERS[1]) == pytest.approx(0.75)
    assert rocket_metrics.user_auc(*USERS[2]) is None
    assert rocket_metrics.user_auc(*USERS[3]) is None


def columns(groups, first_user=0):
    """(users, labels, predictions) of per-user groups, users numbered from first_user."""
    users = [first_user + i for i, (labels, _) in enumerate(groups) for _ in labels]
    labels = [label for labels, _ in groups for label in labels]
    predictions = [p for _, predictions in groups for p in predictions]
    return np.array(users), np.array(labels), np.array(predictions)


def test_gauc_weights_users_by_impressions_and_skips_one_class_users():
    assert rocket_metrics.gauc(*columns(USERS)) == pytest.approx(EXPECTED)
    assert np.isnan(rocket_metrics.gauc(*columns(USERS[2:])))
    # The order of the impressions does not matter.
    users, labels, predictions = columns(USERS)
    shuffled = np.random.default_rng(0).permutation(users.size)
    assert rocket_metrics.gauc(
        users[shuffled], labels[shuffled], predictions[shuffled]
    ) == pytest.approx(EXPECTED)


def test_vectorised_user_aucs_match_pairwise_counting_on_random_users():
    """Against the definition: the share of (click, non-click) pairs of one user that the
    click wins, ties one half; many users, few distinct predictions (many ties)."""
    rng = np.random.default_rng(7)
    users = rng.integers(0, 40, 2000)
    labels = rng.random(2000) < 0.3
    predictions = rng.integers(0, 6, 2000) / 5
    total = weight = 0.0
    for user in np.unique(users):
        mine = users == user
        clicks, others = predictions[mine & labels], predictions[mine & ~labels]
        if clicks.size and others.size:
            wins = (clicks[:, None] > others[None, :]).sum()
            ties = (clicks[:, None] == others[None, :]).sum()
            total += (wins + ties / 2) / (clicks.size * others.size) * mine.sum()
            weight += mine.sum()
    assert rocket_metrics.gauc(users, labels, predictions) == pytest.approx(total / weight)


def test_tfma_combiner_groups_by_user_and_gives_the_same_number():
    computations = rocket_metrics.GAUC(user_key="user_id").computations()
    (computation,) = computations
    combiner = computation.combiner
    # One input per impression, as TFMA feeds them; user A's impressions are split over
    # the two partial accumulators, which Beam then merges.
    impressions = [
        (f"user{index}".encode(), label, prediction)
        for index, (labels, predictions) in enumerate(USERS)
        for label, prediction in zip(labels, predictions)
    ]
    impressions.append((None, 1, 0.99))  # no user id: in no user's AUC
    accumulators = []
    for half in (impressions[:2], impressions[2:]):
        accumulator = combiner.create_accumulator()
        for user, label, prediction in half:
            element = metric_types.StandardMetricInputs(
                labels=np.array([label], dtype=float),
                predictions=np.array([prediction]),
                example_weights=np.array([1.0]),
                features={"user_id": np.array([] if user is None else [user], dtype=object)},
            )
            accumulator = combiner.add_input(accumulator, element)
        accumulators.append(accumulator)
    result = combiner.extract_output(combiner.merge_accumulators(accumulators))
    assert list(result.values()) == [pytest.approx(EXPECTED)]
    assert next(iter(result)).name == "gauc"
    # The user column reaches the combiner through TFMA's feature preprocessor.
    (preprocessor,) = computation.preprocessors
    assert "user_id" in str(preprocessor.include_filter)


def test_gauc_requires_the_user_column_and_groups_without_query_key():
    with pytest.raises(ValueError, match="user_key"):
        rocket_metrics.GAUC().computations()
    with pytest.raises(ValueError, match="no query_key"):
        rocket_metrics.GAUC(user_key="user_id").computations(query_key="user_id")


@pytest.mark.parametrize(
    ("metric", "name", "expected"),
    [("EvalPositives", "eval_positives", 6), ("EvalNegatives", "eval_negatives", 5)],
)
def test_class_counts_for_the_gate_count_each_label(metric, name, expected):
    """The gate's evidence: clicks and non-clicks of the eval split, as TFMA feeds them:
    TFMA's label/example totals (shared with MeanLabel) per input, then our derived count."""
    computations = getattr(rocket_metrics, metric)().computations()
    combined = [c for c in computations if isinstance(c, metric_types.MetricComputation)]
    derived = [c for c in computations if isinstance(c, metric_types.DerivedMetricComputation)]
    assert len(combined) == 1 and len(derived) == 1  # no combiner of our own per example
    (totals_key,) = combined[0].keys
    assert totals_key.name == "_weighted_labels_predictions_examples"  # MeanLabel's
    combiner = combined[0].combiner
    accumulators = []
    examples = USERS + [([1], [0.2])]  # 6 clicks, 5 non-clicks
    for half in (examples[:2], examples[2:]):
        accumulator = combiner.create_accumulator()
        for labels, predictions in half:
            for label, prediction in zip(labels, predictions):  # one example per input
                element = metric_types.StandardMetricInputs(
                    labels=np.array([label], dtype=float),
                    predictions=np.array([prediction]),
                    example_weights=np.array([3.0]),  # weights do not change a count
                )
                accumulator = combiner.add_input(accumulator, element)
        accumulators.append(accumulator)
    totals = combiner.extract_output(combiner.merge_accumulators(accumulators))
    result = derived[0].result(totals)
    assert list(result.values()) == [expected]
    assert next(iter(result)).name == name


def test_the_paired_auc_difference_is_delongs():
    """rocket_metrics.paired_auc_difference: the difference is scikit-learn's AUCs'
    (ties included), its standard error agrees with a bootstrap over rows, is far below
    a single AUC's when the two models share most of their signal, and is 0 for a model
    against itself."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    rows = 3000
    signal = rng.normal(size=rows)
    labels = (rng.random(rows) < 1 / (1 + np.exp(-(signal - 3)))).astype(int)
    first = np.round(signal + 0.5 * rng.normal(size=rows), 1)  # ties
    second = signal + 1.0 * rng.normal(size=rows)
    difference, error = rocket_metrics.paired_auc_difference(labels, first, second)
    expected = roc_auc_score(labels, first) - roc_auc_score(labels, second)
    assert difference == pytest.approx(expected, abs=1e-12)
    resampled = []
    for _ in range(300):
        rows_drawn = rng.integers(0, rows, rows)
        picked = labels[rows_drawn]
        resampled.append(roc_auc_score(picked, first[rows_drawn])
                         - roc_auc_score(picked, second[rows_drawn]))  # fmt: skip
    assert error == pytest.approx(np.std(resampled), rel=0.2)
    clicks = int(labels.sum())
    single = rocket_metrics.auc_standard_error(roc_auc_score(labels, first), clicks, rows - clicks)
    close = first + 0.05 * rng.normal(size=rows)
    assert rocket_metrics.paired_auc_difference(labels, first, close)[1] < single / 4
    assert rocket_metrics.paired_auc_difference(labels, first, first) == (0.0, 0.0)
    assert np.isnan(rocket_metrics.paired_auc_difference([1, 0, 0], [3, 2, 1], [1, 2, 3])[1])
