"""radsynth: synthetic medical radiographs, from ingest to a validated, audited dataset."""

__version__ = "0.1.0"
