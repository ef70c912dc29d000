"""Image-set metrics: FID, KID, precision/recall, feature spaces, and the checkpoint sweep."""
