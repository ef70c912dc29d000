"""Data: reading radiographs (raster and DICOM), polarity, resampling, splits, phantoms."""
