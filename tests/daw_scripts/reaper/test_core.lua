-- Unit tests of the REAPER scripts' pure logic, of the fake host's REAPER rules, and of the
-- insertion through the (fake) API.   Run: lua5.4 tests/daw_scripts/reaper/test_core.lua   (from the repository root)
package.path = "bridge/daw_scripts/reaper/pop2piano/?.lua;tests/daw_scripts/reaper/?.lua;" .. package.path
local core = require("core")
local json = require("json")
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
-- JSON

test("json encoder: escapes, UTF-8 through, arrays and objects, numbers", function()
  local text = json.encode({ s = 'a"b\\c\n\t\1\127é🎹', args = json.array({}), list = { 1, 2.5, 3.0, "x" }, t = true })
  eq(text, '{"args":[],"list":[1,2.5,3.0,"x"],"s":"a\\"b\\\\c\\n\\t\\u0001\\u007fé🎹","t":true}')
  local back = json.decode(text)
  eq(back.s, 'a"b\\c\n\t\1\127é🎹'); eq(#back.args, 0); eq(back.list[3], 3.0); eq(math.type(back.list[1]), "integer")
  assert(not pcall(json.encode, "\255\254"), "invalid UTF-8 is refused")
  assert(not pcall(json.encode, 0 / 0), "NaN is refused")
  eq(json.encode(0.1), "0.10000000000000001")
end)

test("json decoder: escapes, surrogate pairs, errors", function()
  local v = json.decode(' {"a": [1, -2.5e1, true, false, null], "s": "x\\"y\\u00e9\\ud83c\\udfb9\\n", "o": {}} ')
  eq(v.a[2], -25); eq(v.a[3], true); eq(v.a[5], json.null); eq(v.s, 'x"yé🎹\n')
  assert(not pcall(json.decode, '{"a": }'))
  assert(not pcall(json.decode, '[1, 2'))
end)

---------------------------------------------------------------------------------------------------
-- Settings

test("settings: defaults, then the installed config, then non-empty ExtState", function()
  local s = core.settings(nil, {})
  same_list(s.command, { "pop2piano-bridge" }); eq(s.port, 9310); eq(s.host, "127.0.0.1"); eq(s.secret, "")
  s = core.settings({ command = { "/opt/p2p bin/python", "-m", "bridge" }, port = 9400, secret = "x!", listen_port = 1 },
    { port = "", bridge_command = "" })
  same_list(s.command, { "/opt/p2p bin/python", "-m", "bridge" }); eq(s.port, 9400); eq(s.secret, "x!")
  eq(s.command_from, "pop2piano-bridge.json")
  s = core.settings({ command = { "/a" }, port = 9400 }, { bridge_command = "/Applications/My Tools/pop2piano-bridge",
    port = "9500", secret = "s", composer = "composer3" })
  same_list(s.command, { "/Applications/My Tools/pop2piano-bridge" }); eq(s.port, 9500); eq(s.composer, "composer3")
  s = core.settings(nil, { bridge_command = '["C:\\\\py\\\\python.exe", "-m", "bridge"]' })
  same_list(s.command, { "C:\\py\\python.exe", "-m", "bridge" })
  local problems
  s, problems = core.settings({ command = "pop2piano-bridge --x", port = "x" }, { port = "99999", bridge_command = "[1]" })
  same_list(s.command, { "pop2piano-bridge" }); eq(s.port, 9310); eq(#problems, 4)
end)

---------------------------------------------------------------------------------------------------
-- Command lines, checked against the fake's REAPER rules

test("macOS/Linux command line: REAPER's splitting gives back every element", function()
  local line = assert(core.command_line(AWKWARD, false))
  same_list(assert(fake.lineparse(line)), AWKWARD)
end)

test("Windows command line: CommandLineToArgvW gives back every element", function()
  local argv = { "C:\\Users\\Zoë!\\venv\\Scripts\\pop2piano-bridgew.exe", table.unpack(AWKWARD) }
  local line = assert(core.command_line(argv, true))
  same_list(fake.commandline_to_argv(line), argv)
  -- without doubling, a trailing backslash would escape the closing quote
  local naive = '"prog" "C:\\dir\\" "next"'
  same_list(fake.commandline_to_argv(naive), { "prog", 'C:\\dir" next' })
end)

test("a double quote or an empty element is refused with a message", function()
  local line, why = core.command_line({ "/bin/p2p", 'say "hi"' }, false)
  eq(line, nil); assert(why:find('say "hi"', 1, true), why)
  eq(core.command_line({ "/bin/p2p", "" }, true), nil)
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

test("send and serve argv", function()
  same_list(core.send_argv({ "/py", "-m", "bridge" }, "/r/x.json"), { "/py", "-m", "bridge", "send", "--request", "/r/x.json" })
  same_list(core.serve_argv({ "/p" }, "/r/bridge.log", 9310), { "/p", "serve", "--log-file", "/r/bridge.log" })
  same_list(core.serve_argv({ "/p" }, "/l", 9400), { "/p", "serve", "--log-file", "/l", "--port", "9400" })
end)

test("request file", function()
  local doc = json.decode(core.request_json("/pop2piano/ping", {}, { host = "127.0.0.1", port = 9310, secret = "s!" },
    "C:\\R\\o.jsonl"))
  eq(doc.address, "/pop2piano/ping"); eq(#doc.args, 0); eq(doc.secret, "s!"); eq(doc.out, "C:\\R\\o.jsonl"); eq(doc.port, 9310)
end)

test("paths join with the separator the base uses", function()
  eq(core.join("C:\\Users\\a\\REAPER", "Data", "Pop2Piano"), "C:\\Users\\a\\REAPER\\Data\\Pop2Piano")
  eq(core.join("/home/a/.config/REAPER/", "Data", "Pop2Piano"), "/home/a/.config/REAPER/Data/Pop2Piano")
  eq(core.dirname("C:\\S\\Pop2Piano\\x.lua"), "C:\\S\\Pop2Piano\\")
  eq(core.join(core.dirname("/S/Pop2Piano/x.lua"), "pop2piano-bridge.json"), "/S/Pop2Piano/pop2piano-bridge.json")
end)

---------------------------------------------------------------------------------------------------
-- send's output

test("output lines: complete lines only, unreadable ones kept as news", function()
  local lines = core.output_lines('["#started", "0.1.0"]\r\n["/pop2piano/accepted", "j"]\nnot json\n["/pop2piano/prog')
  eq(#lines, 3); eq(lines[1][1], "#started"); eq(lines[3][1], "#unreadable")
end)

test("job state from every kind of line", function()
  local s = core.job_state(core.output_lines(table.concat({
    '["#started", "0.1.0"]', '["/pop2piano/accepted", "j"]', '["#alive", "queued", 0]',
    '["/pop2piano/progress", "j", 0.5, "generating"]', "" }, "\n")))
  assert(s.started and s.accepted and not s.finished); near(s.fraction, 0.5); eq(s.stage, "generating")
  s = core.job_state(core.output_lines('["#started","x"]\n["/pop2piano/done","j","/a.mid","/a é.notes.json",42]\n["#exit",0]\n'))
  assert(s.finished); eq(s.done.notes, "/a é.notes.json"); eq(s.done.count, 42); eq(s.exit, 0)
  s = core.job_state(core.output_lines('["#started","x"]\n["/pop2piano/error","","model_unavailable","get it"]\n["#exit",1]\n'))
  eq(s.error.code, "model_unavailable"); eq(s.error.message, "get it")
  s = core.job_state(core.output_lines('["#started","x"]\n["#error","not_running","no reply"]\n["#exit",2]\n'))
  assert(s.not_running and s.finished)
  s = core.job_state(core.output_lines('["#started","x"]\n["/pop2piano/composers","composer1","jazz"]\n["#exit",0]\n'))
  eq(core.reply(s, "/pop2piano/composers")[3], "jazz"); eq(core.reply(s, "/pop2piano/pong"), nil)
end)

test("diagnosis of a command that did not start", function()
  assert(core.diagnosis(nil):find("could not run"))
  assert(core.diagnosis("0\n"):find("could not run"))
  assert(core.diagnosis("0\npop2piano-bridge 0.0.9\n"):find("It runs %(pop2piano%-bridge 0.0.9%)"))
  assert(core.diagnosis("2\nusage: x\n"):find("exit status 2: usage: x", 1, true))
end)

---------------------------------------------------------------------------------------------------
-- Items

local function item(fields)
  local base = { position = 10, length = 6.4, startoffs = 1.5, playrate = 1.25, pitch = 0, preserve_pitch = true,
    source_path = "/a b/x.wav", source_length = 30, section_offset = 0, tempo = 100 }
  for k, v in pairs(fields or {}) do base[k] = v end
  return base
end

test("request from an item: offset, playrate, tempo", function()
  local r = core.request_for_item(item())
  eq(r.path, "/a b/x.wav"); near(r.start, 1.5); near(r.duration, 8.0); near(r.playrate, 1.25); eq(r.tempo, 100)
  eq(r.shift, 0); eq(r.transpose, 0)
end)

test("a looped item is clamped to its source; past the end is refused", function()
  near(core.request_for_item(item({ length = 40, startoffs = 5, playrate = 1 })).duration, 25)
  local none, why = core.request_for_item(item({ startoffs = 31, playrate = 1 }))
  eq(none, nil); assert(why:match("past the end"))
end)

test("sections add their offset; their length bounds the range", function()
  local r = core.request_for_item(item({ section_offset = 15, source_length = 4, startoffs = 1, playrate = 1 }))
  near(r.start, 16); near(r.duration, 3)
end)

test("a negative start offset shifts the notes instead of being clamped", function()
  local r = core.request_for_item(item({ startoffs = -2, playrate = 1.25, length = 6.4 }))
  near(r.start, 0); near(r.duration, 6); near(r.shift, 1.6)
  local none, why = core.request_for_item(item({ startoffs = -9, playrate = 1, length = 6 }))
  eq(none, nil); assert(why:find("only the silence"))
end)

test("reversed takes and timing stretch markers are refused; idle markers are not", function()
  local none, why = core.request_for_item(item({ reversed = true }))
  eq(none, nil); assert(why:find("reversed"))
  none, why = core.request_for_item(item({ stretch_markers = { { pos = 0, srcpos = 1.5 }, { pos = 2, srcpos = 4 } } }))
  eq(none, nil); assert(why:find("stretch markers"))
  none = core.request_for_item(item({ stretch_markers = { { pos = 0, srcpos = 1.5, slope = 0.2 } } }))
  eq(none, nil)
  assert(core.request_for_item(item({ stretch_markers = { { pos = 0, srcpos = 1.5 }, { pos = 2, srcpos = 3.5 } } })))
end)

test("pitch heard: take pitch, plus the rate's shift without preserve pitch; nearest semitone", function()
  near(core.heard_semitones(2, 1.25, true), 2)
  near(core.heard_semitones(0, 2, false), 12)
  near(core.heard_semitones(-1, 0.5, false), -13)
  eq(core.round_semitones(5.86), 6); eq(core.round_semitones(-0.5), -1); eq(core.round_semitones(0.5), 1)
  eq(core.round_semitones(-2.4), -2)
  eq(core.request_for_item(item({ pitch = 2, preserve_pitch = false, playrate = 1.25 })).transpose, 6)
end)

test("convert arguments: strings stay strings, numbers are floats", function()
  local args = core.convert_args("j1", { path = "f:\\music\\a.wav", start = 1, duration = 8, playrate = 1.25, tempo = 100 },
    { composer = "composer7", output = "both", out_dir = "/proj/Pop2Piano" })
  eq(json.encode(args), '["j1","f:\\\\music\\\\a.wav","composer","composer7","start",1.0,"duration",8.0,'
    .. '"playrate",1.25,"output","both","tempo",100.0,"out_dir","/proj/Pop2Piano"]')
  -- no composer chosen: none sent, the bridge uses its default style
  args = core.convert_args("j2", { path = "/a.wav", start = 0, duration = 1, playrate = 1 }, { composer = "" })
  eq(json.encode(args), '["j2","/a.wav","start",0.0,"duration",1.0,"playrate",1.0,"output","file"]')
end)

test("note times: shifted, transposed, cut at the item end, out-of-range pitches dropped", function()
  local doc = json.decode('{"notes":[{"pitch":60,"start":0.5,"end":1.0,"velocity":77},'
    .. '{"pitch":62,"start":5.9,"end":7.0,"velocity":80},{"pitch":64,"start":6.5,"end":7,"velocity":80},'
    .. '{"pitch":125,"start":1,"end":2,"velocity":80}]}')
  local t, dropped = core.note_times(doc, { position = 10, length = 6.4 })
  eq(#t, 3); near(t[1].t0, 10.5); near(t[1].t1, 11.0); near(t[2].t0, 15.9); near(t[2].t1, 16.4); eq(dropped, 0)
  t, dropped = core.note_times(doc, { position = 10, length = 6.4, shift = 0.5, transpose = 3 })
  eq(#t, 1); near(t[1].t0, 11.0); eq(t[1].pitch, 63); eq(dropped, 1) -- 62 now starts at the end
end)

test("composers: a number in the bridge's list or one of its names", function()
  local composers = { "composer1", "composer2", "jazz" }
  eq(core.composer_choice("3", composers), "jazz"); eq(core.composer_choice(" Composer2 ", composers), "composer2")
  eq(core.composer_choice("4", composers), nil); eq(core.composer_choice("1.5", composers), nil)
  eq(core.composer_choice("composer21", composers), nil)
  eq(core.composer_number("jazz", composers), "3"); eq(core.composer_number("composer9", composers), "1")
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
