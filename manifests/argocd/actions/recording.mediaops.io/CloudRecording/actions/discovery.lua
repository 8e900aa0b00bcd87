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
local spec = obj.spec or {}
local state = spec.state or "Recording"
-- Pausing: RealtimeKit, or Agora web mode (onhold); the CRD refuses Paused otherwise.
local pausable = spec.provider == "realtimekit" or (spec.agora ~= nil and spec.agora.mode == "web")
actions["stop"] = {["disabled"] = deleting or state == "Stopped"}
actions["start"] = {["disabled"] = deleting or state ~= "Stopped"}
actions["pause"] = {["disabled"] = deleting or state ~= "Recording" or not pausable}
actions["resume"] = {["disabled"] = deleting or state ~= "Paused"}
actions["reconcile"] = {["disabled"] = deleting or not terminal(obj)}
return actions
