"""The run report: one self-contained HTML page (inline CSS, base64 images) for a pipeline run."""
