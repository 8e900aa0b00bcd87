"""Argo CD health checks (manifests/argocd/health) run in real Lua, shared by the fixture tests
(tests/unit/deploy) and the integration tests that apply them to what the real operator wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lupa import LuaRuntime

HEALTH = Path(__file__).resolve().parents[2] / "manifests" / "argocd" / "health" / "recording.mediaops.io"

#: Argo CD runs health scripts without the standard libraries unless useOpenLibs is set.
BASE_ONLY = """
function(script)
  local env = {ipairs = ipairs, pairs = pairs, tostring = tostring, tonumber = tonumber,
               type = type, next = next, error = error, pcall = pcall}
  local chunk, err = load("return function(obj) " .. script .. "\\nend", "health.lua", "t", env)
  if chunk == nil then error(err) end
  return chunk()
end
"""


def health(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Run `kind`'s health.lua on `obj` with only Lua's base functions; `{"status", "message"}`."""
    lua = LuaRuntime(unpack_returned_tuples=True)
    script = (HEALTH / kind / "health.lua").read_text()
    check = lua.eval(BASE_ONLY)(script)
    result = check(lua.table_from(obj, recursive=True))
    return {"status": result["status"], "message": result["message"]}


ACTIONS = Path(__file__).resolve().parents[2] / "manifests" / "argocd" / "actions" / "recording.mediaops.io"

#: Argo CD runs resource actions with the base functions plus its "safe" os module (os.date, os.time)
#: behind require("os") (argo-cd util/lua: SafeOsLoader).
ACTION_ENV = """
function(script)
  local safe_os = {date = os.date, time = os.time}
  local env = {ipairs = ipairs, pairs = pairs, tostring = tostring, tonumber = tonumber,
               type = type, next = next, error = error, pcall = pcall,
               require = function(name) if name == "os" then return safe_os end error("no module " .. name) end}
  local chunk, err = load("return function(obj) " .. script .. "\\nend", "action.lua", "t", env)
  if chunk == nil then error(err) end
  return chunk()
end
"""


def _to_python(value: Any) -> Any:
    if hasattr(value, "items"):
        items = dict(value.items())
        if items and all(isinstance(k, int) for k in items):
            return [_to_python(items[k]) for k in sorted(items)]
        return {k: _to_python(v) for k, v in items.items()}
    return value


def discover(kind: str, obj: dict[str, Any]) -> dict[str, bool]:
    """Run `kind`'s discovery.lua on `obj`: `{action: disabled}`."""
    lua = LuaRuntime(unpack_returned_tuples=True)
    script = (ACTIONS / kind / "actions" / "discovery.lua").read_text()
    result = lua.eval(ACTION_ENV)(script)(lua.table_from(obj, recursive=True))
    return {name: bool(entry["disabled"]) for name, entry in result.items()}


def run_action(kind: str, action: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Run `kind`'s `action`/action.lua on `obj` and return the object it produces."""
    lua = LuaRuntime(unpack_returned_tuples=True)
    script = (ACTIONS / kind / "actions" / action / "action.lua").read_text()
    result = lua.eval(ACTION_ENV)(script)(lua.table_from(obj, recursive=True))
    converted: dict[str, Any] = _to_python(result)
    return converted
