"""kopf handlers, one package per kind; importing this package registers them all.

`_kit` holds what every kind shares (context, status draft, conditions, failure ladder,
instrumentation, runtime, Kubernetes access, backoff, clock); each kind's package has thin
`handlers.py` (kopf glue) over a pure `decide.py`.
"""

from recording_operator.controllers._kit import recovery, runtime
from recording_operator.controllers.cloudrecording import handlers as cloudrecording
from recording_operator.controllers.cloudtranscoder import handlers as cloudtranscoder
from recording_operator.controllers.localrecording import handlers as localrecording
from recording_operator.controllers.recordedfile import handlers as recordedfile
from recording_operator.controllers.recordedfile import retention

__all__ = [
    "cloudrecording",
    "cloudtranscoder",
    "localrecording",
    "recordedfile",
    "recovery",
    "retention",
    "runtime",
]
