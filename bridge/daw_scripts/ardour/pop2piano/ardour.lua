-- Ardour side of the Pop2Piano scripts (Ardour 7; its embedded Lua is 5.3): read the selected audio
-- regions and the tempo map, run `pop2piano-bridge send --request FILE` in the background, follow
-- what it writes while a progress window keeps Ardour drawing, start the bridge when it is not
-- running, and put the notes on a new MIDI track. The host-neutral logic (settings, the request
-- file, send's output, note times, composers, messages) is core.lua, shared with REAPER.
--
-- The installed actions are thin loaders: an action slot keeps a *copy* of the script it was given
-- (gtk2_ardour/luainstance.cc, LuaInstance::set_lua_action), so the logic lives here, beside them,
-- and `pop2piano-bridge install ardour` updates it without reassigning any slot. They call
--     loadfile("<scripts>/pop2piano/ardour.lua")("<scripts>/pop2piano/").run_action({ choose = ... })
--
-- Sources of the Ardour calls (tag 7.3): libs/ardour/luabindings.cc (ARDOUR, Temporal, Session),
-- gtk2_ardour/luainstance.cc (Editor, LuaDialog, os.forkexec), gtk2_ardour/luadialog.cc, and the
-- scripts Ardour ships in /usr/share/ardour7/scripts (named where a call follows one of them).

local lib_dir = ...
assert(type(lib_dir) == "string", "load this file with the folder it is in")

-- Action scripts have no `require` (LuaState::sandbox removes it, and `package`). core.lua and
-- json.lua say `require("json")` as they do in REAPER: give them a `require` of this folder, in an
-- environment of their own so that nothing they define lands in the Lua state all action slots share.
local modules = {}
local function require_here(name)
  if modules[name] == nil then
    local env = setmetatable({ require = require_here }, { __index = _G })
    local chunk, err = loadfile(lib_dir .. name .. ".lua", "t", env)
    if not chunk then error(err, 2) end
    modules[name] = chunk(name)
  end
  return modules[name]
end

local core = require_here("core")
local json = require_here("json")

local ardour = {}

-- The producer's remembered choices (composer, grid), beside pop2piano-bridge.json: the installer
-- never writes it.
ardour.CHOICES_NAME = "pop2piano-choices.json"
-- Grid choices: the bridge tracks the beats, or the notes follow Ardour's tempo map.
ardour.GRID_TRACKED, ardour.GRID_PROJECT = "tracked", "project"
-- How long to wait for a job to end after its cancel was sent (the bridge answers within ~1 s).
ardour.CANCEL_WAIT = 10
-- Ardour's own choice of a General MIDI synth for auditioning (libs/ardour/auditioner.cc:
-- x42 gmsynth, else ACE Reasonable Synth, which ships with Ardour); the new track gets the first found.
ardour.INSTRUMENTS = { "http://gareus.org/oss/lv2/gmsynth", "https://community.ardour.org/node/7596" }

local scripts_dir = lib_dir:match("^(.*[/\\])[^/\\]+[/\\]$") or lib_dir
-- Ardour on Windows has no /bin/sh (and no os.execute binding): there the command is started as is.
-- Its paths start with a drive letter or \\server.
local windows = lib_dir:match("^%a:[/\\]") ~= nil or lib_dir:sub(1, 2) == "\\\\"
-- A folder Ardour itself creates at start-up ($XDG_CACHE_HOME/ardour7 on Linux): request, output
-- and beats files, the scripts' log and the log of a bridge Ardour started. (user_cache_directory
-- with a name of its own would create that folder, and exit Ardour if it cannot: filesystem_paths.cc.)
local data_dir = ARDOUR.user_cache_directory("")

ardour.DAW = { title = "Ardour", install = "ardour", overrides = ardour.CHOICES_NAME,
  log_hint = core.join(data_dir, "pop2piano-bridge.log") }

local function now()
  return ARDOUR.LuaAPI.monotonic_time() / 1e6 -- g_get_monotonic_time: microseconds
end

function ardour.log_path()
  return core.join(data_dir, "pop2piano.log")
end

function ardour.bridge_log_path()
  return core.join(data_dir, "pop2piano-bridge.log")
end

-- Window → Log (print goes to PBD::info there), and a file a producer can send along.
function ardour.log(text)
  print("Pop2Piano: " .. text)
  local handle = io.open(ardour.log_path(), "ab")
  if handle then
    handle:write(os.date("%Y-%m-%d %H:%M:%S ") .. (text:gsub("\n+", " ")) .. "\n")
    handle:close()
  end
end
local log = ardour.log

local function message(text, kind)
  LuaDialog.Message("Pop2Piano", text, kind or LuaDialog.MessageType.Error, LuaDialog.ButtonType.Close):run()
end

---------------------------------------------------------------------------------------------------
-- Settings: defaults < pop2piano-bridge.json < pop2piano-choices.json (docs/ardour.md).

local function read_json_object(path)
  local text = core.read_file(path)
  if not text then return nil end
  local ok, value = pcall(json.decode, text)
  if ok and type(value) == "table" then return value end
  return nil, tostring(value)
end

function ardour.choices()
  local path = core.join(scripts_dir, ardour.CHOICES_NAME)
  local choices, why = read_json_object(path)
  if why then log(path .. " is not readable JSON (" .. why .. "); using no remembered choices.") end
  return choices or {}
end

function ardour.save_choice(key, value)
  local choices = ardour.choices()
  choices[key] = value
  local path = core.join(scripts_dir, ardour.CHOICES_NAME)
  local ok, err = core.write_file(path, json.encode(choices) .. "\n")
  if not ok then log("could not remember " .. key .. " in " .. path .. ": " .. tostring(err)) end
end

function ardour.settings()
  local path = core.join(scripts_dir, core.CONFIG_NAME)
  local config, why = read_json_object(path)
  if why then
    log(path .. " is not readable JSON (" .. why .. "); using the defaults.")
  elseif not config then
    log("no " .. path .. "; using the defaults (run `pop2piano-bridge install ardour`).")
  end
  local choices = ardour.choices()
  local ext = {}
  for _, key in ipairs({ "bridge_command", "port", "secret", "composer" }) do
    local value = choices[key]
    if type(value) == "table" then value = json.encode(value) end -- a command as a JSON list
    ext[key] = value ~= nil and tostring(value) or ""
  end
  local settings, problems = core.settings(config, ext, ardour.CHOICES_NAME)
  for _, problem in ipairs(problems) do log(problem) end
  settings.grid = choices.grid == ardour.GRID_PROJECT and ardour.GRID_PROJECT or ardour.GRID_TRACKED
  return settings
end

---------------------------------------------------------------------------------------------------
-- Regions.

-- There is no call from a region to its track: ask each track's playlist, as Ardour's own
-- bounce_replace.lua does.
local function track_of(region)
  local id = region:to_stateful():id()
  for route in Session:get_tracks():iter() do
    local track = route:to_track()
    if not track:isnil() and not track:playlist():region_by_id(id):isnil() then return track end
  end
  return nil
end

-- Everything the request and the insertion need from one region, or nil and why it is skipped.
-- Ardour regions have no playback rate or pitch of their own (a stretched region has a new source
-- file), so the clip is the source from the region's start for its length.
function ardour.region_info(region)
  local audio = region:to_audioregion()
  if audio:isnil() then return nil, region:name() .. ": a MIDI region, not audio" end
  local file = region:source(0):to_filesource()
  if file:isnil() then return nil, region:name() .. ": has no source file" end
  -- Positions are samples at the engine's rate (timepos_t::samples uses the most recent engine
  -- rate), which is what seconds must be counted in.
  local rate = Session:sample_rate()
  local info = {
    region = region,
    name = region:name(),
    source_path = file:path(),
    rate = rate,
    pos_samples = region:position():samples(),
    start_samples = region:start():samples(),
    len_samples = region:length():samples(),
    channels = audio:n_channels(),
    track = track_of(region),
    tempo = Temporal.TempoMap.read():quarters_per_minute_at(region:position()),
    playrate = 1.0,
  }
  info.position, info.startoffs = info.pos_samples / rate, info.start_samples / rate
  info.length = info.len_samples / rate
  -- A stereo file imported (not embedded) is kept as one mono file per channel: the bridge hears
  -- the first; an embedded one is a single file whatever its channels.
  if info.channels > 1 then
    local other = region:source(1):to_filesource()
    if not other:isnil() and other:path() ~= info.source_path then info.first_channel_only = true end
  end
  return info
end

function ardour.selected_regions()
  local infos, skipped = {}, {}
  for region in Editor:get_selection().regions:regionlist():iter() do
    local info, why = ardour.region_info(region)
    if info then infos[#infos + 1] = info else skipped[#skipped + 1] = why end
  end
  return infos, skipped
end

-- The session's beats over a region, one beat beyond each end, in session seconds: whole quarter
-- notes of the tempo map (Temporal TempoMap: quarters_at, sample_at_beats) as the bridge's grid.
function ardour.session_beats(info)
  local tm = Temporal.TempoMap.read()
  local function to_qn(seconds) -- timepos_t:ticks() of a position in audio time: its place in the tempo map
    return Temporal.timepos_t(math.floor(seconds * info.rate + 0.5)):ticks() / Temporal.ticks_per_beat
  end
  local function to_time(q) return tm:sample_at_beats(Temporal.Beats(q, 0)) / info.rate end
  return core.quarter_note_times(to_qn, to_time, info.pos_samples / info.rate,
    (info.pos_samples + info.len_samples) / info.rate)
end

---------------------------------------------------------------------------------------------------
-- Running the bridge command. os.forkexec starts a program without waiting and without a shell
-- (gtk2_ardour/luainstance.cc: lua_forkexec → ARDOUR::SystemExec, which execve()s its first
-- argument: no PATH search). So on Linux and macOS it runs /bin/sh with a fixed script and the
-- command as the script's arguments: sh finds a bare "pop2piano-bridge" on the PATH, and user data
-- is only ever an argument, never part of a command line. A command that cannot be found is
-- reported at once (a status file); otherwise sh becomes the command (exec), with what it prints
-- kept in a file for the message should it never start.

local SH = "/bin/sh"
local SEND_SCRIPT = 'printed=$1 status=$2; shift 2; '
  .. 'command -v "$1" >/dev/null 2>&1 || { echo 127 >"$status"; exit 127; }; exec "$@" </dev/null >"$printed" 2>&1'
-- The bridge outlives Ardour: sh starts it in the background and exits.
local SERVE_SCRIPT = 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 &'

local function spawn(script, name, extra, argv)
  local args = argv -- Windows (not verified): no shell there, the command must be a full path
  if not windows then
    args = { SH, "-c", script, name }
    for _, a in ipairs(extra) do args[#args + 1] = a end
    for _, a in ipairs(argv) do args[#args + 1] = a end
  end
  -- forkexec's return value says nothing (7.3 returns false either way): success shows in the files.
  os.forkexec(table.unpack(args))
end

local counter = 0

local function new_id()
  counter = counter + 1
  return core.job_id("ardour", now(), counter, ARDOUR.LuaAPI.monotonic_time())
end

-- Write the request file and start `send`. Returns the job, or nil and a message.
function ardour.start_job(ctx, address, args, id)
  id = id or new_id()
  local base = core.join(data_dir, "pop2piano-" .. id)
  local t = now()
  local job = { id = id, address = address, started_at = t, heard_at = t, lines = {}, offset = 0,
    request_path = base .. ".request.json", out_path = base .. ".out.jsonl", stdio_path = base .. ".stdio.txt",
    status_path = base .. ".status" }
  local ok, text = pcall(core.request_json, address, args, ctx.settings, job.out_path)
  if not ok then return nil, "Cannot send this to the bridge: " .. tostring(text) end
  for _, path in ipairs({ job.out_path, job.stdio_path, job.status_path }) do os.remove(path) end
  local written, err = core.write_file(job.request_path, text)
  if not written then return nil, "Cannot write " .. job.request_path .. ": " .. tostring(err) end
  job.argv = core.send_argv(ctx.settings.command, job.request_path)
  spawn(SEND_SCRIPT, "pop2piano-send", { job.stdio_path, job.status_path }, job.argv)
  return job
end

-- Every file of a job goes, whatever happened (the request may hold the secret).
function ardour.end_job(job)
  for _, path in ipairs({ job.request_path, job.out_path, job.stdio_path, job.status_path }) do os.remove(path) end
end

-- What the command printed, for a message (its first lines).
local function printed_text(job)
  local text = (core.read_file(job.stdio_path) or ""):match("^%s*(.-)%s*$")
  if #text > 400 then text = text:sub(1, 400) .. "…" end
  return text
end

-- Read what `send` wrote so far. Returns its state, and a message when it cannot go on.
function ardour.poll_job(ctx, job)
  if core.read_new_lines(job) then job.heard_at = now() end
  local state = core.job_state(job.lines)
  if not state.started and core.read_file(job.status_path) then
    return state, core.not_started_message(ardour.DAW, ctx.settings.command,
      "It was not found" .. (ctx.settings.command[1]:find("[/\\]") and "." or " on the PATH Ardour was started with."))
  end
  local missed = core.missed_deadline(state, job.started_at, job.heard_at, now())
  if missed == "not_started" then
    local printed = printed_text(job)
    return state, core.not_started_message(ardour.DAW, ctx.settings.command,
      string.format("It wrote nothing within %d s%s", core.STARTED_WITHIN,
        printed ~= "" and (". It printed:\n    " .. printed) or "."))
  elseif missed == "silent" then
    return state, core.silent_message(ardour.DAW, job.what or "waiting for it")
  end
  return state
end

---------------------------------------------------------------------------------------------------
-- Waiting inside the progress window. An EditorAction cannot ask to be called back later (no Lua
-- binding registers a timer), so it waits in a loop; LuaDialog.ProgressWindow:progress runs
-- ARDOUR::GUIIdle (gtk2_ardour/luadialog.cc), so Ardour keeps drawing and answering meanwhile, and
-- it returns true once Cancel was pressed (as Ardour's vamp_audio_to_midi.lua uses it).

-- Show progress for about `seconds`, pumping the GUI every 20 ms. Sets ctx.cancelled on Cancel.
local function pause(ctx, seconds, fraction, text)
  local until_time = now() + seconds
  repeat
    if ctx.pd:progress(fraction, text) and not ctx.cancelled then
      ctx.cancelled = true
      log("Cancel pressed")
    end
    ARDOUR.LuaAPI.usleep(20000)
  until now() >= until_time
end

-- Cancel a job the bridge has accepted: one OSC message, no answer needed (the job's own `send`
-- reports `cancelled`). Sent from Lua (ARDOUR.LuaOSC, libs/ardour/luabindings.cc); its `send`
-- returns false even when the message went out (7.3), so the result is not looked at.
local function send_cancel(ctx, job)
  local host = ctx.settings.host
  if host:find(":", 1, true) then host = "[" .. host .. "]" end
  local address = ARDOUR.LuaOSC.Address("osc.udp://" .. host .. ":" .. ctx.settings.port)
  if ctx.settings.secret ~= "" then
    address:send("/pop2piano/cancel", "sss", job.id, "secret", ctx.settings.secret)
  else
    address:send("/pop2piano/cancel", "s", job.id)
  end
  job.cancel_sent_at = now()
  log("cancel sent for " .. job.id)
end

-- Follow a job until it ends. label(state) is the progress text.
local function follow(ctx, job, label, cancellable)
  local stage
  while true do
    local state, failure = ardour.poll_job(ctx, job)
    if failure or state.finished then return state, failure end
    if cancellable and state.started and state.stage ~= stage then -- a job's stages, once each, in the log
      stage = state.stage
      log(string.format("%s: %s %d%%", job.what, stage, math.floor(state.fraction * 100 + 0.5)))
    end
    if ctx.cancelled then
      if not cancellable then return state, nil end -- a question (ping, composers): stop waiting
      -- A cancel that reaches the bridge before the job does is answered not_found and the job
      -- runs on: send it once the bridge has accepted the job, then wait for the job to end.
      if state.accepted and not job.cancel_sent_at then send_cancel(ctx, job) end
      if job.cancel_sent_at and now() - job.cancel_sent_at > ardour.CANCEL_WAIT then return state, nil end
    end
    pause(ctx, 0.1, state.fraction, ctx.cancelled and "Cancelling…" or label(state))
  end
end

-- Start a bridge in the background and wait until it answers a ping (contract §5).
-- Returns true, or false and a message.
function ardour.ensure_running(ctx)
  local settings, log_path = ctx.settings, ardour.bridge_log_path()
  local shared = pop2piano_state -- survives between runs in the Lua state the action slots share
  local since = shared.bridge_started_at
  if not (since and now() - since < core.START_WAIT) then
    spawn(SERVE_SCRIPT, "pop2piano-serve", { log_path }, core.serve_argv(settings.command, log_path, settings.port))
    since = now()
    shared.bridge_started_at = since
    log("the bridge was not running: started it in the background (log: " .. log_path .. ")")
  end
  while now() - since < core.START_WAIT do
    local job, failure = ardour.start_job(ctx, "/pop2piano/ping", {})
    if not job then return false, failure end
    job.what = "starting"
    local state
    state, failure = follow(ctx, job, function()
      return string.format("Starting the bridge (loading the model, %d s)…", math.floor(now() - since))
    end, false)
    ardour.end_job(job)
    if failure then return false, failure end
    if ctx.cancelled then return false, nil end
    if core.reply(state, "/pop2piano/pong") then
      shared.bridge_started_at = nil
      log("the bridge answers.")
      return true
    end
    pause(ctx, 0.5, -1, "Starting the bridge…") -- each `send` itself waits ~5 s for an answer
  end
  shared.bridge_started_at = nil
  return false, core.not_running_message(ardour.DAW, settings.host, settings.port, log_path, true)
end

-- One request, followed to its end. A bridge on this machine that is not running is started and
-- the request sent again. Returns the state and a message when the request could not be made.
function ardour.request(ctx, address, args, options)
  local restarted = false
  while true do
    local job, failure = ardour.start_job(ctx, address, args, options.id)
    if not job then return nil, failure end
    job.what = options.what
    local state
    state, failure = follow(ctx, job, options.label, options.cancellable)
    ardour.end_job(job)
    if failure or ctx.cancelled or not state.not_running then return state, failure end
    if restarted or not core.is_loopback(ctx.settings.host) then
      return state, core.not_running_message(ardour.DAW, ctx.settings.host, ctx.settings.port,
        ardour.bridge_log_path(), restarted)
    end
    restarted = true
    local ok, why = ardour.ensure_running(ctx)
    if not ok then return state, why end
  end
end

---------------------------------------------------------------------------------------------------
-- The new track, its region and the notes.

local function instrument()
  for _, uri in ipairs(ardour.INSTRUMENTS) do
    local info = ARDOUR.LuaAPI.new_plugin_info(uri, ARDOUR.PluginType.LV2) -- by name or URI (lua_api.cc)
    if not info:isnil() then return info end
  end
  return ARDOUR.PluginInfo() -- none: the track still holds the notes
end

-- A new MIDI track right under the region's track, holding one MIDI region at exactly the audio
-- region's position and length, with the notes where the producer hears them: session seconds
-- through the tempo map to beats. Nothing else in the session changes.
--
-- Undo: Ardour 7.3's Lua can add notes only with MidiModel:apply_command, which is
-- apply_diff_command_as_commit (luabindings.cc): it opens and commits an undo step of its own, and
-- inside another open step Session::begin_reversible_command aborts both (session_state.cc; the
-- variant that adds to an open step, apply_diff_command_as_subcommand, is not bound). So the notes
-- go into the region's model first, before the region is anywhere, and the region is then added in
-- a step of its own: one Undo takes the whole visible result away (docs/ardour.md).
function ardour.insert(info, document, composer)
  local times, dropped = core.note_times(document, { position = info.position, length = info.length })
  local tm = Temporal.TempoMap.read()
  local region_q = tm:quarters_at(Temporal.timepos_t(info.pos_samples))
  local one_tick = Temporal.Beats(0, 1)
  local notes = {}
  for _, n in ipairs(times) do
    local q0 = tm:quarters_at(Temporal.timepos_t(math.floor(n.t0 * info.rate + 0.5)))
    local q1 = tm:quarters_at(Temporal.timepos_t(math.floor(n.t1 * info.rate + 0.5)))
    local length = q1 - q0
    if length < one_tick then length = one_tick end
    notes[#notes + 1] = { time = q0 - region_q, length = length, pitch = n.pitch,
      velocity = math.max(1, math.min(127, n.velocity)) }
  end

  local name = core.track_name(info.name, composer)
  local order = ARDOUR.PresentationInfo.max_order
  if info.track then order = info.track:presentation_info_ptr():order() + 1 end -- as add_audio_track.lua
  local midi = ARDOUR.ChanCount(ARDOUR.DataType("midi"), 1)
  local tracks = Session:new_midi_track(midi, midi, false, instrument(), nil, nil, 1, name, order,
    ARDOUR.TrackMode.Normal, true, false)
  if tracks:empty() then error("Ardour did not create the MIDI track") end
  local track = tracks:front()

  -- Lua cannot make a MIDI source or region directly (no SourceFactory, no RegionFactory.create),
  -- but bouncing the new, empty track over the audio region's range makes exactly that: a new
  -- MIDI file and a region of that position and length. The bounce must end before the
  -- instrument, or it renders audio.
  local endpoint = track:the_instrument()
  if endpoint:isnil() then endpoint = track:main_outs() end
  local region = track:bounce_range(info.pos_samples, info.pos_samples + info.len_samples, ARDOUR.InterThreadInfo(),
    endpoint, false, name)
  if region:isnil() or region:to_midiregion():isnil() then
    error("Ardour could not make the MIDI region; the empty track '" .. track:name() .. "' is left: remove it")
  end

  local model = region:to_midiregion():model()
  local command = model:new_note_diff_command("Pop2Piano notes: " .. name)
  for _, n in ipairs(notes) do
    -- channel 0, time from the region's start, length, pitch, velocity (as vamp_audio_to_midi.lua)
    command:add(ARDOUR.LuaAPI.new_noteptr(0, n.time, n.length, n.pitch, n.velocity))
  end
  model:apply_command(Session, command)

  local playlist = track:playlist()
  Session:begin_reversible_command("Pop2Piano: " .. name) -- as bounce_replace.lua
  playlist:to_stateful():clear_changes()
  playlist:add_region(region, Temporal.timepos_t(info.pos_samples), 1, false)
  Session:add_stateful_diff_command(playlist:to_statefuldestructible())
  Session:commit_reversible_command(nil)
  return track, #notes, dropped
end

---------------------------------------------------------------------------------------------------
-- Converting.

-- <session>/Pop2Piano (created), where the MIDI and notes files go; nil where it cannot be made
-- (the bridge then writes beside the audio).
function ardour.out_dir()
  local dir = core.join(Session:path(), "Pop2Piano")
  if ARDOUR.LuaAPI.file_test(dir, ARDOUR.LuaAPI.FileTest.IsDir) then return dir end
  if os.execute and not windows then
    -- Ardour's os.execute runs `/bin/sh -c` and waits (luainstance.cc, lua_exec): one quoted word.
    os.execute("mkdir -p -- '" .. (dir:gsub("'", "'\\''")) .. "'")
  end
  if ARDOUR.LuaAPI.file_test(dir, ARDOUR.LuaAPI.FileTest.IsDir) then return dir end
  log("could not create " .. dir .. "; the bridge writes beside the audio instead")
  return nil
end

local function stage_text(info, index, total, state)
  local stage = state.stage == "starting" and "starting the bridge command" or state.stage
  return string.format("%s (%d of %d): %s %d%%", info.name, index, total, stage, math.floor(state.fraction * 100 + 0.5))
end

-- Convert one region and insert its notes. Returns {info, error, count, stop, message}.
function ardour.convert_region(ctx, info, index, total)
  local request, why = core.request_for_item(info)
  if not request then return { info = info, error = why } end
  local id = new_id()
  local options = { composer = ctx.settings.composer, output = "file", out_dir = ctx.out_dir }
  local beats_path
  if ctx.settings.grid == ardour.GRID_PROJECT then
    beats_path = core.join(data_dir, "pop2piano-" .. id .. ".beats.json")
    local beats = core.source_beats(ardour.session_beats(info), info.position, info.startoffs, 1)
    local ok, err = core.write_beats_file(beats_path, beats)
    if not ok then return { info = info, error = "cannot write " .. beats_path .. ": " .. tostring(err) } end
    options.beats_file = beats_path
  end
  local args = core.convert_args(id, request, options)
  log(string.format("%s: converting %s from %.3f s for %.3f s with %s, %s%s", info.name, request.path, request.start,
    request.duration, options.composer ~= "" and options.composer or "the default style",
    beats_path and "on the session's tempo map" or "beats tracked by the bridge",
    info.first_channel_only and " (the first channel of this imported multichannel region)" or ""))
  local state, failure = ardour.request(ctx, "/pop2piano/convert", args, { id = id, what = "converting " .. info.name,
    cancellable = true, label = function(s) return stage_text(info, index, total, s) end })
  if beats_path then os.remove(beats_path) end -- the bridge reads it when the job starts
  if failure then return { info = info, error = failure, stop = true, message = failure } end
  if ctx.cancelled then
    -- a job that ended anyway is not inserted: the producer asked to stop
    log(info.name .. (state.cancelled and ": cancelled (the bridge confirmed it)"
      or ": cancelled (whatever the bridge does with it is not inserted)"))
    return { info = info, error = "cancelled", cancelled = true }
  end
  if state.error then
    if state.error.code == "model_unavailable" then
      local text = core.model_unavailable_message(state.error.message)
      return { info = info, error = state.error.message, stop = true, message = text }
    end
    log(string.format("%s: error %s: %s", info.name, state.error.code, state.error.message))
    return { info = info, error = state.error.message }
  end
  if state.cancelled then return { info = info, error = "cancelled" } end
  if state.client_error then
    log(string.format("%s: %s: %s", info.name, state.client_error.code, state.client_error.message))
    return { info = info, error = state.client_error.message }
  end
  if not state.done then return { info = info, error = "the bridge command ended without a result" } end
  local text = core.read_file(state.done.notes)
  local ok, document = pcall(json.decode, text or "")
  if not text or not ok then
    return { info = info, error = "could not read " .. tostring(state.done.notes) .. (ok and "" or (": " .. document)) }
  end
  -- the style the bridge used: the one asked for, or its default (named in the notes JSON)
  local composer = type(document.composer) == "string" and document.composer or options.composer
  local inserted, track, count, dropped = pcall(ardour.insert, info, document, composer)
  if not inserted then
    log(info.name .. ": " .. tostring(track))
    return { info = info, error = tostring(track) }
  end
  log(string.format("%s: %d notes on the new track '%s'%s (notes: %s)", info.name, count, track:name(),
    dropped > 0 and string.format(", %d left out", dropped) or "", state.done.notes))
  return { info = info, count = count }
end

-- The bridge's composers, or nil after telling the producer why.
function ardour.composers(ctx)
  local state, failure = ardour.request(ctx, "/pop2piano/composers", {}, { what = "asking for its composers",
    label = function() return "Asking the bridge for its composers…" end })
  if ctx.cancelled then return nil end
  local composers, text = core.composers_from(state, failure)
  if not composers then
    log(text)
    message(text)
  end
  return composers
end

-- The "choose composer" dialog: composer and grid, remembered. Returns true to go on.
function ardour.choose(ctx, composers)
  local labels = core.composer_labels(composers)
  local current = core.composer_label(ctx.settings.composer, composers) or core.composer_label(composers[1], composers)
  local grids = { ["Beats tracked by the bridge"] = ardour.GRID_TRACKED,
    ["The session's tempo map (project grid)"] = ardour.GRID_PROJECT }
  local grid_default = ctx.settings.grid == ardour.GRID_PROJECT and "The session's tempo map (project grid)"
    or "Beats tracked by the bridge"
  -- widget types and fields: gtk2_ardour/luadialog.cc (Dialog::Dialog); a dropdown sorts its labels
  local answer = LuaDialog.Dialog("Pop2Piano: choose composer", {
    { type = "heading", title = "Convert the selected regions to piano" },
    { type = "dropdown", key = "composer", title = "Composer", values = labels, default = current },
    { type = "radio", key = "grid", title = "Notes on", values = grids, default = grid_default },
  }):run()
  if not answer or not answer.composer then return false end
  ctx.settings.composer, ctx.settings.grid = answer.composer, answer.grid or ardour.GRID_TRACKED
  ardour.save_choice("composer", answer.composer)
  ardour.save_choice("grid", ctx.settings.grid)
  log("chose " .. answer.composer .. ", notes on "
    .. (ctx.settings.grid == ardour.GRID_PROJECT and "the session's tempo map" or "tracked beats"))
  return true
end

-- Ardour selects the tracks it adds, which drops the region selection: select the regions the
-- producer had selected again, so that the next conversion (another composer?) is one click away.
local function restore_selection(infos)
  local selection = ArdourUI.SelectionList()
  for _, info in ipairs(infos) do
    local view = Editor:regionview_from_region(info.region)
    if view then selection:push_back(view) end
  end
  Editor:set_selection(selection, ArdourUI.SelectionOp.Set) -- as select_every_2nd_region.lua
end

-- Run fn with the progress window up; the window goes whatever happens (it is modal).
local function with_progress(ctx, fn)
  ctx.pd = LuaDialog.ProgressWindow("Pop2Piano", true)
  local ok, result = pcall(fn)
  ctx.pd:done()
  ctx.pd = nil
  if not ok then error(result, 0) end
  return result
end

local function convert_selected(options)
  local infos, skipped = ardour.selected_regions()
  if #infos == 0 then
    local text = "Select one or more audio regions first."
      .. (#skipped > 0 and ("\n(skipped: " .. table.concat(skipped, ", ") .. ")") or "")
    log(text)
    message(text, LuaDialog.MessageType.Info)
    return
  end
  for _, why in ipairs(skipped) do log("skipped " .. why) end
  local ctx = { settings = ardour.settings() }
  if options.choose then
    local composers = with_progress(ctx, function() return ardour.composers(ctx) end)
    if not composers or not ardour.choose(ctx, composers) then
      log("finished: nothing converted")
      return
    end
  end
  ctx.out_dir = ardour.out_dir()
  local results = {}
  with_progress(ctx, function()
    for i, info in ipairs(infos) do
      if ctx.cancelled then break end
      local result = ardour.convert_region(ctx, info, i, #infos)
      results[#results + 1] = result
      if result.stop then break end
    end
  end)
  restore_selection(infos)
  local problems, stop_message, converted = {}, nil, 0
  for _, r in ipairs(results) do
    if r.count then converted = converted + 1 end
    if r.stop then stop_message = r.message
    elseif r.error and not r.cancelled then problems[#problems + 1] = r.info.name .. ": " .. r.error end
  end
  log(string.format("finished: %d of %d regions converted%s", converted, #infos,
    ctx.cancelled and " (cancelled)" or ""))
  if stop_message then
    log(stop_message)
    message(stop_message)
  elseif #problems > 0 then
    local text = "No notes for:\n" .. table.concat(problems, "\n")
    log(text)
    message(text)
  end
end

-- The actions' entry point. Nothing may escape it: an error that leaves an action makes Ardour
-- drop the action from its slot until restart.
function ardour.run_action(options)
  pop2piano_state = pop2piano_state or {}
  if pop2piano_state.busy then
    log("a conversion is already running")
    return
  end
  pop2piano_state.busy = true
  local ok, err = pcall(convert_selected, options or {})
  pop2piano_state.busy = false
  if not ok then
    log("error: " .. tostring(err))
    message("Pop2Piano stopped on an error:\n" .. tostring(err) .. "\n\nThe scripts' log: " .. ardour.log_path())
  end
end

return ardour
