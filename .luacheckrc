-- REAPER scripts run in Lua 5.4 with the `reaper` API table as a global.
std = "lua54"
max_line_length = 120
files["bridge/daw_scripts/reaper"] = { read_globals = { "reaper", "gfx" } }
files["tests/daw_scripts/reaper"] = { globals = { "reaper" }, max_line_length = 150 }
