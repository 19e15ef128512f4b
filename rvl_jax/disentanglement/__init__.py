"""Disentanglement metrics (Locatello et al. 2019; MCC as in Klindt et al. 2021, App. C): MCC,
BetaVAE, FactorVAE, MIG, DCI, SAP, Modularity and Explicitness, on arrays or on any representation function + ground-truth data set.

Array level (unit scale, [0, 1]): `mean_corr_coef`, `mig`, `dci`, `sap`, `modularity`,
`explicitness`. Representation level (x100 like the paper): `evaluate_all` and the `compute_*`
functions in `rvl_jax.disentanglement.metrics`.
"""

from rvl_jax.disentanglement.metrics import (
  ALL_METRICS,
  DEFAULT_COUNTS,
  Representation,
  compute_beta_vae,
  compute_dci,
  compute_factor_vae,
  compute_mcc,
  compute_mig,
  compute_modularity,
  compute_sap,
  evaluate_all,
  scaled_counts,
)
from rvl_jax.disentanglement.scores import (
  correlation_matrix,
  dci,
  dci_from_importance,
  discrete_entropy,
  explicitness,
  histogram_discretize,
  mean_corr_coef,
  mig,
  modularity,
  mutual_info_matrix,
  sap,
)
