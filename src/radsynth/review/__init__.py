"""The review page: people confirm the screen's flags, adjudicate the audit's pairs and decide
the films ingest kept out of training (``radsynth review``)."""
