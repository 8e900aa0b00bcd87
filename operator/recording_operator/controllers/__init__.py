"""kopf handlers, one module per kind; importing this package registers them all."""

from . import cloudrecording, runtime

__all__ = ["cloudrecording", "runtime"]
