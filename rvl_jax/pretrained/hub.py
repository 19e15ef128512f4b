"""Registry, cache and loader of the pretrained weights the papers start from.

    from rvl_jax import pretrained
    variables = pretrained.load('torchvision/resnet50', template=model_variables)
    variables = pretrained.load('abs/vae_class3', path='abs_vae_class3.npz')
    pretrained.load('torchvision/resnet50', download=True)   # fetches into the cache once

Nothing is downloaded unless ``download=True``. Files live in the cache directory
(``$RVL_WEIGHTS_DIR``, default ``~/.cache/rvl_jax``) as ``<cache>/<name>/<file name>``; a file the
user gives with ``path=`` is used in place. Every file is checked against the registry's SHA-256
(or, for torchvision, the digest prefix torchvision publishes in the file name) before it is read;
reading needs no PyTorch (:mod:`rvl_jax.pretrained.torch_zip`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from rvl_jax.abs.weights import sha256  # the file digest helper shared with the ABS loader
from rvl_jax.pretrained import converters, torch_zip

Converter = Callable[[Mapping[str, Any], Optional[Mapping[str, Any]]], Any]


@dataclasses.dataclass(frozen=True)
class Weights:
  """One named set of weights.

  sha256: full hex digest of the file at ``url`` ('' when none is published: then ``load`` needs
    ``sha256=`` from the caller or ``verify=False``).
  sha256_prefix: a published digest prefix (torchvision names its files ``<model>-<prefix>.pth``).
  mirrors: further accepted digests -> what they are (e.g. a NumPy conversion of the release).
  """

  name: str
  url: str
  license: str
  converter: Converter
  description: str
  sha256: str = ""
  sha256_prefix: str = ""
  mirrors: Mapping[str, str] = dataclasses.field(default_factory=dict)

  @property
  def filename(self) -> str:
    return self.url.rsplit("/", 1)[-1]


REGISTRY: Dict[str, Weights] = {}


def register(entry: Weights, overwrite: bool = False) -> Weights:
  """Adds a set of weights to :data:`REGISTRY` under ``entry.name``.

  Args:
    entry: the weights' name, URL, digests, license and converter.
    overwrite: replace an entry of the same name instead of refusing.

  Returns:
    ``entry``.

  Raises:
    ValueError: the name is already registered and ``overwrite`` is False.
  """
  if entry.name in REGISTRY and not overwrite:
    raise ValueError(f"argument 'entry': weights {entry.name!r} are already registered")
  REGISTRY[entry.name] = entry
  return entry


def get(name: str) -> Weights:
  """Looks a registered name up.

  Args:
    name: a registered name, e.g. ``'torchvision/resnet50'`` (see :func:`names`).

  Returns:
    The :class:`Weights` entry.

  Raises:
    ValueError: ``name`` is not registered; the message lists the registered names.
  """
  if name not in REGISTRY:
    raise ValueError(
      f"argument 'name': unknown weights {name!r}; expected one of {sorted(REGISTRY)}"
    )
  return REGISTRY[name]


def names():
  """The registered names.

  Returns:
    A sorted list of the names in :data:`REGISTRY` (``'abs/...'``, ``'bit/...'``,
    ``'torchvision/...'`` and any added with :func:`register`).
  """
  return sorted(REGISTRY)


def cache_dir() -> str:
  """Where downloaded weights are kept (not created here).

  Returns:
    ``$RVL_WEIGHTS_DIR`` when set and not empty, else ``~/.cache/rvl_jax``; read at every call.
  """
  return os.environ.get("RVL_WEIGHTS_DIR") or os.path.join(
    os.path.expanduser("~"), ".cache", "rvl_jax"
  )


def cache_path(name: str) -> str:
  """Where the file of ``name`` lies in the cache (whether or not it is there).

  Args:
    name: a registered name.

  Returns:
    ``<cache_dir()>/<name>/<file name of the entry's URL>`` (a ``/`` in the name makes a
    sub-directory).

  Raises:
    ValueError: ``name`` is not registered.
  """
  entry = get(name)
  return os.path.join(cache_dir(), *entry.name.split("/"), entry.filename)


def verify(entry: Weights, path: str, expected: Optional[str] = None) -> str:
  """Checks ``path`` against ``expected`` or the entry's digests; returns the file's SHA-256.

  Args:
    entry: the registry entry the file claims to be.
    path: the file.
    expected: a full hex digest to check instead of the entry's (case-insensitive). Without it
      the file passes when its digest equals the entry's ``sha256``, is one of its ``mirrors``,
      or starts with its ``sha256_prefix``.

  Returns:
    The file's SHA-256 as lower-case hex.

  Raises:
    ValueError: the digest does not match, or neither ``expected`` nor a published digest is
      there to check against (the message gives the file's digest).
  """
  got = sha256(path)
  if expected:
    ok, want = got == expected.lower(), expected
  elif entry.sha256 or entry.sha256_prefix or entry.mirrors:
    ok = (
      got == entry.sha256
      or got in entry.mirrors
      or bool(entry.sha256_prefix)
      and got.startswith(entry.sha256_prefix)
    )
    want = entry.sha256 or f"{entry.sha256_prefix}..."
    if entry.mirrors:
      want += f" (or a mirror: {', '.join(sorted(entry.mirrors))})"
  else:
    raise ValueError(
      f"argument 'sha256': no SHA-256 is published for {entry.name!r}; pass the "
      f"digest you trust (this file has {got}) or verify=False"
    )
  if not ok:
    raise ValueError(
      f"argument 'path': SHA-256 mismatch for {entry.name!r} in {path!r}: expected "
      f"{want}, got {got}"
    )
  return got


def _download(entry: Weights, dest: str, timeout: float) -> None:
  os.makedirs(os.path.dirname(dest), exist_ok=True)
  part = f"{dest}.part{os.getpid()}"
  try:
    with urllib.request.urlopen(entry.url, timeout=timeout) as r, open(part, "wb") as f:
      shutil.copyfileobj(r, f, 1 << 20)
  except (urllib.error.URLError, OSError, ValueError) as e:
    if os.path.exists(part):
      os.remove(part)
    raise ConnectionError(
      f"argument 'download': could not fetch {entry.name!r} from {entry.url} ({e}); without "
      f"network put the file at {dest!r} or pass path="
    ) from e
  try:
    verify(entry, part)
  except ValueError:
    os.remove(part)
    raise
  os.replace(part, dest)


def fetch(name: str, download: bool = False, timeout: float = 60.0) -> str:
  """The cached file of ``name`` (downloaded first when ``download`` and not cached).

  A download goes to a temporary file, is checked with :func:`verify` and only then renamed to
  its cache path; a file already in the cache is returned without a check (``load`` checks it).

  Args:
    name: a registered name.
    download: fetch the file from the entry's URL when it is not cached.
    timeout: seconds the download may wait for the server.

  Returns:
    The path of the cached file (see :func:`cache_path`).

  Raises:
    ValueError: ``name`` is not registered, or a downloaded file fails the digest check.
    FileNotFoundError: the file is not cached and ``download`` is False.
    ConnectionError: the download failed.
  """
  entry = get(name)
  dest = cache_path(name)
  if not os.path.exists(dest):
    if not download:
      raise FileNotFoundError(
        f"argument 'name': weights {name!r} are not in the cache ({dest!r} does not exist); "
        f"pass download=True to fetch them from {entry.url}, or path= a local copy"
      )
    _download(entry, dest, timeout)
  return dest


def load(
  name: str,
  path: Optional[str] = None,
  download: bool = False,
  *,
  template=None,
  sha256: Optional[str] = None,
  verify_hash: bool = True,
):
  """Reads, verifies and converts the weights ``name`` to a Flax variable tree.

  Args:
    name: a registered name (see :func:`names`).
    path: a local file to use instead of the cache (checked against the same digests).
    download: fetch into the cache from the entry's URL when it is not cached.
    template: the target model's variables, for converters that keep the model's own head or
      check shapes (torchvision ResNet, DenseNet, BiT).
    sha256: a digest to check instead of the registry's (required where none is published).
    verify_hash: False skips the check (a file you made yourself).

  Returns:
    What the entry's converter makes of the file's state dict: the Flax variables
    (``{'params': ..., 'batch_stats': ...}`` where the model has BatchNorm statistics).

  Raises:
    ValueError: ``name`` is not registered, or the file fails the digest check.
    FileNotFoundError: ``path`` is not a file, or (without ``path``) the weights are not cached
      and ``download`` is False.
    ConnectionError: a download failed.
  """
  entry = get(name)
  if path is None:
    path = fetch(name, download)
  elif not os.path.isfile(path):
    raise FileNotFoundError(f"argument 'path': no file at {path!r}")
  if verify_hash:
    verify(entry, path, sha256)
  return entry.converter(torch_zip.read_state_dict(path), template)


def resolve(spec: str, *, template, default_name: str, download: bool = False):
  """``spec`` is a registered name or a file path; a path is converted with the converter of
  ``default_name`` without a hash check (the user's own file). Returns the converted variables.

  Args:
    spec: a registered name (loaded with :func:`load`, digest checked) or the path of a weight
      file (e.g. a config's ``init_checkpoint``).
    template: the target model's variables, passed to the converter.
    default_name: the registered name whose converter reads a file given by path.
    download: with a registered name, fetch it when it is not cached.

  Returns:
    The converted Flax variables.

  Raises:
    FileNotFoundError: ``spec`` is neither a registered name nor an existing file (the message
      names ``init_checkpoint``), or a registered name is not cached and ``download`` is False.
    ValueError: a registered file fails the digest check, or ``default_name`` is not registered.
  """
  if spec in REGISTRY:
    return load(spec, download=download, template=template)
  if os.path.isfile(spec):
    return get(default_name).converter(torch_zip.read_state_dict(spec), template)
  raise FileNotFoundError(
    f"argument 'init_checkpoint': {spec!r} is neither a registered weight "
    f"name ({', '.join(names())}) nor an existing file"
  )


# ------------------------------------------------------------------------------------- registry

_ABS_REPO = "https://github.com/bethgelab/AnalysisBySynthesis/raw/master/exp"
_ABS_LICENSE = "Apache-2.0 (bethgelab/AnalysisBySynthesis)"
# SHA-256 of the NumPy mirrors of the release (same arrays and PyTorch layouts as the .net files).
_ABS_NPZ = {
  "vae_class0": "8d6da6f4eb88b1bf2d86de97c36b7d665f426be414733de0ef40a168dd58c913",
  "vae_class1": "1e55fe81b3e72f5f79f2be4e01d8b6bdfa9f4d70e94a2b2ed63fd63b4c545438",
  "vae_class2": "e6863573799ed5b2ecd00050b596ea9cd1a5ddc117ef5468e2b76c148f371151",
  "vae_class3": "0ab3841ec7e9e7d1070827c316173bd00d4b63aee673440bc7be286241c1cc2b",
  "vae_class4": "ed037430e991fe8f32eda27f951581ae627504c21454fe4c496538ac6d66c1c4",
  "vae_class5": "d23679934af2df798599c3e9ccc9371a70a165c8ad5f7e1435e4d60d4750ae8b",
  "vae_class6": "5904584912bb7cf2fcf0bb1cfd0c269dbcb9d54323988183810dc12b6dba4b6c",
  "vae_class7": "66879c29324dcac452a3e0dfdfca8ae61e869e84a420cfa945fed955f0312403",
  "vae_class8": "84f8d95a2e1ac1e8bf4b5f08255f426a7b49f93bbc8f5f07d2397ea28b4f847a",
  "vae_class9": "8198685eb7f75e4de547458d6c0530e929b914d8b5cb74b092bd94de1f509fd8",
  "vanilla_cnn": "766a63b053a85efa22d83b29bf534f820ca5a8ccef8c10d68efd105bc3259142",
  "binary_cnn": "32226ee5bfef2f236f5a9c347bb4dac7193d8d034dd225ccd55cd0849fc6416d",
  "transfer_cnn": "4d284ccc8dac46a5b136d330a6d51084a0dba6a1126dbda90b6b7e0e94da2345",
}


def _register_defaults() -> None:
  from rvl_jax.abs import weights as abs_weights  # pylint: disable=import-outside-toplevel

  for c in range(10):
    register(
      Weights(
        name=f"abs/vae_class{c}",
        url=f"{_ABS_REPO}/VAE_swarm_MSE/nets/ABS_{c}.net",
        sha256=abs_weights.RELEASED_SHA256[f"ABS_{c}.net"],
        mirrors={_ABS_NPZ[f"vae_class{c}"]: f"abs_vae_class{c}.npz"},
        license=_ABS_LICENSE,
        converter=converters.abs_vae,
        description=f"ABS (Schott et al. 2019): the released VAE of digit class {c} (latent 8)",
      )
    )
  for cnn, what in (
    ("vanilla_cnn", "vanilla CNN baseline"),
    ("binary_cnn", "CNN trained on binarized inputs"),
    ("transfer_cnn", "CNN with the VAE encoder architecture"),
  ):
    register(
      Weights(
        name=f"abs/{cnn}",
        url=f"{_ABS_REPO}/mnist_cnn/nets/{cnn}.net",
        sha256=abs_weights.RELEASED_SHA256[f"{cnn}.net"],
        mirrors={_ABS_NPZ[cnn]: f"{cnn}.npz"},
        license=_ABS_LICENSE,
        converter=converters.abs_cnn,
        description=f"ABS (Schott et al. 2019): released {what}",
      )
    )
  tv_license = (
    "BSD-3-Clause (torchvision); trained on ImageNet-1k, whose terms allow "
    "non-commercial research use"
  )
  # torchvision names its files '<model>-<first 8 hex digits of the SHA-256>.pth'.
  for model, prefix, converter, description in (
    (
      "resnet50",
      "0676ba61",
      converters.torchvision_resnet,
      "ResNet-50 IMAGENET1K_V1 (76.1 % top-1), the start point of the ImageNet noise "
      "training (Rusak et al. 2020, Sec. 4); BatchNorm statistics included",
    ),
    (
      "densenet121",
      "a639ec97",
      converters.torchvision_densenet,
      "DenseNet-121 IMAGENET1K_V1, the ImageNet-1k transfer model of the "
      "generalization benchmark (Schott et al. 2022, Sec. 4); head re-initialised",
    ),
  ):
    register(
      Weights(
        name=f"torchvision/{model}",
        url=f"https://download.pytorch.org/models/{model}-{prefix}.pth",
        sha256_prefix=prefix,
        license=tv_license,
        converter=converter,
        description=description,
      )
    )
  for bit, paper_name in (("R50x1", "RN50"), ("R101x3", "RN101")):
    register(
      Weights(
        name=f"bit/m-{bit.lower()}",
        url=f"https://storage.googleapis.com/bit_models/BiT-M-{bit}.npz",
        license="Apache-2.0 (google-research/big_transfer)",
        converter=converters.bit_resnet,
        description=f"BiT-M-{bit} (ImageNet-21k), the benchmark's {paper_name} transfer model; "
        "no digest is published, so load() needs sha256= or verify_hash=False",
      )
    )


_register_defaults()


def describe() -> Tuple[Dict[str, str], ...]:
  """Rows (name, url, sha256, license, description) of the registry, for docs and listings.

  Returns:
    One dict per registered entry, in registration order, with the keys ``name``, ``url``,
    ``sha256`` (the full digest, ``'<prefix>... (prefix)'`` or ``'(none)'``), ``license`` and
    ``description``.
  """
  return tuple(
    dict(
      name=e.name,
      url=e.url,
      sha256=e.sha256 or (f"{e.sha256_prefix}... (prefix)" if e.sha256_prefix else "(none)"),
      license=e.license,
      description=e.description,
    )
    for e in REGISTRY.values()
  )
