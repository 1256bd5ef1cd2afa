class PassError(ValueError):
    """A recipe or pass that cannot be parsed, bound or applied."""


class RecipeError(PassError):
    """Malformed recipe text or bad pass arguments."""


class PassUnsupported(PassError):
    """The pass is valid but cannot run here (device, library, or an earlier pass); says why."""
