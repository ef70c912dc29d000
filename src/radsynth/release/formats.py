"""The file formats a release writes: clean PNGs, WebDataset tar shards and DICOM Secondary
Capture.

- PNG: re-encoded from the pixels with Pillow and no ancillary chunks, so nothing but the image
  leaves (8 or 16 bits, as sampled).
- WebDataset (Aizman et al., "High performance I/O for large scale deep learning", 2019): plain
  POSIX tar files of ``shard-NNNNNN.tar``, each holding ``<id>.png`` and ``<id>.json`` per image,
  with fixed owners and times so the same images give the same bytes.
- DICOM Secondary Capture Image Storage (PS3.3 A.8.1), marked as derived and synthetic so that
  an image that reaches a PACS can never pass for a patient's: ImageType ``DERIVED\\SECONDARY``,
  ConversionType ``SYN`` (synthetic image, PS3.3 C.8.6.1), "SYNTHETIC" series and study
  descriptions, BurnedInAnnotation ``NO``, Patient Name and Patient ID present but empty (type 2
  in the Patient module), and new UIDs per image (derived from the image's hash, so a re-release
  of the same image gets the same UID and two images never share one).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from radsynth.errors import RadsynthError

#: mtime of every tar member (2000-01-01 UTC): fixed, so shards are reproducible byte for byte.
TAR_MTIME = 946684800


def encode_png(img: Image.Image) -> bytes:
    """A PNG file holding only the image (no text, EXIF or other ancillary chunks)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


class ShardWriter:
    """Writes WebDataset tar shards of ``shard_size`` samples each into a folder."""

    def __init__(self, folder: Path, shard_size: int) -> None:
        if shard_size < 1:
            raise RadsynthError(f"--shard-size must be at least 1, got {shard_size}")
        self.folder, self.shard_size = folder, shard_size
        self.paths: list[Path] = []
        self._tar: tarfile.TarFile | None = None
        self._count = 0

    def add(self, key: str, members: dict[str, bytes]) -> None:
        """Add one sample: ``members`` maps an extension (``png``, ``json``) to its bytes."""
        if self._tar is None or self._count == self.shard_size:
            self._next()
        assert self._tar is not None
        for ext, data in members.items():
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mtime, info.mode = len(data), TAR_MTIME, 0o644
            info.uname = info.gname = ""
            self._tar.addfile(info, io.BytesIO(data))
        self._count += 1

    def _next(self) -> None:
        self.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"shard-{len(self.paths):06d}.tar"
        self._tar = tarfile.open(path, "w", format=tarfile.USTAR_FORMAT)  # noqa: SIM115 (closed in close)
        self.paths.append(path)
        self._count = 0

    def close(self) -> None:
        """Finish the open shard."""
        if self._tar is not None:
            self._tar.close()
            self._tar = None


def sample_json(row: dict[str, Any]) -> bytes:
    """A sample's metadata for its shard (the metadata.csv row)."""
    return (json.dumps(row, sort_keys=True) + "\n").encode()


# ------------------------------------------------------------------------------------ DICOM

#: Every attribute a released DICOM file may hold: the Secondary Capture IOD's modules, nothing
#: taken from a patient. ``check_synthetic_tags`` refuses anything else.
SYNTHETIC_TAGS = frozenset(
    {
        "SpecificCharacterSet",
        "ImageType",
        "SOPClassUID",
        "SOPInstanceUID",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "Modality",
        "ConversionType",
        "ReferringPhysicianName",
        "StudyDescription",
        "SeriesDescription",
        "DerivationDescription",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "BurnedInAnnotation",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "StudyID",
        "SeriesNumber",
        "InstanceNumber",
        "PatientOrientation",
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "Rows",
        "Columns",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "PixelData",
        "ContentLabel",
    }
)
#: Type 2 attributes that identify a patient: present, and empty.
EMPTY_TAGS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDate",
    "StudyTime",
    "StudyID",
)


def uid(*parts: str) -> str:
    """A DICOM UID derived from ``parts`` (pydicom's prefix; sha512 of the parts)."""
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=list(parts)))


def dicom_dataset(
    pixels: np.ndarray,
    *,
    study_uid: str,
    series_uid: str,
    instance_uid: str,
    series_number: int,
    instance_number: int,
    description: str,
) -> Any:
    """A Secondary Capture dataset for one synthetic image.

    Args:
        pixels: (H, W) uint8 or uint16 grey pixels, as released.
        study_uid, series_uid, instance_uid: the UIDs (see :func:`uid`).
        series_number, instance_number: 1-based numbers within the study and series.
        description: what the series holds, e.g. "SYNTHETIC radsynth step-0068000".
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    bits = 16 if pixels.dtype == np.uint16 else 8
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, instance_uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.Modality, ds.ConversionType = "OT", "SYN"
    ds.StudyDescription = "SYNTHETIC radiographs (radsynth); not from a patient"
    ds.SeriesDescription = f"SYNTHETIC {description}"[:64]
    ds.DerivationDescription = "Synthetic image generated by a diffusion model; no patient data"
    ds.BurnedInAnnotation = "NO"
    for name in EMPTY_TAGS:
        setattr(ds, name, "")
    ds.SeriesNumber, ds.InstanceNumber = series_number, instance_number
    ds.PatientOrientation = ""
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    ds.PixelData = np.ascontiguousarray(pixels).astype(f"<u{bits // 8}").tobytes()
    return ds


def check_synthetic_tags(ds: Any) -> list[str]:
    """Problems with a dataset meant for release: attributes outside the synthetic set, or a
    patient attribute that holds a value. Empty when the dataset is clean."""
    problems = [f"tag {el.keyword or el.tag}" for el in ds if el.keyword not in SYNTHETIC_TAGS]
    problems += [f"{name} not empty" for name in EMPTY_TAGS if str(ds.get(name, "") or "")]
    return problems


def dicom_bytes(ds: Any) -> bytes:
    """The dataset as a DICOM Part 10 file (preamble, file meta, explicit VR little endian)."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def dicom_text(ds: Any) -> str:
    """Every string value in a dataset, for the sensitive-token scan."""
    return "\n".join(
        str(el.value)
        for el in ds
        if el.VR in {"LO", "SH", "LT", "ST", "CS", "PN", "UT", "UI", "DA", "TM"}
    )


class DicomSeries:
    """Numbers and UIDs for the DICOM copies of a release: one study, one series per
    checkpoint, instances numbered in release order."""

    def __init__(self, release_key: str, groups: list[str]) -> None:
        self.key, self.groups = release_key, sorted(groups)
        self.study_uid = uid(release_key, "study")
        self._counts = dict.fromkeys(self.groups, 0)

    def dataset(self, group: str, image_id: str, pixels: np.ndarray) -> Any:
        """The dataset of the next image of ``group``."""
        self._counts[group] += 1
        return dicom_dataset(
            pixels,
            study_uid=self.study_uid,
            series_uid=uid(self.key, "series", group),
            instance_uid=uid(self.key, "image", image_id),
            series_number=self.groups.index(group) + 1,
            instance_number=self._counts[group],
            description=f"radsynth {group}",
        )
