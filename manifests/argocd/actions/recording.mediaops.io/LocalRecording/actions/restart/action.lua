-- Replace the recorder Pod now (a stuck FFmpeg, a source that changed codec): any new value of this
-- annotation; the current Pod stops gracefully, its files are stored, the numbering continues.
local os = require("os")
if obj.metadata.annotations == nil then obj.metadata.annotations = {} end
obj.metadata.annotations["recording.mediaops.io/restart-requested-at"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
