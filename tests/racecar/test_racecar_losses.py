"""Racecar chain, losses, SRIP/Frobenius and their exact identities (single-layer loss =
||(M^T M - I) d||^2 / 2, reverse pass = adjoint chain, lambda = 0 = Std)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rvl_jax.core import train_state
from rvl_jax.racecar import layers as L
from rvl_jax.racecar import losses, ops, ortho, training

jax.config.update("jax_default_matmul_precision", "highest")


def _init(model, x, rev=None):
  return model.init(jax.random.PRNGKey(0), x, train=False, reverse=rev)


def test_single_dense_layer_loss_equals_matrix_form():
  x = jax.random.normal(jax.random.PRNGKey(1), (4, 6))
  model = L.RacecarChain((L.dense_spec(3, activation=None),))
  v = _init(model, x, L.ReverseConfig())
  v = {"params": jax.tree_util.tree_map(lambda a: a, v["params"])}
  v["params"]["layer1"]["bias"] = jnp.array([0.3, -1.0, 2.0])  # the bias must cancel
  out = model.apply(v, x, reverse=L.ReverseConfig())
  loss, terms = losses.racecar_loss(out.ds, out.recons, 1.0)
  k = v["params"]["layer1"]["kernel"]
  expect = 0.5 * jnp.sum(jnp.square((k @ k.T - jnp.eye(6)) @ x.T))
  np.testing.assert_allclose(loss, expect, rtol=1e-5)
  assert len(terms) == 1


def test_full_equals_layerwise_for_one_layer_and_rr1_has_one_term():
  x = jax.random.normal(jax.random.PRNGKey(2), (3, 9, 9, 2))
  one = L.RacecarChain((L.conv_spec(4, 3, 2, norm="bn"),))
  v = _init(one, x, L.ReverseConfig())
  f = one.apply(v, x, train=True, reverse=L.ReverseConfig("full"), mutable=["batch_stats"])[0]
  lw = one.apply(v, x, train=True, reverse=L.ReverseConfig("layerwise"), mutable=["batch_stats"])[0]
  np.testing.assert_array_equal(f.recons[0], lw.recons[0])
  three = L.RacecarChain(
    (L.conv_spec(4, 3), L.conv_spec(5, 3, pool_before="max2"), L.dense_spec(3))
  )
  v3 = _init(three, x, L.ReverseConfig())
  o = three.apply(v3, x, reverse=L.ReverseConfig("rr1"))
  _, terms = losses.racecar_loss(o.ds, o.recons, 1.0, variant="rr1")
  assert len(terms) == 1
  assert losses.layer_lambdas(0.5, 3, "rr1") == (0.5, 0.0, 0.0)


def test_reverse_pass_matches_oracle_chain_and_shapes():
  """Full reverse pass of a no-BN chain equals the chain of vjp-oracle transposes, shapes exact."""
  x = jax.random.normal(jax.random.PRNGKey(3), (2, 11, 11, 1))
  specs = (
    L.conv_spec(3, 3, 2, activation="tanh"),
    L.conv_spec(4, 2, 1, "VALID", activation="relu", pool_before="max2"),
    L.dense_spec(5, activation="sigmoid"),
  )
  model = L.RacecarChain(specs)
  v = _init(model, x, L.ReverseConfig())
  out = model.apply(v, x, reverse=L.ReverseConfig(output_activation="relu"))
  assert [r.shape for r in out.recons] == [d.shape for d in out.ds[:-1]]
  p = v["params"]
  # oracle: build each layer's linear op and transpose it with jax.linear_transpose
  d2, d3 = out.ds[1], out.ds[2]
  lin3 = lambda h: ops.dense(ops.flatten(h), p["layer3"]["kernel"])
  t3 = jax.linear_transpose(lin3, d3)(out.ds[3] - p["layer3"]["bias"])[0]
  r3 = jax.nn.relu(t3)  # f_2, no pooling before layer 3
  np.testing.assert_allclose(out.recons[2], r3, rtol=1e-4, atol=1e-5)
  lin2 = lambda h: ops.conv(h, p["layer2"]["kernel"], padding="VALID")
  mp = ops.max_pool2(d2)
  t2 = jax.linear_transpose(lin2, mp)(r3 - p["layer2"]["bias"])[0]
  r2 = ops.upsample_nearest2(jnp.tanh(t2), d2.shape[1:3])  # f_1 then UP to the pre-pool size
  np.testing.assert_allclose(out.recons[1], r2, rtol=1e-4, atol=1e-5)
  lin1 = lambda h: ops.conv(h, p["layer1"]["kernel"], strides=2)
  r1 = jax.nn.relu(jax.linear_transpose(lin1, x)(r2 - p["layer1"]["bias"])[0])
  np.testing.assert_allclose(out.recons[0], r1, rtol=1e-4, atol=1e-5)


def test_shift_by_one_bn_and_running_stats_policy():
  x = jax.random.normal(jax.random.PRNGKey(4), (4, 8, 8, 1))
  model = L.RacecarChain(
    (L.conv_spec(3, 3, norm="bn"), L.conv_spec(2, 3, norm="bn", pool_before="max2"))
  )
  v = _init(model, x, L.ReverseConfig())
  _, st_default = model.apply(v, x, train=True, reverse=L.ReverseConfig(), mutable=["batch_stats"])
  _, st_fwd = model.apply(v, x, train=True, reverse=None, mutable=["batch_stats"])
  _, st_parity = model.apply(
    v,
    x,
    train=True,
    reverse=L.ReverseConfig(reverse_updates_bn_stats=True),
    mutable=["batch_stats"],
  )
  # default: the reverse call does not touch running statistics
  for a, b in zip(jax.tree_util.tree_leaves(st_default), jax.tree_util.tree_leaves(st_fwd)):
    np.testing.assert_array_equal(a, b)
  # parity: bn1 (used by the reverse of layer 2) is updated twice
  assert not np.allclose(
    st_parity["batch_stats"]["bn1"]["mean"], st_fwd["batch_stats"]["bn1"]["mean"]
  )
  np.testing.assert_array_equal(
    st_parity["batch_stats"]["bn2"]["mean"], st_fwd["batch_stats"]["bn2"]["mean"]
  )


def _setup():
  x = jax.random.normal(jax.random.PRNGKey(5), (8, 8, 8, 1))
  y = jax.nn.one_hot(jnp.arange(8) % 3, 3)
  model = L.RacecarChain(
    (L.conv_spec(3, 3, norm="bn"), L.conv_spec(4, 3, norm="bn", pool_before="max2")), head=(3,)
  )
  v = model.init(jax.random.PRNGKey(0), x, train=False, reverse=L.ReverseConfig())
  return model, v, x, y


def _train(method, lam, steps=4):
  model, v, x, y = _setup()
  reg = training.RegConfig(method=method, lam=lam, output_activation="relu")
  st = train_state.TrainState.create(
    apply_fn=model.apply,
    params=v["params"],
    tx=optax.adam(1e-2),
    rng=jax.random.PRNGKey(1),
    batch_stats=v["batch_stats"],
  )
  step = jax.jit(training.make_train_step(reg))
  for _ in range(steps):
    st, m = step(st, {"x": x, "y": y})
  return st, m


def test_lambda_zero_is_bit_identical_to_std():
  s_std, _ = _train("std", 0.0)
  s_rr, m = _train("rr", 0.0)
  for a, b in zip(jax.tree_util.tree_leaves(s_std.params), jax.tree_util.tree_leaves(s_rr.params)):
    np.testing.assert_array_equal(a, b)
  s_rr1, _ = _train("rr", 1e-2)
  assert not np.array_equal(s_rr1.params["layer1"]["kernel"], s_std.params["layer1"]["kernel"])


def test_reductions_and_group_weights():
  d = [jnp.ones((2, 3))]
  r = [jnp.zeros((2, 3))]
  assert float(losses.racecar_loss(d, r, 1.0, reduction="half_sum")[0]) == 3.0
  assert float(losses.racecar_loss(d, r, 1.0, reduction="sum")[0]) == 6.0
  assert float(losses.racecar_loss(d, r, 1.0, reduction="mean")[0]) == 1.0
  w = losses.group_weights(3, {(0, 1): 1.33, (2, 3): 1.0})
  np.testing.assert_allclose(w, [1.33, 0, 1.0])
  assert np.isclose(float(losses.racecar_loss(d, r, 1.0, "rr1", "sum", w)[0]), 2 * 2.33)
  with pytest.raises(ValueError, match="reduction"):
    losses.reduce_sq(d[0], "max")
  with pytest.raises(ValueError, match="'lam'"):
    losses.layer_lambdas((1.0, 2.0), 3)


def test_srip_and_frobenius():
  k = jax.random.normal(jax.random.PRNGKey(6), (20, 6))
  a = k.T @ k - jnp.eye(6)
  true = float(jnp.max(jnp.abs(jnp.linalg.eigvalsh(a))))
  est = ortho.srip(k, jax.random.PRNGKey(0), power_iters=50, squared=False)
  np.testing.assert_allclose(est, true, rtol=1e-3)
  np.testing.assert_allclose(
    ortho.srip(k, jax.random.PRNGKey(0), power_iters=50), true**2, rtol=2e-3
  )
  assert float(ortho.srip(k, jax.random.PRNGKey(0), 1, squared=False)) <= true * (1 + 1e-5)
  np.testing.assert_allclose(ortho.ortho_frobenius(k), jnp.sum(a**2), rtol=1e-5)
  q = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(7), (8, 8)))[0][:, :5]
  assert float(ortho.ortho_frobenius(q)) < 1e-8
  conv = jax.random.normal(jax.random.PRNGKey(8), (1, 1, 3, 7))  # cout > kh*kw*cin: smaller side
  assert ortho.gram_minus_identity(conv).shape == (3, 3)
  g = jax.grad(lambda kk: ortho.srip(kk, jax.random.PRNGKey(1)))(k)
  assert float(jnp.abs(g).sum()) > 0


@pytest.mark.parametrize("method", ["rr", "lrr", "rr1", "ort_frob"])
def test_train_step_penalty_matches_hand_computation(method):
  """loss - task loss of the first step (evaluated at the initial parameters) equals the penalty summed
  by hand: lambda * 1/2 sum (d'_m - d_m)^2 over the terms the variant uses, or beta * the squared
  Frobenius norms of K^T K - I (smaller side) over every kernel, the head's included."""
  model, v, x, _ = _setup()
  _, m = _train(method, 1e-2, steps=1)
  if method == "ort_frob":
    want = 0.0
    for k in jax.tree_util.tree_leaves(
      jax.tree_util.tree_map_with_path(
        lambda p, a: a if p[-1].key == "kernel" else None, v["params"]
      )
    ):
      w = np.asarray(k, np.float64).reshape(-1, k.shape[-1])
      w = w.T if w.shape[1] > w.shape[0] else w
      want += np.sum((w.T @ w - np.eye(w.shape[1])) ** 2)
    want *= 0.1
  else:
    variant = {"rr": "full", "lrr": "layerwise", "rr1": "rr1"}[method]
    out, _ = model.apply(
      v,
      x,
      train=True,
      reverse=L.ReverseConfig(variant, output_activation="relu"),
      mutable=["batch_stats"],
    )
    terms = [
      np.sum((np.asarray(r, np.float64) - np.asarray(d, np.float64)) ** 2) / 2
      for d, r in zip(out.ds, out.recons)
    ]
    want = 1e-2 * (terms[0] if method == "rr1" else sum(terms))
    if (
      method == "lrr"
    ):  # layer-wise: the last layer is reversed from d_3 in both variants, layer 1 is not
      full, _ = model.apply(
        v,
        x,
        train=True,
        reverse=L.ReverseConfig("full", output_activation="relu"),
        mutable=["batch_stats"],
      )
      assert not np.allclose(out.recons[0], full.recons[0], atol=1e-3)
  np.testing.assert_allclose(float(m["loss"] - m["task_loss"]), want, rtol=2e-4)


def test_ort_train_step_penalty_is_srip_of_the_initial_kernels():
  """The first Ort step's penalty is beta * sum over every kernel (head included) of SRIP^2 with the
  step's key, and one power iteration never exceeds the exact beta * sum ||K^T K - I||_2^2."""
  _, v, _, _ = _setup()
  _, m = _train("ort", 1e-3, steps=1)
  step_key = jax.random.split(jax.random.PRNGKey(1))[1]  # what state.next_rng hands out
  want = ortho.srip_penalty(v["params"], step_key, 0.1)
  np.testing.assert_allclose(float(m["ort_loss"]), float(want), rtol=1e-5)
  exact = 0.0
  for k in ortho.collect_kernels(v["params"]):
    a = np.asarray(ortho.gram_minus_identity(k), np.float64)
    exact += np.max(np.abs(np.linalg.eigvalsh(a))) ** 2
  assert 0.2 * 0.1 * exact < float(m["ort_loss"]) <= 0.1 * exact * (1 + 1e-4)
  np.testing.assert_allclose(float(m["loss"]), float(m["task_loss"] + m["ort_loss"]), rtol=1e-6)


def test_layer_spec_errors():
  with pytest.raises(ValueError, match="'kind'"):
    L.LayerSpec(kind="pool")
  with pytest.raises(ValueError, match="'activation'"):
    L.LayerSpec(activation="gelu2")
  with pytest.raises(ValueError, match="'variant'"):
    L.ReverseConfig("both")


def test_generator_chain_dense_reshape_deconv_up():
  """InfoGAN-style generator: dense -> reshape -> deconv (s2) -> up2 + conv; reverse recovers every shape."""
  z = jax.random.normal(jax.random.PRNGKey(9), (3, 12))
  g = L.RacecarChain(
    (
      L.dense_spec(4 * 4 * 6, norm="bn"),
      L.LayerSpec("deconv", 5, (4, 4), (2, 2), "SAME", reshape_before=(4, 4, 6), norm="bn"),
      L.LayerSpec("conv", 1, (3, 3), pool_before="up2", activation="sigmoid"),
    )
  )
  rev = L.ReverseConfig("rr1")
  v = g.init(jax.random.PRNGKey(0), z, reverse=rev)
  out, _ = g.apply(v, z, train=True, reverse=rev, mutable=["batch_stats"])
  assert out.out.shape == (3, 16, 16, 1)
  assert [r.shape for r in out.recons] == [d.shape for d in out.ds[:-1]]
  w = losses.group_weights(12, {(0, 6): 1.33, (6, 8): 1.0})  # dims 8..11 carry no weight
  loss, terms = losses.racecar_loss(out.ds, out.recons, 0.5, "rr1", "sum", w)
  want = 0.5 * np.sum(w * (np.asarray(out.recons[0], np.float64) - np.asarray(z, np.float64)) ** 2)
  assert len(terms) == 1
  np.testing.assert_allclose(float(loss), want, rtol=1e-5)


def _rr1_penalty_error(lam=0.3):
  """|RR1 penalty of one train step - the hand-built RR1 penalty| / the latter.

  Chain 6 -tanh-> 6 -relu-> 6 -sigmoid-> 6 (square kernels, distinct activations, biases). RR1 is
  the input term of the FULL reverse pass (Xie & Thuerey, Sec. 4), built here with numpy:
  d'_4 = d_4, d'_m = f_{m-1}((d'_{m+1} - b_m) K_m^T) with f_0 = identity, and the penalty is
  lam * 1/2 ||d'_1 - d_1||^2."""
  x = jax.random.normal(jax.random.PRNGKey(11), (5, 6))
  y = jax.nn.one_hot(jnp.arange(5) % 6, 6)
  acts = ("tanh", "relu", "sigmoid")
  model = L.RacecarChain(tuple(L.dense_spec(6, activation=a) for a in acts))
  v = model.init(jax.random.PRNGKey(0), x, reverse=L.ReverseConfig())
  p = jax.tree_util.tree_map(lambda a: a + 0.05, v["params"])  # non-zero biases
  st = train_state.TrainState.create(
    apply_fn=model.apply, params=p, tx=optax.sgd(0.0), rng=jax.random.PRNGKey(1)
  )
  _, m = training.make_train_step(training.RegConfig("rr1", lam=lam))(st, {"x": x, "y": y})
  got = float(m["loss"] - m["task_loss"])
  k = [np.asarray(p[f"layer{i}"]["kernel"], np.float64) for i in (1, 2, 3)]
  b = [np.asarray(p[f"layer{i}"]["bias"], np.float64) for i in (1, 2, 3)]
  f = {
    "tanh": np.tanh,
    "relu": lambda h: np.maximum(h, 0),
    "sigmoid": lambda h: 1 / (1 + np.exp(-h)),
  }
  d = [np.asarray(x, np.float64)]
  for i, a in enumerate(acts):
    d.append(f[a](d[-1] @ k[i] + b[i]))
  r = d[3]
  for i in (2, 1, 0):
    r = (r - b[i]) @ k[i].T
    r = f[acts[i - 1]](r) if i > 0 else r
  want = lam * 0.5 * np.sum((r - d[0]) ** 2)
  return abs(got - want) / want


def test_rr1_penalty_matches_hand_built_reverse_pass_and_catches_mutations(monkeypatch):
  """The RR1 penalty equals the numpy oracle; three deliberately wrong RR1 variants do not."""
  assert _rr1_penalty_error() < 1e-4
  mutations = {
    # wrong transpose: (z - b) K instead of (z - b) K^T
    "no_transpose": (ops, "dense_transpose", lambda z, kernel, bias=None: (z - bias) @ kernel),
    # RR1 as the first term of the LAYER-WISE pass (d'_1 from d_2, not through the whole chain)
    "layerwise": (training, "_VARIANT", {**training._VARIANT, "rr1": "layerwise"}),
    # wrong layer shift: the reverse of layer m applies f_m instead of f_{m-1} (the reverse pass
    # calls _post(m - 1, ..., update_stats=False); the forward pass keeps update_stats=True)
    "own_activation": (
      L.RacecarChain,
      "_post",
      lambda self, i, h, train, update_stats=True: ops.get_activation(
        self.layers[i + (not update_stats)].activation
      )(h),
    ),
  }
  for name, (obj, attr, wrong) in mutations.items():
    with monkeypatch.context() as mp:
      mp.setattr(obj, attr, wrong)
      assert _rr1_penalty_error() > 1e-2, name
