"""Small I/O helpers: use the shared rvl_jax.core.io when present, else a local atomic fallback."""
from __future__ import annotations

import json
import os
import tempfile


def save_figure(fig, path):
  try:
    from rvl_jax.core import io as core_io
    if hasattr(core_io, 'save_figure'):
      return core_io.save_figure(fig, path)
  except ImportError:
    pass
  import matplotlib.pyplot as plt
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fd, tmp = tempfile.mkstemp(suffix='.png', dir=os.path.dirname(os.path.abspath(path)))
  os.close(fd)
  fig.savefig(tmp, dpi=100, bbox_inches='tight')
  os.replace(tmp, path)
  plt.close(fig)


def write_json(path, obj):
  try:
    from rvl_jax.core import io as core_io
    if hasattr(core_io, 'write_json'):
      return core_io.write_json(path, obj)
  except ImportError:
    pass
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fd, tmp = tempfile.mkstemp(suffix='.json', dir=os.path.dirname(os.path.abspath(path)))
  with os.fdopen(fd, 'w') as f:
    json.dump(obj, f, indent=2, default=float)
  os.replace(tmp, path)
