-- Unit tests of the REAPER scripts' own pure logic (launch.lua: command lines, diagnosis), of the
-- fake host's REAPER rules, and of the insertion through the (fake) API. The shared core's tests
-- are in tests/daw_scripts/lua/test_core.lua.
-- Run: lua5.4 tests/daw_scripts/reaper/test_core.lua   (from the repository root)
package.path = "bridge/daw_scripts/reaper/pop2piano/?.lua;bridge/daw_scripts/lua/?.lua;tests/daw_scripts/reaper/?.lua;"
  .. package.path
local launch = require("launch")
local fake = require("fake_reaper")

local failures, count = 0, 0
local function test(name, fn)
  count = count + 1
  local ok, err = pcall(fn)
  if not ok then
    failures = failures + 1
    print("FAIL " .. name .. ": " .. tostring(err))
  end
end
local function eq(a, b, msg)
  if a ~= b then error((msg or "") .. " expected " .. tostring(b) .. ", got " .. tostring(a), 2) end
end
local function near(a, b, tol, msg)
  if math.abs(a - b) > (tol or 1e-9) then error((msg or "") .. " expected " .. b .. ", got " .. a, 2) end
end
local function same_list(a, b, msg)
  eq(#a, #b, (msg or "") .. " length")
  for i = 1, #b do eq(a[i], b[i], (msg or "") .. " [" .. i .. "]") end
end

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

test("insertion: a track under the item's track, notes at exact project times, one undo point", function()
  reaper = fake.new({ tempo_markers = { { time = 0, bpm = 97 }, { time = 12, bpm = 140 } } })
  package.loaded["bridge"] = nil
  local bridge = require("bridge")
  local t1 = reaper._add_track("Vocals")
  reaper._add_track("Drums")
  local it = reaper._add_audio_item(t1, { file = "/x.wav", source_length = 30, position = 10, length = 6.4,
    startoffs = 1.5, playrate = 1.25, name = "Take 1" })
  local info = bridge.item_info(it)
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

print(string.format("%d tests, %d failures", count, failures))
os.exit(failures == 0 and 0 or 1)
