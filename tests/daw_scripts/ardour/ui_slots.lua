-- ardour7-lua tests/daw_scripts/ardour/ui_slots.lua SLOTS.json OUT
-- What Ardour's Script Manager stores for its action slots, for the test to start Ardour with the
-- actions already assigned (a producer does that once, by hand). SLOTS.json: [{"slot": 1,
-- "script": PATH, "args": {...}}, ...]. OUT gets the Lua chunk Ardour keeps base64-encoded in
-- <UIScripts><ActionScript> of $XDG_CONFIG_HOME/ardour7/ui_scripts (the test wraps it).
--
-- The format is gtk2_ardour/luainstance.cc (7.3): LuaInstance::set_lua_action keeps the script's
-- text, the bytecode of its `factory` and `icon` and the arguments (with "x-script-origin", the path
-- the script came from); the ScriptManager's `save` serialises them with the `serialize` below (a
-- copy of its own), and `restore` loads them back. ardour7-lua is the same Lua 5.3 as the GUI's,
-- so the bytecode loads there.
local slots_path, out = arg[1], arg[2]
assert(slots_path and out, "usage: ui_slots.lua SLOTS.json OUT")
local json = assert(loadfile("bridge/daw_scripts/lua/json.lua"))()

local function basic_serialize(o)
  if type(o) == "number" then return tostring(o) end
  return string.format("%q", o)
end

local function serialize(name, value)
  local rv = name .. " = "
  if type(value) == "number" or type(value) == "string" or type(value) == "nil" then
    return rv .. basic_serialize(value) .. " "
  elseif type(value) == "table" then
    rv = rv .. "{} "
    for k, v in pairs(value) do
      rv = rv .. serialize(string.format("%s[%s]", name, basic_serialize(k)), v) .. " "
    end
    return rv
  elseif type(value) == "function" then
    return rv .. string.format("%q", string.dump(value, true))
  elseif type(value) == "boolean" then
    return rv .. tostring(value)
  end
  error("cannot save a " .. type(value))
end

local scripts = {}
local handle = assert(io.open(slots_path, "rb"))
local slots = json.decode(handle:read("a"))
handle:close()
for _, slot in ipairs(slots) do
  handle = assert(io.open(slot.script, "rb"))
  local source = handle:read("a")
  handle:close()
  -- as LuaScripting::get_factory_bytecode: run the script with a no-op `ardour`, take its functions
  local meta
  local env = setmetatable({ ardour = function(t) meta = t end }, { __index = _G })
  assert(load(source, "=" .. slot.script, "t", env))()
  assert(meta and meta.type == "EditorAction", slot.script .. " is not an EditorAction")
  assert(type(env.factory) == "function", slot.script .. " has no factory")
  local args = { ["x-script-origin"] = slot.script }
  for k, v in pairs(slot.args or {}) do args[k] = v end
  scripts[slot.slot] = { n = meta.name, s = source, f = env.factory, a = args, c = env.icon or true }
  print(string.format("slot %d: %s", slot.slot, meta.name))
end
handle = assert(io.open(out, "wb"))
handle:write(serialize("scripts", scripts))
handle:close()
