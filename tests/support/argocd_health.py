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
