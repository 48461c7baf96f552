-- REAPER scripts run in Lua 5.4 with the `reaper` API table as a global; Ardour's scripts in
-- Ardour's embedded Lua 5.3 with its bindings as globals (libs/ardour/luabindings.cc and
-- gtk2_ardour/luainstance.cc, 7.3). The shared core runs in both, so it is checked as 5.3.
std = "lua54"
max_line_length = 120
files["bridge/daw_scripts/lua"] = { std = "lua53" }
files["tests/daw_scripts/lua"] = { std = "lua53", max_line_length = 150 }
files["bridge/daw_scripts/reaper"] = { read_globals = { "reaper", "gfx" } }
files["tests/daw_scripts/reaper"] = { globals = { "reaper" }, max_line_length = 150 }
-- Ardour: `ardour`, `factory` and `icon` are what every script defines (the Script Manager reads
-- them); `pop2piano_state` is the scripts' one global (the action slots share one Lua state); the
-- rest are the bindings an EditorAction sees, and os.forkexec (gtk2_ardour/luainstance.cc).
stds.ardour_os = { read_globals = { os = { fields = { "forkexec" } } } }
local ardour_globals = { "ardour", "factory", "icon", "pop2piano_state" }
local ardour_read_globals = { "ARDOUR", "ArdourUI", "Session", "Editor", "LuaDialog", "Temporal", "Evoral",
  "Editing", "LuaSignal", "C", "Cairo", "PBD" }
files["bridge/daw_scripts/ardour"] = { std = "lua53+ardour_os", globals = ardour_globals, read_globals = ardour_read_globals }
-- The CI scripts also run in ardour7-lua (headless), which adds session functions.
local headless = { "create_session", "load_session", "close_session", "arg" }
for _, name in ipairs(ardour_read_globals) do headless[#headless + 1] = name end
files["tests/daw_scripts/ardour"] = { std = "lua53+ardour_os", globals = ardour_globals, max_line_length = 150,
  read_globals = headless }
