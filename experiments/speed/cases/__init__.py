"""Every `:paper` config's jitted computations as :class:`rvl_jax.core.cost.Case` objects.

Each builder uses the system's own step builders and initialisation (not a copy), so the paper
scale check and the accelerator benchmark run what the experiments run.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from experiments.racecar import CONFIG_NAMES as RACECAR_CONFIGS
from experiments.speed.cases import abs as abs_cases
from experiments.speed.cases import noise, racecar, slowvae, study
from experiments.speed.cases.common import Case, load_config
from rvl_jax.core import validation

# (system, config module) of every config that accepts the 'paper' variant; a test checks that no
# config with a 'paper' variant is missing here.
PAPER_CONFIGS = (
  ("mnist_classifier", "default"),
  *(("racecar", n) for n in RACECAR_CONFIGS),
  ("abs", "abs"),
  ("abs", "robustness"),
  *(("slowvae", n) for n in ("slowvae", "betavae", "pmvae", "adagvae", "pcl", "nica")),
  *(("benchmark", n) for n in ("default", "oracle", "weak", "sweep")),
  ("noise", "mnist_study"),
  ("noise", "sigma_sweep"),
  ("noise", "imagenet"),
  ("study", "mnist_family"),
  ("study", "factor_family"),
)


BUILDERS = {
  "mnist_classifier": racecar.cases_mnist_classifier,
  "racecar": racecar.cases_racecar,
  "abs": abs_cases.cases_abs,
  "slowvae": slowvae.cases_slowvae,
  "benchmark": slowvae.cases_benchmark,
  "noise": noise.cases_noise,
  "study": study.cases_study,
}


def config_cases(system: str, name: str, variant: str = "paper") -> List[Case]:
  """The cases of one config (``variant`` 'paper', or a smaller one for the accelerator benchmark)."""
  validation.check_in_choices("system", system, sorted(BUILDERS))
  return BUILDERS[system](load_config(system, name, variant), f"{system}/{name}")


def all_cases(only: Optional[Sequence[str]] = None, variant: str = "paper") -> List[Case]:
  out = []
  for system, name in PAPER_CONFIGS:
    if only and f"{system}/{name}" not in only:
      continue
    out.extend(config_cases(system, name, variant))
  return out
