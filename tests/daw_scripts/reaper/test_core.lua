-- Unit tests of the REAPER scripts' own pure logic (launch.lua: command lines, diagnosis), of the
-- fake host's REAPER rules, and of the insertion through the (fake) API. The shared core's tests
-- are in tests/daw_scripts/lua/test_core.lua.
-- Run: lua5.4 tests/daw_scripts/reaper/test_core.lua   (from the repository root)
package.path = "bridge/daw_scripts/reaper/pop2piano/?.lua;bridge/daw_scripts/lua/?.lua;tests/daw_scripts/reaper/?.lua;"
  .. "tests/daw_scripts/lua/?.lua;"
  .. package.path
local launch = require("launch")
local fake = require("fake_reaper")

local harness = require("harness")
local test, eq, near, same_list = harness.test, harness.eq, harness.near, harness.same_list

-- Awkward argv elements: spaces, tabs, single quotes, backticks, $, !, %, ^, &, backslashes
-- (also trailing ones), non-ASCII.
local AWKWARD = { "/Users/Zoë O'Neil/My Music/song `1` $HOME!.wav", "C:\\Program Files\\Pop 2\\", "\\\\server\\share\\",
  "100% ^& |x| <y>", "tab\there", "a\\b\\\\c", "é", "--port", "9310", "'", "`", "\\" }

---------------------------------------------------------------------------------------------------
-- Command lines, checked against the fake's REAPER rules

test("macOS/Linux command line: REAPER's splitting gives back every element", function()
  local line = assert(launch.command_line(AWKWARD, false))
  same_list(assert(fake.lineparse(line)), AWKWARD)
end)

test("Windows command line: CommandLineToArgvW gives back every element", function()
  local argv = { "C:\\Users\\Zoë!\\venv\\Scripts\\pop2piano-bridgew.exe", table.unpack(AWKWARD) }
  local line = assert(launch.command_line(argv, true))
  same_list(fake.commandline_to_argv(line), argv)
  -- without doubling, a trailing backslash would escape the closing quote
  local naive = '"prog" "C:\\dir\\" "next"'
  same_list(fake.commandline_to_argv(naive), { "prog", 'C:\\dir" next' })
end)

test("a double quote or an empty element is refused with a message", function()
  local line, why = launch.command_line({ "/bin/p2p", 'say "hi"' }, false)
  eq(line, nil); assert(why:find('say "hi"', 1, true), why)
  eq(launch.command_line({ "/bin/p2p", "" }, true), nil)
end)

test("the old /bin/sh -c line is not what REAPER runs", function()
  -- What the scripts used to build: the script for sh ends at the first quote, and the rest is one
  -- more argument with its backslashes and quotes kept, so sh never sees the file name.
  same_list(fake.lineparse("/bin/sh -c 'pop2piano-bridge send '\\''/it'\\''s.wav'\\'''"),
    { "/bin/sh", "-c", "pop2piano-bridge send ", "\\''/it'\\''s.wav'\\'''" })
end)

test("fake REAPER splitting: LineParser rules", function()
  same_list(fake.lineparse([[  a  "b c" 'd "e' `f 'g" h` x"y z" \n]]), { "a", "b c", 'd "e', "f 'g\" h", 'x"y', 'z"', "\\n" })
  eq(fake.lineparse('"unterminated'), nil)
  eq(fake.lineparse("   "), nil)
end)

test("fake CommandLineToArgvW: Microsoft's backslash and quote rules", function()
  same_list(fake.commandline_to_argv([["C:\a b\p.exe" "a b" c\\\"d e\\"f g" h\i "" "x""y"]]),
    { "C:\\a b\\p.exe", "a b", 'c\\"d', "e\\f g", "h\\i", "", 'x"y' })
  same_list(fake.commandline_to_argv([[p.exe a\\\\"b c"]]), { "p.exe", "a\\\\b c" })
end)


test("diagnosis of a command that did not start", function()
  assert(launch.diagnosis(nil):find("could not run"))
  assert(launch.diagnosis("0\n"):find("could not run"))
  assert(launch.diagnosis("0\npop2piano-bridge 0.0.9\n"):find("It runs %(pop2piano%-bridge 0.0.9%)"))
  assert(launch.diagnosis("2\nusage: x\n"):find("exit status 2: usage: x", 1, true))
end)

---------------------------------------------------------------------------------------------------
-- The fake host itself

test("fake tempo map: time ↔ QN, the tempo at a time, ticks from the take start", function()
  local r = fake.new({ tempo_markers = { { time = 0, bpm = 120 }, { time = 11, bpm = 60 }, { time = 13, bpm = 150 } } })
  near(r.TimeMap2_timeToQN(0, 11), 22); near(r.TimeMap2_timeToQN(0, 13), 24); near(r.TimeMap2_timeToQN(0, 14), 26.5)
  near(r.TimeMap2_QNToTime(0, 26.5), 14); near(r.TimeMap2_QNToTime(0, 23), 12)
  local _, _, bpm = r.TimeMap_GetTimeSigAtTime(0, 12); eq(bpm, 60)
  local track = r._add_track("t")
  local take = r.GetActiveTake(r.CreateNewMIDIItemInProj(track, 10, 16, false))
  near(r.MIDI_GetPPQPosFromProjTime(take, 12), (23 - 20) * 960)
  near(r._ppq_to_time(take, 3 * 960), 12)
end)

test("fake ExecProcess: programs REAPER cannot start", function()
  local linux = fake.new({ os = "Other", path = "/nonexistent" })
  eq(linux.ExecProcess('"pop2piano-bridge" "--version"', 1000), "0\n") -- execvp failed: the child exit(0)s
  eq(linux.ExecProcess('"pop2piano-bridge" "send"', -2), "")
  eq(linux._project.exec[2].ran, false)
  local mac = fake.new({ os = "macOS-arm64" })
  eq(mac.ExecProcess('"echo" "hi"', 1000), nil) -- NSTask: no PATH search
  eq(mac.ExecProcess('"/bin/echo" "a b" c', 1000), "0\na b c\n")
  eq(mac.ExecProcess('"/bin/echo', 1000), nil) -- unterminated quote
  local win = fake.new({ os = "Win64", windows_programs = { ["C:\\x\\p.exe"] = { argv = { "/bin/echo" }, console = true } } })
  eq(win.ExecProcess('"C:\\x\\q.exe" a', 1000), nil)
  eq(win.ExecProcess('"C:\\x\\p" "a\\\\" b', 1000), "0\na\\ b\n")
  eq(win._project.exec[2].window, "console")
  eq(win.ExecProcess('cmd.exe /V:ON /C "echo x"', -2), "")
  eq(win._project.exec[3].ran, false); eq(win._project.exec[3].window, "console")
  assert(not pcall(fake.new, { os = "Linux" }), "unknown GetOS strings are refused")
end)

test("fake time_precise is wall time", function()
  local r = fake.new()
  local t0 = r.time_precise()
  local c0 = os.clock()
  os.execute("sleep 0.3")
  assert(r.time_precise() - t0 >= 0.25, "time_precise follows the wall clock")
  assert(os.clock() - c0 < 0.1, "(the CPU clock barely moved)")
  r._advance(20); assert(r.time_precise() - t0 >= 20)
end)

-- A project with a tempo change at 12 s, tracks "Vocals" (an audio item at 10 s for 6.4 s) and
-- "Drums", and the REAPER module loaded fresh on it. Returns the module and the item's info.
local function vocals_project(fields)
  reaper = fake.new({ tempo_markers = { { time = 0, bpm = 97 }, { time = 12, bpm = 140 } } })
  package.loaded["bridge"] = nil
  local bridge = require("bridge")
  local vocals = reaper._add_track("Vocals")
  reaper._add_track("Drums")
  fields.file, fields.source_length, fields.position, fields.length, fields.name = "/x.wav", 30, 10, 6.4, "Take 1"
  return bridge, bridge.item_info(reaper._add_audio_item(vocals, fields))
end

test("insertion: a track under the item's track, notes at exact project times, one undo point", function()
  local bridge, info = vocals_project({ startoffs = 1.5, playrate = 1.25 })
  near(info.playrate, 1.25); near(info.tempo, 97); eq(info.preserve_pitch, true)
  local doc = { notes = { { pitch = 60, start = 0.25, ["end"] = 1.0, velocity = 90 },
    { pitch = 67, start = 6.0, ["end"] = 9.0, velocity = 70 } } }
  local track, midi_item, n = bridge.insert(info, doc, "composer3", { shift = 0, transpose = 0 })
  eq(n, 2)
  eq(reaper._project.tracks[2], track); eq(track.name, "Take 1 - composer3 (piano)")
  near(midi_item.position, 10); near(midi_item.length, 6.4)
  local take = midi_item.takes[1]
  assert(take.sorted)
  near(reaper._ppq_to_time(take, take.notes[1].p0), 10.25, 1e-9)
  near(reaper._ppq_to_time(take, take.notes[1].p1), 11.0, 1e-9)
  near(reaper._ppq_to_time(take, take.notes[2].p0), 16.0, 1e-9)
  near(reaper._ppq_to_time(take, take.notes[2].p1), 16.4, 1e-9)
  eq(#reaper._project.undo, 1); eq(reaper._project.undo_depth, 0); eq(#reaper._project.edits_outside_undo, 0)
end)

test("item info walks nested sections to the file", function()
  reaper = fake.new()
  package.loaded["bridge"] = nil
  local bridge = require("bridge")
  local file = reaper._file_source("/m/long.wav", 120)
  local src = reaper._section_source(reaper._section_source(file, 10, 40, false), 5, 20, false)
  local it = reaper._add_audio_item(reaper._add_track("t"), { source = src, position = 0, length = 4, pitch = -3 })
  local info = bridge.item_info(it)
  eq(info.source_path, "/m/long.wav"); near(info.section_offset, 15); near(info.source_length, 20)
  eq(info.reversed, false); near(info.pitch, -3)
  src = reaper._section_source(file, 0, 120, true)
  eq(bridge.item_info(reaper._add_audio_item(reaper._add_track("u"), { source = src, position = 0, length = 4 })).reversed, true)
end)

---------------------------------------------------------------------------------------------------
-- The project grid: REAPER's tempo map over an item → beats in seconds of the item's file

-- Quarter notes at project time t under the given markers, integrated here independently of the
-- fake: square changes, or linear-in-time ramps to the next marker.
local function qn_of(t, markers)
  local total = 0
  for i, m in ipairs(markers) do
    local n = markers[i + 1]
    local stop = n and math.min(t, n.time) or t
    if stop <= m.time then break end
    local slope = (m.linear and n) and (n.bpm - m.bpm) / (n.time - m.time) or 0
    local dt = stop - m.time
    total = total + (m.bpm * dt + slope * dt * dt / 2) / 60
  end
  return total
end

local function grid_of(markers, fields)
  reaper = fake.new({ tempo_markers = markers, project_path = os.tmpname() .. "-project" })
  package.loaded["bridge"] = nil
  local bridge = require("bridge")
  local item = reaper._add_audio_item(reaper._add_track("Vocals"), fields)
  local info = bridge.item_info(item)
  local grid = assert(bridge.grid_file(info, "reaper-1-1-0001", "project"))
  local json = require("json")
  local beats = json.decode(assert(io.open(grid.path)):read("a"))
  return bridge, info, grid, beats
end

test("project grid, constant tempo: every quarter note around the item, in the file's seconds", function()
  local bridge, info, grid, beats = grid_of({ { time = 0, bpm = 120 } }, { file = "/x.wav", source_length = 30,
    position = 10, length = 6.4, startoffs = 1.5, playrate = 1.25 })
  eq(#beats, 16) -- QN 19 (9.5 s) … QN 34 (17 s): one beyond each end
  for k, b in ipairs(beats) do near(b, 1.5 + (9.5 + (k - 1) * 0.5 - 10) * 1.25, 1e-9, "beat " .. k) end
  assert(grid.path:find("/Pop2Piano/reaper%-1%-1%-0001%.beats%.json$"), grid.path)
  eq(grid.summary, "16 beats, 120.0 BPM")
  eq(bridge.grid_file(info, "x", "tracked"), nil) -- tracked beats: no file
  os.remove(grid.path)
end)

test("project grid, a tempo change inside the item and a section: beats follow the map", function()
  local markers = { { time = 0, bpm = 120 }, { time = 12, bpm = 60 } }
  local file = { kind = "file", file = "/long.wav", length = 100 }
  local _, _, grid, beats = grid_of(markers, { source = { kind = "section", parent = file, offs = 20, len = 40 },
    position = 10, length = 6.4, startoffs = 2.0, playrate = 1.0 })
  -- QN 19..24 every 0.5 s up to 12 s, then QN 25..30 every second
  local expected = { 9.5, 10, 10.5, 11, 11.5, 12, 13, 14, 15, 16, 17, 18 }
  eq(#beats, #expected)
  for k, t in ipairs(expected) do
    near(qn_of(t, markers), 18 + k, 1e-9)
    near(beats[k], 20 + 2.0 + (t - 10), 1e-9, "beat " .. k) -- section offset + start offset + time in item
  end
  eq(grid.summary, "12 beats, 60.0-120.0 BPM")
  os.remove(grid.path)
end)

test("project grid, a gradual tempo ramp and a negative start offset", function()
  local markers = { { time = 0, bpm = 100, linear = true }, { time = 20, bpm = 140 } }
  local _, info, grid, beats = grid_of(markers, { file = "/x.wav", source_length = 30, position = 8, length = 4,
    startoffs = -1.0, playrate = 2.0 })
  eq(info.startoffs, -1.0)
  local first = math.floor(qn_of(8, markers)) - 1
  for k, b in ipairs(beats) do
    local t = 8 + (b + 1.0) / 2.0 -- back to project seconds: position + (source − offset) / rate
    near(qn_of(t, markers), first + k - 1, 1e-9, "beat " .. k)
  end
  assert(qn_of(8 + (beats[#beats] + 1) / 2, markers) >= qn_of(12, markers) + 1, "one beyond the end")
  os.remove(grid.path)
end)

test("fake tempo ramp: time ↔ QN inverse, the effective tempo inside the ramp", function()
  local markers = { { time = 0, bpm = 100, linear = true }, { time = 20, bpm = 140 }, { time = 30, bpm = 90 } }
  local r = fake.new({ tempo_markers = markers })
  for _, t in ipairs({ 0, 3.3, 10, 19.9, 20, 25, 40 }) do
    near(r.TimeMap2_timeToQN(0, t), qn_of(t, markers), 1e-9, "qn at " .. t)
    near(r.TimeMap2_QNToTime(0, qn_of(t, markers)), t, 1e-9, "time at " .. t)
  end
  local _, _, bpm = r.TimeMap_GetTimeSigAtTime(0, 10); near(bpm, 120, 1e-9)
  _, _, bpm = r.TimeMap_GetTimeSigAtTime(0, 25); near(bpm, 140, 1e-9)
end)

---------------------------------------------------------------------------------------------------
-- Takes (the audition): the fake's REAPER rules, then the placement through them

test("fake takes: an added take is empty until it gets a source; sources in use are duplicated", function()
  local r = fake.new()
  local track = r._add_track("t")
  local item = r.CreateNewMIDIItemInProj(track, 0, 4, false)
  local first = r.GetActiveTake(item)
  local take = r.AddTakeToMediaItem(item)
  eq(r.TakeIsMIDI(take), false); eq(r.GetMediaItemTake_Source(take), nil)
  eq(r.MIDI_InsertNote(take, false, false, 0, 960, 0, 60, 90, false), false)
  eq(r.GetActiveTake(item), take) -- (undocumented either way: the fake makes the new take active)
  local scratch = r.CreateNewMIDIItemInProj(track, 0, 4, false)
  local source = r.GetMediaItemTake_Source(r.GetActiveTake(scratch))
  eq(r.SetMediaItemTake_Source(take, source), true)
  assert(r.GetMediaItemTake_Source(take) ~= source, "a source in use is duplicated")
  eq(r.DeleteTrackMediaItem(track, scratch), true); eq(r.DeleteTrackMediaItem(track, scratch), false)
  eq(r.ValidatePtr2(0, scratch, "MediaItem*"), false)
  eq(r.MIDI_InsertNote(take, false, false, 0, 960, 0, 60, 90, false), true)
  r.SetActiveTake(first); eq(r.GetActiveTake(item), first)
  eq(r.ValidatePtr2(0, take, "MediaItem_Take*"), true); eq(r.ValidatePtr2(0, item, "MediaTrack*"), false)
  r._delete_item(item)
  eq(r.ValidatePtr2(0, item, "MediaItem*"), false); eq(r.ValidatePtr2(0, take, "MediaItem_Take*"), false)
  assert(not pcall(r.AddTakeToMediaItem, item), "a deleted item cannot take a take")
  r._delete_track(track)
  eq(r.ValidatePtr2(0, track, "MediaTrack*"), false)
  assert(not pcall(r.CreateNewMIDIItemInProj, track, 0, 1, false), "nor a deleted track an item")
end)

test("audition placement: one item, a take per style in arrival order, first active, exact times", function()
  local bridge, info = vocals_project({})
  local audition = { info = info, request = { shift = 0, transpose = 0 } }
  local docs = {
    composer7 = { notes = { { pitch = 60, start = 0.25, ["end"] = 1.0, velocity = 90 } } },
    composer2 = { notes = { { pitch = 64, start = 2.5, ["end"] = 9.0, velocity = 70 },
      { pitch = 67, start = 1.0, ["end"] = 1.5, velocity = 80 } } },
    composer11 = { notes = {} },
  }
  for _, name in ipairs({ "composer7", "composer2", "composer11" }) do
    assert(bridge.place_style(audition, docs[name], name))
  end
  eq(#reaper._project.tracks, 3); eq(reaper._project.tracks[2].name, "Take 1 - audition (piano)")
  local items = reaper._project.tracks[2].items
  eq(#items, 1) -- the scratch items are gone
  local takes = items[1].takes
  eq(#takes, 3); eq(takes[1].name, "composer7"); eq(takes[2].name, "composer2"); eq(takes[3].name, "composer11")
  eq(reaper.GetActiveTake(items[1]), takes[1])
  near(items[1].position, 10); near(items[1].length, 6.4)
  near(reaper._ppq_to_time(takes[1], takes[1].notes[1].p0), 10.25, 1e-9)
  eq(#takes[2].notes, 2); assert(takes[2].sorted)
  near(reaper._ppq_to_time(takes[2], takes[2].notes[1].p0), 12.5, 1e-9) -- after the tempo change
  near(reaper._ppq_to_time(takes[2], takes[2].notes[1].p1), 16.4, 1e-9) -- cut at the item's end
  eq(#reaper._project.undo, 3); eq(reaper._project.undo_depth, 0); eq(#reaper._project.edits_outside_undo, 0)
  -- the producer picked the second take meanwhile: a new style leaves that choice alone
  reaper.SetActiveTake(takes[2])
  assert(bridge.place_style(audition, docs.composer7, "composer1"))
  eq(reaper.GetActiveTake(items[1]), takes[2])
  -- the item deleted (or its creation undone): no error, the audition is told why
  reaper._delete_item(items[1])
  local placed, why = bridge.place_style(audition, docs.composer2, "composer3")
  eq(placed, nil); assert(why:find("deleted"), why)
  eq(#reaper._project.undo, 4)
end)

harness.finish()
