-- Unit tests of the REAPER scripts' pure logic and of the insertion through the (fake) API.
-- Run: lua5.4 tests/lua/test_core.lua   (from the repository root)
package.path = "bridge/daw_scripts/reaper/pop2piano/?.lua;tests/lua/?.lua;" .. package.path
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
local function eq(a, b, msg) if a ~= b then error((msg or "") .. " expected " .. tostring(b) .. ", got " .. tostring(a), 2) end end
local function near(a, b, tol, msg) if math.abs(a - b) > (tol or 1e-9) then error((msg or "") .. " expected " .. b .. ", got " .. a, 2) end end

test("request from an item: offset, playrate, tempo", function()
  local r = core.request_for_item({ position = 10, length = 6.4, startoffs = 1.5, playrate = 1.25,
    source_path = "/a b/x.wav", source_length = 30, tempo = 100 })
  eq(r.path, "/a b/x.wav"); near(r.start, 1.5); near(r.duration, 8.0); near(r.playrate, 1.25); eq(r.tempo, 100)
end)

test("a looped item is clamped to its source", function()
  local r = core.request_for_item({ position = 0, length = 40, startoffs = 5, playrate = 1, source_path = "/x.wav",
    source_length = 30 })
  near(r.duration, 25)
  local none, why = core.request_for_item({ position = 0, length = 4, startoffs = 31, playrate = 1,
    source_path = "/x.wav", source_length = 30 })
  eq(none, nil); assert(why:match("past the end"))
end)

test("convert arguments and command line quote paths", function()
  local args = core.convert_args("j1", { path = "/it's here/a.wav", start = 1.5, duration = 8, playrate = 1.25,
    tempo = 100 }, { composer = "composer7", output = "both", out_dir = "/proj/Pop2Piano" })
  eq(table.concat(args, "|"), "/pop2piano/convert|j1|/it's here/a.wav|composer|composer7|start|1.500000|duration|"
    .. "8.000000|playrate|1.250000|output|both|tempo|100.000000|out_dir|/proj/Pop2Piano")
  local line = core.command_line("pop2piano-bridge", 9310, args, "/tmp/o.txt", "posix")
  assert(line:match("^/bin/sh %-c '"), line)
  local win = core.command_line("pop2piano-bridge", 9310, args, "C:\\t\\o.txt", "windows")
  assert(win:match('^cmd.exe /V:ON /C "pop2piano%-bridge send %-%-port 9310 "/pop2piano/convert"'), win)
  assert(win:match("!ERRORLEVEL!"), win)
end)

test("posix quoting survives a real shell", function()
  local tricky = "it's a \"test\" $HOME `x`"
  local h = io.popen("/bin/sh -c " .. core.quote("printf %s " .. core.quote(tricky, "posix"), "posix"))
  eq(h:read("a"), tricky)
  h:close()
end)

test("parse the bridge client's output", function()
  local s = core.parse_output("/pop2piano/accepted\tj\n/pop2piano/progress\tj\t0.5\tgenerating\n")
  assert(s.accepted and not s.finished); near(s.fraction, 0.5); eq(s.stage, "generating")
  s = core.parse_output("/pop2piano/accepted\tj\n/pop2piano/done\tj\t/a.mid\t/a.notes.json\t42\n__EXIT__ 0\n")
  assert(s.finished); eq(s.done.notes, "/a.notes.json"); eq(s.done.count, 42)
  s = core.parse_output("/pop2piano/error\tj\tnot_found\taudio file not found: /x.wav\n__EXIT__ 1\n")
  eq(s.error.code, "not_found")
  s = core.parse_output("pop2piano-bridge: error: no reply from the bridge at 127.0.0.1:9310; is it running?\n__EXIT__ 2\n")
  assert(s.not_running)
  s = core.parse_output("sh: 1: pop2piano-bridge: not found\n__EXIT__ 127\n")
  eq(s.error.code, "client"); assert(s.error.message:match("not found"))
end)

test("note times: item position plus session seconds, cut at the item end", function()
  local doc = json.decode('{"notes":[{"pitch":60,"start":0.5,"end":1.0,"velocity":77},'
    .. '{"pitch":62,"start":5.9,"end":7.0,"velocity":80},{"pitch":64,"start":6.5,"end":7,"velocity":80}]}')
  local t = core.note_times(doc, 10, 6.4)
  eq(#t, 2); near(t[1].t0, 10.5); near(t[1].t1, 11.0); near(t[2].t0, 15.9); near(t[2].t1, 16.4)
end)

test("json decoder", function()
  local v = json.decode(' {"a": [1, -2.5e1, true, false, null], "s": "x\\"y\\u00e9\\n", "o": {}} ')
  eq(v.a[2], -25); eq(v.a[3], true); eq(v.a[5], json.null); eq(v.s, 'x"y\195\169\n')
  assert(not pcall(json.decode, '{"a": }'))
  assert(not pcall(json.decode, '[1, 2'))
end)

test("composer names", function()
  eq(core.composer_name("7"), "composer7"); eq(core.composer_name(" composer21 "), "composer21")
  eq(core.composer_name("22"), nil); eq(core.composer_name("x"), nil); eq(core.composer_name("1.5"), nil)
end)

test("insertion: a track under the item's track, notes at exact project times, one undo point", function()
  reaper = fake.new({ tempo = 97 })
  package.loaded["bridge"] = nil
  local bridge = require("bridge")
  local t1 = reaper._add_track("Vocals")
  reaper._add_track("Drums")
  local item = reaper._add_audio_item(t1, { file = "/x.wav", source_length = 30, position = 10, length = 6.4,
    startoffs = 1.5, playrate = 1.25, name = "Take 1" })
  local info = bridge.item_info(item)
  near(info.playrate, 1.25); near(info.tempo, 97)
  local doc = { notes = { { pitch = 60, start = 0.25, ["end"] = 1.0, velocity = 90 },
    { pitch = 67, start = 6.0, ["end"] = 9.0, velocity = 70 } } }
  local track, midi_item, n = bridge.insert(info, doc, "composer3")
  eq(n, 2)
  eq(reaper._project.tracks[2], track); eq(track.name, "Take 1 - composer3 (piano)")
  near(midi_item.position, 10); near(midi_item.length, 6.4)
  local take = midi_item.takes[1]
  assert(take.sorted)
  near(reaper._ppq_to_time(take, take.notes[1].p0), 10.25, 1e-9)
  near(reaper._ppq_to_time(take, take.notes[1].p1), 11.0, 1e-9)
  near(reaper._ppq_to_time(take, take.notes[2].p1), 16.4, 1e-9)
  eq(#reaper._project.undo, 1); eq(reaper._project.undo_depth, 0)
end)

print(string.format("%d tests, %d failures", count, failures))
os.exit(failures == 0 and 0 or 1)
