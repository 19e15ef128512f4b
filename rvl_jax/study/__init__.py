"""The cross-scenario study: every model of the five systems against every out-of-distribution
scenario, behind one model interface (``interface.StudyModel``), with a per-cell cache.

Modules: ``interface`` (StudyModel, Flax adapters), ``cache`` (per-cell JSON cache keyed by a
hash of the settings), ``runner`` (families, missing-cell computation), ``results`` (matrix,
markdown, heat map, rank correlations), ``affine`` (the systematic affine split), ``mnist_zoo`` /
``mnist_scenarios`` (the MNIST family), ``factor_zoo`` / ``factor_scenarios`` (the factor
family), ``families`` (the two families and ``run_study``).
"""

from rvl_jax.study.interface import StudyModel, from_flax, penultimate_fn  # noqa: F401
