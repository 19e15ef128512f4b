"""ABS experiments (Schott et al. 2019): training from scratch and the robustness evaluation."""

# The registry `experiments/abs/main.py` dispatches on (`config.experiment`).
EXPERIMENTS = {
  "train": "experiments.abs.train:train_and_evaluate",
  "robustness": "experiments.abs.robustness:train_and_evaluate",
}
