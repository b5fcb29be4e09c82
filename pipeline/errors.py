"""The error that means "fix the command line or an input named on it" (exit 2)."""


class UsageError(ValueError):
    """A bad option, file or path, named in the message. The CLI exits with 2 for it,
    before any work; its subclasses live beside the code that detects them."""
