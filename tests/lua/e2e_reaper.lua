-- End to end: the real REAPER action script, on the fake REAPER host, against a real bridge.
-- lua5.4 tests/lua/e2e_reaper.lua PORT AUDIO PROJECT_DIR "BRIDGE COMMAND" [ACTION]
-- Prints what ended up in the project: TRACK, ITEM, NOTE lines, MESSAGE lines, UNDO lines.
package.path = "tests/lua/?.lua;" .. package.path
local fake = require("fake_reaper")

local port, audio, project_dir, command, action = arg[1], arg[2], arg[3], arg[4], arg[5] or "convert"
local scripts = "bridge/daw_scripts/reaper/"
local files = {
  convert = "Pop2Piano - Convert selected items to piano.lua",
  choose = "Pop2Piano - Convert selected items to piano (choose composer).lua",
  preview = "Pop2Piano - Preview selected item live.lua",
  stop = "Pop2Piano - Stop live preview.lua",
}
local script = scripts .. files[action]

reaper = fake.new({ tempo = 97, project_path = project_dir, resource_path = project_dir .. "/resource",
  script_path = script, user_inputs = "5,file" })
reaper.SetExtState("Pop2Piano", "bridge_command", command, true)
reaper.SetExtState("Pop2Piano", "port", port, true)
local vocals = reaper._add_track("Vocals")
reaper._add_track("Bass")
-- A take that starts 1.5 s into the file, plays at 1.25x, placed at 10 s: 8 source seconds.
reaper._add_audio_item(vocals, { file = audio, source_length = 12.0, position = 10.0, length = 6.4,
  startoffs = 1.5, playrate = 1.25, name = "Take 1" })

dofile(script)
reaper._run_deferred(120, function() os.execute("sleep 0.05") end)

for i, track in ipairs(reaper._project.tracks) do
  print(string.format("TRACK\t%d\t%s", i, track.name))
  for _, item in ipairs(track.items) do
    local take = item.takes[1]
    if take.midi then
      print(string.format("ITEM\t%d\t%.9f\t%.9f", i, item.position, item.length))
      for _, n in ipairs(take.notes) do
        print(string.format("NOTE\t%d\t%.9f\t%.9f\t%d", n.pitch, reaper._ppq_to_time(take, n.p0),
          reaper._ppq_to_time(take, n.p1), n.vel))
      end
    end
  end
end
for _, m in ipairs(reaper._project.messages) do print("MESSAGE\t" .. m:gsub("\n", " ")) end
for _, u in ipairs(reaper._project.undo) do print("UNDO\t" .. u) end
for _, c in ipairs(reaper._project.console) do io.stderr:write(c) end
for _, e in ipairs(reaper._project.exec or {}) do io.stderr:write("EXEC " .. e.cmd .. "\n") end
