-- ardour7-lua tests/daw_scripts/ardour/read_session.lua DIR NAME OUT.json
-- Opens a saved session headless and writes its tracks, regions and notes (dump.lua) as JSON.
local dir, name, out = arg[1], arg[2], arg[3]
assert(dir and name and out, "usage: read_session.lua DIR NAME OUT.json")
local json = assert(loadfile("bridge/daw_scripts/lua/json.lua"))()
local dump = assert(loadfile("tests/daw_scripts/ardour/dump.lua"))()
assert(load_session(dir, name), "cannot load the session " .. dir)
local handle = assert(io.open(out, "wb"))
handle:write(json.encode(dump()))
handle:close()
close_session()
print("read " .. dir)
