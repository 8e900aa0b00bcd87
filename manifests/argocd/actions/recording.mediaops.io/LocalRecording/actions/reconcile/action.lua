-- Retry a terminal failure now: any new value of this annotation (recording.mediaops.io docs,
-- "Recovery without a spec change"). os is Argo CD's safe subset (os.date / os.time).
local os = require("os")
if obj.metadata.annotations == nil then obj.metadata.annotations = {} end
obj.metadata.annotations["recording.mediaops.io/reconcile-requested-at"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
