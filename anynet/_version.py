"""anynet's version, in one place (the package, checkpoints and the CLI read it here)."""

__version__ = "0.2.0"
