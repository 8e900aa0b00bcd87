"""kopf handlers, one module per kind; importing this package registers them all."""

from . import cloudrecording, cloudtranscoder, runtime

__all__ = ["cloudrecording", "cloudtranscoder", "runtime"]
