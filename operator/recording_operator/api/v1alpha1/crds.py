"""The CRD declarations (`CustomResource`) of the four kinds; `recording-operator crds` renders them."""

from __future__ import annotations

from recording_operator.api.crd_renderer import CustomResource, PrinterColumn
from recording_operator.api.v1alpha1.cloudrecording import CloudRecordingSpec, CloudRecordingStatus
from recording_operator.api.v1alpha1.cloudtranscoder import CloudTranscoderSpec, CloudTranscoderStatus
from recording_operator.api.v1alpha1.localrecording import LocalRecordingSpec, LocalRecordingStatus
from recording_operator.api.v1alpha1.recordedfile import RecordedFileSpec, RecordedFileStatus

READY = '.status.conditions[?(@.type=="Ready")].status'
SYNCED = '.status.conditions[?(@.type=="Synced")].status'
#: The Ready condition's reason: why the resource is (not) ready, in the default view.
REASON = '.status.conditions[?(@.type=="Ready")].reason'
#: The Synced condition's reason (`-o wide`): why the last reconcile failed.
SYNCED_REASON = '.status.conditions[?(@.type=="Synced")].reason'

CLOUD_RECORDING = CustomResource(
    kind="CloudRecording",
    plural="cloudrecordings",
    singular="cloudrecording",
    short_names=("crec",),
    categories=("recordings", "mediaops"),
    spec_model=CloudRecordingSpec,
    status_model=CloudRecordingStatus,
    description="A provider-side recording session (Agora Cloud Recording) declared as a Kubernetes resource.",
    printer_columns=(
        PrinterColumn("Provider", "string", ".spec.provider", "Recording service."),
        PrinterColumn("Phase", "string", ".status.phase", "Lifecycle phase."),
        PrinterColumn("SID", "string", ".status.sid", "Provider session ID.", priority=1),
        PrinterColumn("Files", "integer", ".status.files.count", "Files reported by the provider."),
        PrinterColumn("Ready", "string", READY),
        PrinterColumn("Synced", "string", SYNCED),
        PrinterColumn("Reason", "string", REASON, "Why the resource is (not) ready."),
        PrinterColumn("Synced-Reason", "string", SYNCED_REASON, "Why the last reconcile failed.", priority=1),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)

CLOUD_TRANSCODER = CustomResource(
    kind="CloudTranscoder",
    plural="cloudtranscoders",
    singular="cloudtranscoder",
    short_names=("ctrans",),
    categories=("mediaops",),
    spec_model=CloudTranscoderSpec,
    status_model=CloudTranscoderStatus,
    description="An Agora Cloud Transcoder task (mixes RTC/CDN inputs into one output) declared as a "
    "Kubernetes resource.",
    printer_columns=(
        PrinterColumn("Phase", "string", ".status.phase", "Agora task status, or Pending/Creating/Exited."),
        PrinterColumn("TaskID", "string", ".status.taskId", "Agora task ID.", priority=1),
        PrinterColumn("Seq", "integer", ".status.sequenceId", "Last update sequenceId.", priority=1),
        PrinterColumn("Ready", "string", READY),
        PrinterColumn("Synced", "string", SYNCED),
        PrinterColumn("Reason", "string", REASON, "Why the resource is (not) ready."),
        PrinterColumn("Synced-Reason", "string", SYNCED_REASON, "Why the last reconcile failed.", priority=1),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)

LOCAL_RECORDING = CustomResource(
    kind="LocalRecording",
    plural="localrecordings",
    singular="localrecording",
    short_names=("lrec",),
    categories=("recordings", "mediaops"),
    spec_model=LocalRecordingSpec,
    status_model=LocalRecordingStatus,
    description="A recorder Pod (FFmpeg + agent) capturing a live input into files, declared as a resource.",
    printer_columns=(
        PrinterColumn("Input", "string", ".spec.input.url", "Pull URL."),
        PrinterColumn("Listen", "string", ".spec.input.listen.protocol", "Push protocol.", priority=1),
        PrinterColumn("Format", "string", ".spec.output.format", "Output container."),
        PrinterColumn("Phase", "string", ".status.phase", "Lifecycle phase."),
        PrinterColumn("Bitrate", "number", ".status.stats.bitrateKbps", "Output kbit/s."),
        PrinterColumn("Files", "integer", ".status.files.count", "Files closed."),
        PrinterColumn("Ready", "string", READY),
        PrinterColumn("Reason", "string", REASON, "Why the resource is (not) ready."),
        PrinterColumn("Synced", "string", SYNCED, priority=1),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)

RECORDED_FILE = CustomResource(
    kind="RecordedFile",
    plural="recordedfiles",
    singular="recordedfile",
    short_names=("rfile",),
    categories=("recordings", "mediaops"),
    spec_model=RecordedFileSpec,
    status_model=RecordedFileStatus,
    description="One stored artifact of a recording; deleting it deletes the stored file (deletionPolicy Delete).",
    printer_columns=(
        PrinterColumn("Recording", "string", ".spec.recordingRef.name", "The recording that produced it."),
        PrinterColumn("Format", "string", ".spec.format"),
        PrinterColumn("Size", "string", ".status.size", "Size, e.g. 1.5 GiB."),
        PrinterColumn("Duration", "integer", ".status.durationSeconds", "Seconds."),
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Key", "string", ".spec.location.key", "Object key.", priority=1),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)

#: Every kind the operator serves; `recording-operator crds` renders one CRD per entry.
RESOURCES: list[CustomResource] = [CLOUD_RECORDING, CLOUD_TRANSCODER, LOCAL_RECORDING, RECORDED_FILE]
