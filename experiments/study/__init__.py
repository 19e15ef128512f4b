"""The cross-scenario study: every model of the five systems against every out-of-distribution
scenario (``rvl_jax.study``)."""

# The registry `experiments/study/main.py` dispatches on (`config.experiment`).
EXPERIMENTS = {
  "mnist_family": "experiments.study.study:mnist_family",
  "factor_family": "experiments.study.study:factor_family",
}
