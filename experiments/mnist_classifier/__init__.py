"""MNIST classifier: the template every system's experiments follow (flax examples layout)."""

# The registry `experiments/mnist_classifier/main.py` dispatches on (`config.experiment`; the only
# entry runs when the config names none).
EXPERIMENTS = {"train": "experiments.mnist_classifier.train:train_and_evaluate"}
