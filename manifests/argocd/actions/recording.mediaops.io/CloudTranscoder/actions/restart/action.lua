-- Replace the transcoder task now: any new value of this annotation deletes the running task and
-- creates a new one for the current spec (the CloudTranscoder records the value it handled).
local os = require("os")
if obj.metadata.annotations == nil then obj.metadata.annotations = {} end
obj.metadata.annotations["recording.mediaops.io/restart-requested-at"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
