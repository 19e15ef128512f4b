"""The MNIST study: every arm fine-tuned from a common vanilla start point per seed, evaluated
on clean digits, MNIST-C, the ImageNet-C noises, eps* and adversarial accuracy
(``rvl_jax.noise.study``). Writes ``results.json`` (means/std over seeds, the checks),
``summary.md``, ``reports/`` and ``plots/``."""

from __future__ import annotations

import os
from typing import Any, Dict

from rvl_jax.core import experiment
from rvl_jax.core import io as rio
from rvl_jax.noise import reports, study


def settings_from_config(config) -> study.StudySettings:
  """The config's groups as ``study.StudySettings``."""
  return study.StudySettings(
    seeds=tuple(config.seeds),
    arms=tuple(config.get("arms", ())),
    data=study.DataSettings(**config.data),
    train=study.TrainSettings(**config.train),
    ant=study.AntSettings(**config.ant),
    eval=study.EvalSettings(**{**config.eval, "eps_star_arms": tuple(config.eval.eps_star_arms)}),
  )


def train_and_evaluate(config, workdir: str) -> Dict[str, Any]:
  settings = settings_from_config(config)
  results = study.run_arms(settings, workdir, settings.arms)
  agg = study.aggregate_study(results)
  reports.plot_study(results, agg, experiment.plots_dir(workdir))
  t = settings.train
  header = (
    f"seeds: {list(settings.seeds)}; model {t.model}; batch {t.batch_size}; "
    f"pretrain {t.pretrain_epochs} ep, fine-tune {t.finetune_epochs} ep"
  )
  with rio.atomic_write(os.path.join(workdir, "summary.md"), "w") as f:
    f.write(reports.study_markdown(results, agg, header))
  return agg
