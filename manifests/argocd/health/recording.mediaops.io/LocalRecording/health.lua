-- Argo CD health of a recording.mediaops.io/LocalRecording (Ready / Synced / observedGeneration).
-- Uses only Lua's base functions (no resource.customizations.useOpenLibs needed).
local hs = {status = "Progressing", message = "Waiting for the operator"}
if obj.status == nil then return hs end
local generation = obj.metadata and obj.metadata.generation
local observed = obj.status.observedGeneration
if observed ~= nil and generation ~= nil and observed < generation then
  hs.message = "The operator has not observed generation " .. generation .. " yet"
  return hs
end
local ready, synced, input
for _, c in ipairs(obj.status.conditions or {}) do
  if c.type == "Ready" then ready = c
  elseif c.type == "Synced" then synced = c
  elseif c.type == "InputHealthy" then input = c
  end
end
local function describe(c)
  if c.message ~= nil and c.message ~= "" then return (c.reason or "") .. ": " .. c.message end
  return c.reason or ""
end
if synced ~= nil and synced.status == "False" then
  return {status = "Degraded", message = describe(synced)}
end
if obj.status.phase == "Failed" then
  return {status = "Degraded", message = ready and describe(ready) or "The recorder failed"}
end
if input ~= nil and input.status == "False" then
  return {status = "Degraded", message = describe(input)}
end
if ready ~= nil and ready.status == "True" then
  return {status = "Healthy", message = describe(ready)}
end
if ready ~= nil then hs.message = describe(ready) end
return hs
