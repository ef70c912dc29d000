"""The blinded reader-study web app (clinical Turing test). Never imports torch."""
