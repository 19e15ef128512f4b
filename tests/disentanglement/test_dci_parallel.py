"""DCI's stage-parallel reference estimator: the same model as scikit-learn's sequential loop."""

import concurrent.futures

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from rvl_jax import disentanglement as dis
from rvl_jax.disentanglement import scores


@pytest.fixture(scope="module")
def tied_codes():
  """Codes whose columns come in identical pairs, so every split ties between two features and
  the splitter's random feature order (its seed) decides which one takes the importance."""
  rng = np.random.default_rng(0)
  y = np.stack([rng.integers(0, 5, 400), rng.integers(0, 3, 400)], axis=1)
  base = y + 0.3 * rng.standard_normal(y.shape)
  z = np.repeat(np.concatenate([base, rng.standard_normal((400, 1))], axis=1), 2, axis=1)
  return z, y


def test_stage_parallel_gbt_is_the_stock_model(tied_codes):
  z, y = tied_codes
  stock = GradientBoostingClassifier(n_estimators=6, random_state=11).fit(z, y[:, 0])
  with concurrent.futures.ThreadPoolExecutor(3) as pool:
    model = scores._stage_parallel_gbt_class()(n_estimators=6, random_state=11)
    model.tree_pool_ = pool
    model.fit(z, y[:, 0])
  assert model.estimators_.shape == (6, 5)
  for ours, ref in zip(model.estimators_.ravel(), stock.estimators_.ravel()):
    np.testing.assert_array_equal(ours.tree_.feature, ref.tree_.feature)
    np.testing.assert_array_equal(ours.tree_.threshold, ref.tree_.threshold)
    np.testing.assert_array_equal(ours.tree_.value, ref.tree_.value)
  np.testing.assert_array_equal(model.predict_proba(z), stock.predict_proba(z))
  # The tie-breaking is seed dependent: another seed splits on the other copies.
  other = GradientBoostingClassifier(n_estimators=6, random_state=12).fit(z, y[:, 0])
  assert not np.array_equal(other.feature_importances_, stock.feature_importances_)


def test_dci_scores_do_not_depend_on_n_jobs_with_tied_features(tied_codes):
  z, y = tied_codes
  runs = [
    dis.dci(z[:300], y[:300], z[300:], y[300:], n_estimators=5, key=4, n_jobs=n) for n in (1, 2, 4)
  ]
  for r in runs[1:]:
    np.testing.assert_array_equal(r["importance"], runs[0]["importance"])
    np.testing.assert_array_equal(
      r["accuracy_train_per_factor"], runs[0]["accuracy_train_per_factor"]
    )
    assert r["score"] == runs[0]["score"] and r["completeness"] == runs[0]["completeness"]
