"""torch-fidelity 0.4.0 as the reference implementation of FID and KID, without torchvision.

torch-fidelity imports torchvision at import time, and torchvision has no CPU build here. For
tests only, a minimal stand-in goes into ``sys.modules`` while torch-fidelity is imported and
used: the dataset base classes it subclasses, ``transforms.Compose`` and
``transforms.functional.pil_to_tensor`` (all that its folder input, Inception extractor and
FID/KID code touch). It is removed again afterwards.

Its extractor gets the same weights as radsynth, offline: the fid-helper TorchScript's tensors
are re-keyed into ``FeatureExtractorInceptionV3`` names by position (both list the 94
convolutions in graph order; shapes are checked), with batch-norm scale 1 and a zero final
classifier, which FID and KID do not use.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from radsynth.metrics.inception import fid_helper_file


def _standin_torchvision() -> dict[str, types.ModuleType]:
    tv = types.ModuleType("torchvision")
    datasets = types.ModuleType("torchvision.datasets")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")

    class _Unavailable:  # CIFAR10/100 and STL10 are subclassed at import time, never used here
        def __init__(self, *args, **kwargs):
            raise RuntimeError("torchvision datasets are not available in this stand-in")

    for name in ("CIFAR10", "CIFAR100", "STL10"):
        setattr(datasets, name, type(name, (_Unavailable,), {}))

    def pil_to_tensor(img):  # PIL (H, W, C) uint8 -> (C, H, W) uint8 tensor
        arr = np.asarray(img)
        arr = arr[:, :, None] if arr.ndim == 2 else arr
        return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()

    class Compose:
        def __init__(self, steps):
            self.steps = list(steps)

        def __call__(self, x):
            for step in self.steps:
                x = step(x)
            return x

    functional.pil_to_tensor = pil_to_tensor
    transforms.Compose = Compose
    transforms.functional = functional
    tv.datasets, tv.transforms, tv.__version__ = datasets, transforms, "0.0-standin"
    return {
        "torchvision": tv,
        "torchvision.datasets": datasets,
        "torchvision.transforms": transforms,
        "torchvision.transforms.functional": functional,
    }


@contextlib.contextmanager
def torch_fidelity_imported() -> Iterator[types.ModuleType]:
    """Import torch_fidelity (with the stand-in if torchvision is missing); undo on exit."""
    before = set(sys.modules)
    standin = {} if importlib.util.find_spec("torchvision") else _standin_torchvision()
    sys.modules.update(standin)
    try:
        yield importlib.import_module("torch_fidelity")
    finally:
        for name in set(sys.modules) - before:
            if name.startswith(("torch_fidelity", "torchvision")):
                del sys.modules[name]


def rekeyed_weights(tf_module: types.ModuleType, dest: Path) -> Path:
    """Save the fid-helper TorchScript's weights as a torch-fidelity state dict at ``dest``."""
    cls = tf_module.feature_extractor_inceptionv3.FeatureExtractorInceptionV3
    names: dict[str, torch.Tensor] = {}
    # Build the architecture without weights to learn its state-dict names, in order.
    orig_load, orig_url = (
        cls.load_state_dict,
        tf_module.feature_extractor_inceptionv3.load_state_dict_from_url,
    )
    cls.load_state_dict = lambda self, sd: names.update(torch.nn.Module.state_dict(self))
    tf_module.feature_extractor_inceptionv3.load_state_dict_from_url = lambda *a, **k: {}
    try:
        cls("inception-v3-compat", ["2048"])
    finally:
        cls.load_state_dict = orig_load
        tf_module.feature_extractor_inceptionv3.load_state_dict_from_url = orig_url

    ts = torch.jit.load(os.fspath(fid_helper_file()), map_location="cpu").state_dict()
    ts_convs = [k[: -len(".weight")] for k in ts if k.endswith(".weight")]
    tf_convs = [k[: -len(".conv.weight")] for k in names if k.endswith(".conv.weight")]
    assert len(ts_convs) == len(tf_convs) == 94
    state = {}
    for ts_name, tf_name in zip(ts_convs, tf_convs, strict=True):
        weight = ts[f"{ts_name}.weight"]
        assert weight.shape == names[f"{tf_name}.conv.weight"].shape, (ts_name, tf_name)
        state[f"{tf_name}.conv.weight"] = weight
        state[f"{tf_name}.bn.weight"] = torch.ones_like(ts[f"{ts_name}.beta"])
        state[f"{tf_name}.bn.bias"] = ts[f"{ts_name}.beta"]
        state[f"{tf_name}.bn.running_mean"] = ts[f"{ts_name}.mean"]
        state[f"{tf_name}.bn.running_var"] = ts[f"{ts_name}.var"]
        state[f"{tf_name}.bn.num_batches_tracked"] = torch.tensor(0)
    state["fc.weight"] = torch.zeros_like(names["fc.weight"])
    state["fc.bias"] = torch.zeros_like(names["fc.bias"])
    assert set(state) == set(names)
    torch.save(state, dest)
    return dest


def reference_metrics(real: Path, fake: Path, weights: Path, kid_subset_size: int) -> dict:
    """torch-fidelity's FID and KID between two flat image folders (fake = its input1)."""
    with torch_fidelity_imported() as tf:
        rekeyed_weights(tf, weights)
        return tf.calculate_metrics(
            input1=str(fake), input2=str(real), cuda=False, fid=True, kid=True,
            kid_subset_size=kid_subset_size, feature_extractor_weights_path=str(weights),
            cache=False, save_cpu_ram=True, verbose=False, batch_size=64,
        )  # fmt: skip


if __name__ == "__main__":
    # Run as a script so the test can call it single-threaded in a child process: multi-threaded
    # BLAS spins on a shared CPU, and torch-fidelity's 2048x2048 eigvals dominates otherwise.
    parser = argparse.ArgumentParser()
    for name in ("real", "fake", "weights"):
        parser.add_argument(name, type=Path)
    parser.add_argument("kid_subset_size", type=int)
    args = parser.parse_args()
    out = reference_metrics(args.real, args.fake, args.weights, args.kid_subset_size)
    print(json.dumps(out))
