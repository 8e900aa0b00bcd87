"""kopf handlers, one module per kind; importing this package registers them all."""

from . import cloudrecording, cloudtranscoder, localrecording, recordedfile, retention, runtime

__all__ = ["cloudrecording", "cloudtranscoder", "localrecording", "recordedfile", "retention", "runtime"]
