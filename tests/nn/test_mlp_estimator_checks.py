"""scikit-learn's estimator checks on hepmva.nn.MLPClassifier."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from hepmva.nn import MLPClassifier

EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "mini-batch SGD: repeating an event changes the batches and the shuffling, so integer "
        "weights equal repetitions only for the cost and gradient (tested exactly in "
        "test_mlp_gradcheck.py::test_integer_weights_equal_repeated_events), not for the "
        "stochastic training trajectory"
    ),
}


@parametrize_with_checks(
    [MLPClassifier(hidden_layer_sizes=(16,), max_iter=100, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)
