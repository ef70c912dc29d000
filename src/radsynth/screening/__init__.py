"""Post-generation screening: orientation (``orient``), implausible anatomy (``screen``) and the
review page where people confirm screening flags and adjudicate audit pairs (``review``)."""
