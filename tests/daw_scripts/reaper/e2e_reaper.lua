-- Runs real REAPER action scripts on the fake REAPER host and prints what became of the project.
--   lua5.4 tests/daw_scripts/reaper/e2e_reaper.lua SCENARIO.json      (from the repository root)
-- The scenario (JSON, written by tests/daw_scripts/reaper/test_reaper.py) says which installed scripts to
-- run, on which OS, with which tracks, items, tempo map, ExtState and dialog answers. Output: one
-- JSON object (tracks with their MIDI notes in project seconds, messages, console, every
-- ExecProcess call, undo points, files left behind, …). Every process the scripts started is
-- ended before the output is written, whatever happened.
package.path = "tests/daw_scripts/reaper/?.lua;" .. package.path
local fake = require("fake_reaper")
-- This runner's own JSON codec: loaded apart from the scripts under test (which load theirs).
local codec = dofile("bridge/daw_scripts/lua/json.lua")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

local scenario = codec.decode(read(arg[1]))
local ACTIONS = {
  convert = "Pop2Piano - Convert selected items to piano.lua",
  choose = "Pop2Piano - Convert selected items to piano (choose composer).lua",
  preview = "Pop2Piano - Preview selected item live.lua",
  stop = "Pop2Piano - Stop live preview.lua",
  audition = "Pop2Piano - Audition composer styles.lua",
}
local actions = scenario.actions or { scenario.action or "convert" }
local function script_of(action) return scenario.scripts .. "/" .. ACTIONS[action] end

local answers = scenario.user_inputs
reaper = fake.new({
  os = scenario.os,
  path = scenario.path,
  windows_programs = scenario.windows_programs,
  tempo = scenario.tempo,
  tempo_markers = scenario.tempo_markers,
  project_path = scenario.project_path,
  resource_path = scenario.resource_path,
  script_path = script_of(actions[1]),
  pid_file = scenario.pid_file,
  user_inputs = type(answers) == "table" and function()
    return table.remove(answers, 1)
  end or answers,
})
for key, value in pairs(scenario.extstate or {}) do reaper.SetExtState("Pop2Piano", key, value, true) end

-- {file=, length=} or {section={offs=, len=, reversed=}, parent=<source>}
local function source_of(spec)
  if spec.section then
    return reaper._section_source(source_of(spec.parent), spec.section.offs, spec.section.len, spec.section.reversed)
  end
  return reaper._file_source(spec.file, spec.length)
end

for _, t in ipairs(scenario.tracks or {}) do
  local track = reaper._add_track(t.name)
  for _, it in ipairs(t.items or {}) do
    it.source = it.source and source_of(it.source) or nil
    reaper._add_audio_item(track, it)
  end
end

local step, pause = scenario.clock_step or 0, scenario.sleep or 0.05
-- The producer deletes the audition's MIDI item or track once it holds `takes` takes:
-- scenario.delete_at = {takes = N, what = "item" | "track"}.
local delete_at = scenario.delete_at
local function producer_edits()
  if not delete_at or delete_at.done then return end
  for _, track in ipairs(reaper._project.tracks) do
    for _, item in ipairs(track.items) do
      if track.name:find("audition", 1, true) and #item.takes >= delete_at.takes then
        delete_at.done = true
        if delete_at.what == "track" then reaper._delete_track(track) else reaper._delete_item(item) end
        return
      end
    end
  end
end
local ok, err = pcall(function()
  for _, action in ipairs(actions) do
    -- each action sees itself as the running script (get_action_context)
    local script = script_of(action)
    reaper.get_action_context = function() return false, script, 0, 0, -1, -1, -1 end
    dofile(script)
  end
  reaper._run_deferred(scenario.max_seconds or 120, function()
    if step > 0 then reaper._advance(step) end
    producer_edits()
    os.execute(string.format("sleep %.3f", pause))
  end)
end)
reaper._kill_processes()

local p = reaper._project
local result = { error = not ok and tostring(err) or codec.null, tracks = {}, messages = p.messages,
  console = table.concat(p.console), undo = p.undo, edits_outside_undo = p.edits_outside_undo,
  unknown_keys = p.unknown_keys, exec = {}, dialogs = p.dialogs or 0, last_dialog = p.last_dialog or codec.null,
  blocking_ms = p.blocking_ms, ui_refresh = p.ui_refresh or 0, undo_depth = p.undo_depth, extstate = {},
  data_files = {} }
for i, track in ipairs(p.tracks) do
  local t = { index = i, name = track.name, items = {} }
  for _, item in ipairs(track.items) do
    -- every take (name, MIDI notes in project seconds), and the active take's as the item's own
    local takes = {}
    for k, take in ipairs(item.takes) do
      local tk = { name = take.name, midi = take.midi, notes = {}, sorted = take.sorted }
      if take.midi then
        for _, n in ipairs(take.notes) do
          tk.notes[#tk.notes + 1] = { pitch = n.pitch, vel = n.vel, t0 = reaper._ppq_to_time(take, n.p0),
            t1 = reaper._ppq_to_time(take, n.p1), p0 = n.p0, p1 = n.p1 }
        end
      end
      codec.array(tk.notes)
      takes[k] = tk
    end
    local active = reaper.GetActiveTake(item)
    local index = 0
    for k, take in ipairs(item.takes) do if take == active then index = k end end
    local shown = takes[index] or { name = "", midi = false, notes = codec.array({}) }
    t.items[#t.items + 1] = { position = item.position, length = item.length, midi = shown.midi, name = shown.name,
      notes = shown.notes, sorted = shown.sorted, takes = codec.array(takes), active = index }
  end
  result.tracks[#result.tracks + 1] = t
end
for _, e in ipairs(p.exec) do
  result.exec[#result.exec + 1] = { cmd = e.cmd, timeout = e.timeout, blocking = e.blocking, ran = e.ran,
    argv = e.argv or codec.null, run_argv = e.run_argv or codec.null, window = e.window or codec.null,
    why = e.why or codec.null }
end
for key, e in pairs(p.extstate) do
  result.extstate[key:gsub("\0", "/")] = { value = e.value, persist = e.persist }
end
local data = (scenario.resource_path or "/tmp") .. "/Data/Pop2Piano"
local listing = io.popen("ls -A " .. fake.sh_quote(data) .. " 2>/dev/null")
for name in listing:lines() do result.data_files[#result.data_files + 1] = name end
listing:close()
for _, list in ipairs({ "messages", "undo", "edits_outside_undo", "unknown_keys", "tracks", "exec", "data_files" }) do
  codec.array(result[list])
end
for _, t in ipairs(result.tracks) do
  codec.array(t.items)
  for _, it in ipairs(t.items) do codec.array(it.notes) end -- (and each take's, above)
end
print(codec.encode(result))
