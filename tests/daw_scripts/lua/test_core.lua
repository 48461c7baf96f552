-- Unit tests of the DAW scripts' shared core (bridge/daw_scripts/lua: core.lua, json.lua), used by
-- the REAPER and the Ardour scripts. Plain Lua, no host: run under Lua 5.4 (REAPER's) and under
-- Ardour's own Lua 5.3 (ardour7-lua), from the repository root:
--   lua5.4 tests/daw_scripts/lua/test_core.lua        ardour7-lua tests/daw_scripts/lua/test_core.lua
package.path = "bridge/daw_scripts/lua/?.lua;tests/daw_scripts/lua/?.lua;" .. package.path
local core = require("core")
local json = require("json")

local harness = require("harness")
local test, eq, near, same_list = harness.test, harness.eq, harness.near, harness.same_list

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
-- Commands and the request file

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

---------------------------------------------------------------------------------------------------
-- Composers

test("composers: a number in the bridge's list or one of its names", function()
  local composers = { "composer1", "composer2", "jazz" }
  eq(core.composer_choice("3", composers), "jazz"); eq(core.composer_choice(" Composer2 ", composers), "composer2")
  eq(core.composer_choice("4", composers), nil); eq(core.composer_choice("1.5", composers), nil)
  eq(core.composer_choice("composer21", composers), nil)
  eq(core.composer_number("jazz", composers), "3"); eq(core.composer_number("composer9", composers), "1")
end)

test("composer labels sort as numbers do, and lead back to the names", function()
  local composers = {}
  for i = 1, 21 do composers[i] = "composer" .. i end
  local labels = core.composer_labels(composers)
  local keys = {}
  for label in pairs(labels) do keys[#keys + 1] = label end
  table.sort(keys) -- as the dropdown sorts them
  eq(#keys, 21); eq(labels[keys[1]], "composer1"); eq(labels[keys[10]], "composer10"); eq(labels[keys[21]], "composer21")
  eq(core.composer_label("composer3", composers), "03  composer3"); eq(core.composer_label("jazz", composers), nil)
end)

test("the session's grid as source seconds, and as a beats_file argument", function()
  local beats = core.source_beats({ 2.5, 3.0, 3.5, 4.0 }, 3.0, 1.0, 1)
  near(beats[1], 0.5); near(beats[2], 1.0); near(beats[4], 2.0); eq(math.type(beats[1]), "float")
  near(core.source_beats({ 5 }, 3, 1, 1.25)[1], 3.5)
  local args = core.convert_args("j", { path = "/a.wav", start = 1, duration = 4, playrate = 1, tempo = 120 },
    { beats_file = "/tmp/j.beats.json" })
  eq(args[#args - 1], "beats_file"); eq(args[#args], "/tmp/j.beats.json")
end)

---------------------------------------------------------------------------------------------------
-- Reading send's output file as it grows, deadlines

local function temp_path()
  local path = os.tmpname()
  os.remove(path)
  return path
end

test("read_new_lines: only complete lines, each once, from where the last look ended", function()
  local path = temp_path()
  local job = { out_path = path, lines = {} }
  eq(core.read_new_lines(job), false, "no file yet")
  local handle = assert(io.open(path, "wb"))
  handle:write('["#started", "0.1.0"]\n["/pop2piano/accep')
  handle:flush()
  eq(core.read_new_lines(job), true); eq(#job.lines, 1)
  eq(core.read_new_lines(job), false, "the half line waits")
  handle:write('ted", "j"]\n')
  handle:close()
  eq(core.read_new_lines(job), true); eq(#job.lines, 2); eq(job.lines[2][1], "/pop2piano/accepted")
  os.remove(path)
end)

test("deadlines: not started within 15 s, silent for 30 s, none once finished", function()
  local waiting = core.job_state({})
  eq(core.missed_deadline(waiting, 0, 0, 15), nil); eq(core.missed_deadline(waiting, 0, 0, 15.5), "not_started")
  local running = core.job_state({ { "#started", "x" } })
  eq(core.missed_deadline(running, 0, 10, 39), nil); eq(core.missed_deadline(running, 0, 10, 41), "silent")
  local over = core.job_state({ { "#started", "x" }, { "#exit", 0 } })
  eq(core.missed_deadline(over, 0, 0, 1000), nil)
end)

test("files: written and read back byte for byte", function()
  local path = temp_path()
  assert(core.write_file(path, "a\0b\r\né"))
  eq(core.read_file(path), "a\0b\r\né")
  os.remove(path)
  eq(core.read_file(path), nil)
  local ok, why = core.write_file("/nonexistent-dir/x", "y")
  eq(ok, nil); assert(why)
end)

---------------------------------------------------------------------------------------------------
-- Messages, in each DAW's words

local REAPER = { title = "REAPER", install = "reaper", overrides = "ExtState",
  log_hint = "Data/Pop2Piano/bridge.log in REAPER's resource folder" }
local ARDOUR = { title = "Ardour", install = "ardour", overrides = "pop2piano-choices.json",
  log_hint = "pop2piano-bridge.log in Ardour's cache folder" }

test("messages name the DAW, its install command and where its overrides are", function()
  local text = core.not_started_message(REAPER, { "/opt/p b/pop2piano-bridge" }, "REAPER could not run it.")
  assert(text:find('"/opt/p b/pop2piano-bridge"', 1, true) and text:find("pop2piano-bridge install reaper", 1, true), text)
  text = core.not_started_message(ARDOUR, { "pop2piano-bridge" }, nil)
  assert(text:find("Install the Ardour scripts", 1, true) and text:find("pop2piano-bridge install ardour", 1, true), text)
  assert(not text:find("REAPER", 1, true), text)
  text = core.not_running_message(ARDOUR, "127.0.0.1", 9400, "/l.log", false)
  assert(text:find("127.0.0.1:9400", 1, true) and text:find('pop2piano-choices.json "port"', 1, true), text)
  text = core.not_running_message(REAPER, "127.0.0.1", 9310, "/r/bridge.log", true)
  assert(text:find("REAPER started it, but it did not answer within 90 s", 1, true) and text:find("/r/bridge.log"))
  text = core.silent_message(ARDOUR, "converting x")
  assert(text:find("while converting x (no news for 30 s)", 1, true) and text:find("if Ardour started it", 1, true))
end)

test("settings: problems name where the override came from", function()
  local _, problems = core.settings(nil, { port = "0", bridge_command = "[" }, "pop2piano-choices.json")
  eq(#problems, 2)
  assert(problems[1]:find("^pop2piano%-choices%.json bridge_command"), problems[1])
  assert(problems[2]:find("^pop2piano%-choices%.json port"), problems[2])
end)

---------------------------------------------------------------------------------------------------
-- The project grid and auditions

test("quarter notes over a clip: one beyond each end, none before the session start", function()
  -- 120 BPM up to 4 s (8 QN), then 60 BPM: an independent tempo map
  local function to_qn(t) return t <= 4 and t * 2 or 8 + (t - 4) end
  local function to_time(q) return q <= 8 and q / 2 or 4 + (q - 8) end
  local times = core.quarter_note_times(to_qn, to_time, 3.2, 6.5)
  -- QN 6.4 .. 10.5: from QN 5 to QN 12
  same_list(times, { 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0 })
  same_list(core.quarter_note_times(to_qn, to_time, 0, 1), { 0.0, 0.5, 1.0, 1.5 })
  same_list(core.quarter_note_times(to_qn, to_time, 1.0, 2.0), { 0.5, 1.0, 1.5, 2.0, 2.5 }) -- on a beat: no extra
  eq(core.beats_summary(times), "8 beats, 60.0-120.0 BPM")
  eq(core.beats_summary({ 0, 0.5, 1.0 }), "3 beats, 120.0 BPM")
end)

test("source beats: session seconds to the seconds of the clip's file (offset, rate)", function()
  local beats = core.source_beats({ 9.5, 10.0, 10.5, 12.0 }, 10.0, 3.5, 1.25)
  same_list(beats, { 2.875, 3.5, 4.125, 6.0 })
  local path = os.tmpname()
  assert(core.write_beats_file(path, beats))
  eq(core.read_file(path), "[2.875,3.5,4.125,6.0]")
  os.remove(path)
end)

test("audition styles: all, numbers and names, checked, each once", function()
  local composers = { "composer1", "composer2", "jazz" }
  local value, names = core.audition_styles("", composers)
  eq(value, "all"); same_list(names, composers)
  value, names = core.audition_styles(" ALL ", composers)
  eq(value, "all"); eq(#names, 3)
  value, names = core.audition_styles("3, composer1 ,3", composers)
  eq(value, "jazz,composer1"); same_list(names, { "jazz", "composer1" })
  local none, why = core.audition_styles("2, 4", composers)
  eq(none, nil); assert(why:find('"4" is not one of', 1, true), why)
end)

test("job state: each done_style of an audition, in arrival order, then done", function()
  local s = core.job_state({ { "#started", "0.1" }, { "/pop2piano/accepted", "j" },
    { "/pop2piano/done_style", "j", "composer7", "/o/a.mid", "/o/a.notes.json", 12 },
    { "/pop2piano/progress", "j", 0.6, "generating" },
    { "/pop2piano/done_style", "j", "composer3", "/o/b.mid", "/o/b.notes.json", 9 } })
  eq(#s.styles, 2); eq(s.styles[1].composer, "composer7"); eq(s.styles[2].notes, "/o/b.notes.json")
  eq(s.styles[2].count, 9); eq(s.done, nil); eq(#s.replies, 0)
  s = core.job_state({ { "/pop2piano/done", "j", "", "", 2 }, { "#exit", 0 } })
  eq(s.done.count, 2); eq(#s.styles, 0)
end)


test("composers_from: the list, or why not", function()
  local list = core.composers_from({ replies = { { "/pop2piano/composers", "composer1", "composer2" } } })
  same_list(list, { "composer1", "composer2" })
  local none, why = core.composers_from(nil, "the bridge is not running")
  eq(none, nil); eq(why, "the bridge is not running")
  none, why = core.composers_from({ replies = {}, error = { code = "model_unavailable", message = "fetch it" } })
  eq(none, nil); assert(why:find("no Pop2Piano model yet", 1, true) and why:find("fetch it", 1, true), why)
  none, why = core.composers_from({ replies = {}, error = { code = "internal", message = "boom" } })
  eq(none, nil); eq(why, "The bridge could not list its composers: boom")
  none, why = core.composers_from({ replies = { { "/pop2piano/composers" } } })
  eq(none, nil); eq(why, "The bridge did not list its composers.")
end)

harness.finish(_VERSION .. ": ")
