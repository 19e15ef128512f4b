"""In-domain generalization benchmark (Schott et al., ICLR 2022) in JAX/Flax.

Three-line evaluation (framework-agnostic; ``model_fn`` maps numpy images to factors)::

    from rvl_jax import benchmark as bench
    loader = bench.load_dataset('dsprites', 'extrapolation', mode='test')
    scores = bench.evaluate_model(model_fn, loader)      # scores['rsquared'], scores['rsquared_scale'], ...

Modules: datasets (factor metadata, grid index), splits (exact random / composition /
interpolation / extrapolation splits, D_one-ood), render (shapes3d-like renderer), io (split
files, full-grid files), data (load_dataset), evaluate (evaluate_model), metrics (R^2, MSE),
models (supervised architectures), train (the supervised trainer), readout (frozen-code MLP
readout, oracle), weak (representation-learning rows), analysis (Schott et al. 2022, Sec. 5), report
(tables, plots).
"""

from rvl_jax.benchmark import analysis, datasets, io, metrics, splits
from rvl_jax.benchmark.data import BenchmarkDataset, DataLoader, load_dataset, make_dataset
from rvl_jax.benchmark.datasets import SPEC, VARIANTS
from rvl_jax.benchmark.evaluate import evaluate_model, nchw_adapter
from rvl_jax.benchmark.splits import make_split, one_ood, ood_mask

__all__ = [
  "analysis",
  "datasets",
  "io",
  "metrics",
  "splits",
  "BenchmarkDataset",
  "DataLoader",
  "load_dataset",
  "make_dataset",
  "SPEC",
  "VARIANTS",
  "evaluate_model",
  "nchw_adapter",
  "make_split",
  "one_ood",
  "ood_mask",
]
