"""SlowVAE (Klindt et al. 2021) and its baselines, and the metric oracle table."""

# The registry `experiments/slowvae/main.py` dispatches on (`config.experiment`).
EXPERIMENTS = {
  "train": "experiments.slowvae.train:train_and_evaluate",
  "oracle_table": "experiments.slowvae.oracle_table:train_and_evaluate",
}
