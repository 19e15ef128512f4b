"""experiments.slowvae.evaluate on a tiny fake run directory."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.slowvae import evaluate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SMALL = dict(
  scale=0.01,
  options={"dci": {"n_estimators": 3}, "modularity": {"explicitness": False}},
  num_plot_points=300,
)


def _fake_run(tmp_path):
  run = tmp_path / "run"
  run.mkdir()
  (run / "results.json").write_text(json.dumps({"train/loss": 1.25}))
  return run


def test_evaluate_run_writes_scores_plots_and_merges_results(tmp_path):
  sys.path.insert(0, str(HERE))
  try:
    import _disentanglement_fake_loader as fake
  finally:
    sys.path.remove(str(HERE))
  run = _fake_run(tmp_path)
  flat = evaluate.evaluate_run(str(run), loader=fake.load, key=0, **SMALL)
  results = json.loads((run / "results.json").read_text())
  assert results["train/loss"] == 1.25  # existing results are kept
  for name in ("mcc", "beta_vae", "factor_vae", "mig", "dci", "sap", "modularity"):
    assert f"disentanglement/{name}" in results
    assert results[f"disentanglement/{name}"] == flat[f"disentanglement/{name}"]
  assert results["disentanglement/mcc"] == pytest.approx(100.0, abs=1e-6)
  assert results["disentanglement/count_scale"] == 0.01
  for png in ("correlation_heatmap.png", "latent_scatter.png", "best_vs_second.png"):
    assert (run / "plots" / png).stat().st_size > 1000
  summary = json.loads((run / "disentanglement.json").read_text())
  assert summary["mcc_assignment"] == [0, 1, 2, 3, 4]
  assert (run / "disentanglement_matrices.npz").exists()


def test_missing_loader_function_gives_clear_error(tmp_path):
  with pytest.raises(RuntimeError, match=r"does not define 'no_such_loader'"):
    evaluate.resolve_loader("rvl_jax.disentanglement:no_such_loader")
  with pytest.raises(RuntimeError, match=r"cannot import"):
    evaluate.resolve_loader("rvl_jax.no_such_module:load")
  with pytest.raises(FileNotFoundError, match=r"argument 'workdir'"):
    evaluate.evaluate_run(str(tmp_path / "missing"))


def test_command_line(tmp_path):
  run = _fake_run(tmp_path)
  env = dict(
    os.environ,
    PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]),
    RVL_QUIET="1",
    JAX_PLATFORMS="cpu",
  )
  cmd = [
    sys.executable,
    "-m",
    "experiments.slowvae.evaluate",
    f"--workdir={run}",
    "--loader=_disentanglement_fake_loader:load",
    "--scale=0.01",
    "--dci_trees=3",
    "--metrics=mcc,mig,dci",
  ]
  proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "disentanglement/mcc: 100.00" in proc.stdout
  results = json.loads((run / "results.json").read_text())
  assert "disentanglement/dci" in results and "disentanglement/sap" not in results
