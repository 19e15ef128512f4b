"""Noise training against common corruptions (Rusak et al. 2020): the MNIST study, the sigma
sweep and ImageNet fine-tuning."""

# The registry `experiments/noise/main.py` dispatches on (`config.experiment`).
EXPERIMENTS = {
  "mnist_study": "experiments.noise.mnist_study:train_and_evaluate",
  "sigma_sweep": "experiments.noise.sigma_sweep:train_and_evaluate",
  "imagenet": "experiments.noise.imagenet:train_and_evaluate",
}
