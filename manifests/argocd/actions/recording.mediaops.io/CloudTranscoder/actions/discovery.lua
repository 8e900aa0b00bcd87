local function terminal(obj)
  if obj.status == nil or obj.status.conditions == nil then return false end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Synced" and c.status == "False" and
       (c.reason == "InvalidSpec" or c.reason == "AuthFailed" or c.reason == "CreationResultUnknown") then
      return true
    end
  end
  return false
end
local actions = {}
local deleting = obj.metadata.deletionTimestamp ~= nil
actions["reconcile"] = {["disabled"] = deleting or not terminal(obj)}
-- A task runs at Agora (not while its create is pending) or has exited.
local restartable = {IDLE = true, PREPARED = true, STARTING = true, CREATED = true, STARTED = true,
                     IN_PROGRESS = true, STOPPING = true, Exited = true}
local phase = obj.status ~= nil and obj.status.phase or nil
actions["restart"] = {["disabled"] = deleting or phase == nil or not restartable[phase]}
return actions
