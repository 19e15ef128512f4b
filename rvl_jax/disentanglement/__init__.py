"""Disentanglement metrics (SlowVAE spec section 6): MCC, BetaVAE, FactorVAE, MIG, DCI, SAP,
Modularity and Explicitness, on arrays or on any representation function + ground-truth data set.

Array level (unit scale, [0, 1]): `mean_corr_coef`, `mig`, `dci`, `sap`, `modularity`,
`explicitness`. Representation level (x100 like the paper): `evaluate_all` and the `compute_*`
functions in `rvl_jax.disentanglement.metrics`.
"""

from rvl_jax.disentanglement.scores import correlation_matrix
from rvl_jax.disentanglement.scores import dci
from rvl_jax.disentanglement.scores import dci_from_importance
from rvl_jax.disentanglement.scores import discrete_entropy
from rvl_jax.disentanglement.scores import explicitness
from rvl_jax.disentanglement.scores import histogram_discretize
from rvl_jax.disentanglement.scores import mean_corr_coef
from rvl_jax.disentanglement.scores import mig
from rvl_jax.disentanglement.scores import modularity
from rvl_jax.disentanglement.scores import mutual_info_matrix
from rvl_jax.disentanglement.scores import sap

from rvl_jax.disentanglement.metrics import ALL_METRICS
from rvl_jax.disentanglement.metrics import DEFAULT_COUNTS
from rvl_jax.disentanglement.metrics import Representation
from rvl_jax.disentanglement.metrics import compute_beta_vae
from rvl_jax.disentanglement.metrics import compute_dci
from rvl_jax.disentanglement.metrics import compute_factor_vae
from rvl_jax.disentanglement.metrics import compute_mcc
from rvl_jax.disentanglement.metrics import compute_mig
from rvl_jax.disentanglement.metrics import compute_modularity
from rvl_jax.disentanglement.metrics import compute_sap
from rvl_jax.disentanglement.metrics import evaluate_all
from rvl_jax.disentanglement.metrics import scaled_counts
