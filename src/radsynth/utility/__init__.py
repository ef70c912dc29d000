"""The downstream-utility benchmark: classifiers on real, synthetic and mixed data."""
