class ModelError(ValueError):
    """A model name, weights source or path that cannot be turned into a pipeline."""
