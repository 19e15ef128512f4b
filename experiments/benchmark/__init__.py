"""In-domain generalization benchmark (Schott et al. 2022): supervised models, sweeps, the oracle
readout and representation-learning rows on the random / composition / interpolation /
extrapolation splits."""

# The registry `experiments/benchmark/main.py` dispatches on (`config.experiment`).
EXPERIMENTS = {
  "train": "experiments.benchmark.train:train_and_evaluate",
  "sweep": "experiments.benchmark.sweep:train_and_evaluate",
  "oracle": "experiments.benchmark.oracle:train_and_evaluate",
  "weak": "experiments.benchmark.weak:train_and_evaluate",
}
