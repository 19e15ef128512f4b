"""Per-model reports in the layout of the reference result files (spec 6.2): JSON + markdown."""
from __future__ import annotations

import os
from typing import Mapping, Optional

from rvl_jax.core import io as rio


def _fmt(v, nd=2):
  return '' if v is None else f'{v:.{nd}f}'


def model_report_markdown(name: str, summary: Mapping, title: Optional[str] = None) -> str:
  """Markdown table: clean top-1/top-5, per-corruption top-1/top-5/CE, full and w/o-noise means."""
  rows = summary.get('per_corruption', {})
  lines = [f'### {title or name}', '']
  head = '| clean top-1 | clean top-5 | corr. top-1 | corr. top-5 | mCE | w/o-noise top-1 | w/o-noise top-5 |'
  lines += [head, '|' + '---|' * 7]
  lines.append('| ' + ' | '.join(_fmt(summary.get(k)) for k in (
      'clean_top1', 'clean_top5', 'full_top1', 'full_top5', 'mCE', 'without_noise_top1',
      'without_noise_top5')) + ' |')
  lines += ['', '| corruption | top-1 | top-5 | CE |', '|---|---|---|---|']
  for c, r in rows.items():
    lines.append(f"| {c} | {_fmt(r.get('top1'))} | {_fmt(r.get('top5'))} | {_fmt(r.get('ce'))} |")
  return '\n'.join(lines) + '\n'


def write_model_report(directory: str, name: str, summary: Mapping, extra: Optional[Mapping] = None) -> str:
  """Writes ``<directory>/<name>.json`` and ``.md``; returns the markdown path."""
  os.makedirs(directory, exist_ok=True)
  payload = dict(summary)
  if extra:
    payload.update(extra)
  rio.write_json(os.path.join(directory, f'{name}.json'), payload)
  md = model_report_markdown(name, summary)
  path = os.path.join(directory, f'{name}.md')
  with rio.atomic_write(path, 'w') as f:
    f.write(md)
  return path
