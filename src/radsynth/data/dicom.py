"""Reading DICOM radiographs as float arrays in [0, 1] with the display pipeline applied.

The DICOM grey-scale display pipeline (PS3.4 N.2.1; PS3.3 C.11) is: stored values -> Modality
LUT (rescale slope/intercept) -> VOI LUT or window -> Presentation LUT. MONOCHROME1 means that
the minimum value is displayed white, so it is inverted here to the usual "bone bright" look.
Compressed transfer syntaxes are decoded by whichever pydicom decoder plugin is installed
(pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg, gdcm); a missing decoder is a rejection, not
a crash. The pixel data keeps its full precision (float64 -> float32) until the final resample.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radsynth.errors import RadsynthError

#: File endings that are tried as DICOM; files without an ending are tried too.
DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")

#: Modalities (PS3.3 C.7.3.1.1.1) whose images are projection radiographs: computed and digital
#: radiography, mammography, radiographic imaging, intra-oral and panoramic X-ray, fluoroscopy,
#: angiography.
PROJECTION_MODALITIES = ("CR", "DX", "MG", "RG", "IO", "PX", "RF", "XA", "DF", "DS")


@dataclass(frozen=True)
class DicomImage:
    """One decoded DICOM frame and the facts the manifest records (no identifying tags)."""

    pixels: np.ndarray  # float32 (H, W) in [0, 1], displayed polarity (bone bright if positive)
    bit_depth: int  # BitsStored of the source
    monochrome1: bool  # the source was MONOCHROME1 and has been inverted
    voi: str  # "lut", "window" or "none": which VOI transform was applied
    modality: str  # e.g. "CR", "DX"; empty when absent


def is_dicom_file(path: Path) -> bool:
    """True when the file carries the DICOM preamble magic ``DICM`` at byte 128."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def check_modality(modality: str, allow: tuple[str, ...] = ()) -> None:
    """Refuse a DICOM that is not a projection radiograph, unless ``allow`` names its modality.

    Args:
        modality: the Modality tag (empty when absent; ``allow`` names that ``none``).
        allow: extra modalities to accept, case-insensitive (e.g. ``("OT",)``).

    Raises:
        RadsynthError: one line naming the modality, which becomes the rejected.csv reason.
    """
    name = modality.strip().upper() or "NONE"
    if name in PROJECTION_MODALITIES or name in {a.strip().upper() for a in allow}:
        return
    what = "no Modality tag" if name == "NONE" else f"modality {name}"
    raise RadsynthError(
        f"{what}: not a projection radiograph (accept it with --allow-modality {name.lower()})"
    )


def _voi_output_range(ds, applied: str, values: np.ndarray) -> tuple[float, float]:
    """The value range the VOI step maps into, so that [0, 1] keeps the window's meaning."""
    if applied == "lut":
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        return 0.0, float(2**bits - 1)
    if applied == "window":
        bits = int(ds.BitsStored)
        if int(ds.get("PixelRepresentation", 0)) == 1:
            return float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
        return 0.0, float(2**bits - 1)
    return float(values.min()), float(values.max())


def read_dicom(path: Path) -> DicomImage:
    """Decode a single-frame grey-scale DICOM image with its display pipeline applied.

    Args:
        path: a DICOM file (Part 10, with or without preamble).

    Returns:
        The decoded frame as float32 (H, W) in [0, 1].

    Raises:
        RadsynthError: for unreadable files, missing pixel data, colour or multi-frame images,
            or a compressed transfer syntax with no installed decoder (one line each).
    """
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as exc:  # pydicom raises many types for damaged files
        raise RadsynthError(f"not a readable DICOM file: {exc}".splitlines()[0]) from None
    if "PixelData" not in ds:
        raise RadsynthError("DICOM file has no pixel data")
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise RadsynthError(f"unsupported photometric interpretation {photometric or 'none'}")
    if int(ds.get("NumberOfFrames", 1) or 1) != 1:
        raise RadsynthError("multi-frame DICOM is not a single radiograph")
    try:
        stored = ds.pixel_array
    except Exception as exc:  # missing decoder plugin, truncated data, bad header
        raise RadsynthError(f"cannot decode DICOM pixels: {exc}".splitlines()[0]) from None
    if stored.ndim != 2:
        raise RadsynthError(f"unexpected DICOM pixel shape {stored.shape}")
    values = apply_modality_lut(stored, ds)
    applied = "none"
    if "VOILUTSequence" in ds:
        applied = "lut"
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        applied = "window"
    if applied != "none":
        values = apply_voi_lut(values, ds, index=0)
    lo, hi = _voi_output_range(ds, applied, values)
    if hi <= lo:
        raise RadsynthError("DICOM image is blank (constant pixel values)")
    unit = np.clip((np.asarray(values, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    mono1 = photometric == "MONOCHROME1"
    if mono1:
        unit = 1.0 - unit
    return DicomImage(
        pixels=unit.astype(np.float32),
        bit_depth=int(ds.get("BitsStored", stored.dtype.itemsize * 8)),
        monochrome1=mono1,
        voi=applied,
        modality=str(ds.get("Modality", "")),
    )
