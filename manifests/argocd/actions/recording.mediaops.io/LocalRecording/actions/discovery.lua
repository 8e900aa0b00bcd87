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
local active = obj.spec == nil or obj.spec.active ~= false
actions["stop"] = {["disabled"] = deleting or not active}
actions["start"] = {["disabled"] = deleting or active}
actions["reconcile"] = {["disabled"] = deleting or not terminal(obj)}
-- A recorder Pod runs: Recording, or Reconnecting to a lost input.
local phase = obj.status ~= nil and obj.status.phase or nil
actions["restart"] = {["disabled"] = deleting or not active or (phase ~= "Recording" and phase ~= "Reconnecting")}
return actions
