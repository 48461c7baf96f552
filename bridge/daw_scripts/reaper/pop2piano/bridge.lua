-- REAPER side of the Pop2Piano scripts: read items and settings, run `pop2piano-bridge send
-- --request FILE` in the background, follow its output from a defer loop (REAPER never waits),
-- start the bridge when it is not running, insert the notes. The host-neutral logic is in
-- core.lua (shared with the Ardour scripts); REAPER's command lines in launch.lua.
local core = require("core")
local json = require("json")
local launch = require("launch")

local bridge = {}
-- ExtState section of every setting and flag (docs/reaper.md lists the keys).
local SECTION = "Pop2Piano"
-- REAPER in the producer's words, for the core's messages.
local DAW = { title = "REAPER", install = "reaper", overrides = "ExtState",
  log_hint = "Data/Pop2Piano/bridge.log in REAPER's resource folder" }
-- Non-persistent ExtState: when REAPER started a bridge (time_precise), so no second one is
-- started while it loads, by this action or another one.
local STARTING_KEY = "bridge_starting_since"
-- Which beats the notes follow (ExtState "grid", set by the "choose composer" action): the ones the
-- bridge tracks in the audio (the default), or the project's tempo map.
bridge.GRID_TRACKED, bridge.GRID_PROJECT = "tracked", "project"

function bridge.log(text)
  reaper.ShowConsoleMsg("[Pop2Piano] " .. text .. "\n")
end

local function windows()
  return launch.is_windows(reaper.GetOS())
end

-- Once per REAPER session (a non-persistent ExtState flag), for notes that would repeat.
local function first_time(what)
  local key = "said:" .. what
  if reaper.GetExtState(SECTION, key) ~= "" then return false end
  reaper.SetExtState(SECTION, key, "1", false)
  return true
end

local read_file, write_file = core.read_file, core.write_file

-- The folder of the running action script: `pop2piano-bridge install reaper` put
-- pop2piano-bridge.json there (contract §1).
function bridge.script_dir()
  local _, path = reaper.get_action_context()
  return core.dirname(path or "")
end

-- Settings: defaults < pop2piano-bridge.json < non-empty ExtState (docs/reaper.md).
function bridge.settings()
  local path = core.join(bridge.script_dir(), core.CONFIG_NAME)
  local text = read_file(path)
  local config = nil
  if text then
    local ok, value = pcall(json.decode, text)
    if ok and type(value) == "table" then
      config = value
    elseif first_time("config unreadable") then
      bridge.log(path .. " is not readable JSON (" .. tostring(value) .. "); using the defaults.")
    end
  elseif first_time("config missing") then
    bridge.log("no " .. path .. "; using the defaults (run `pop2piano-bridge install reaper`).")
  end
  local ext = {}
  for _, key in ipairs({ "bridge_command", "port", "secret", "composer", "output", "grid", "audition" }) do
    ext[key] = reaper.GetExtState(SECTION, key)
  end
  local settings, problems = core.settings(config, ext, "ExtState")
  settings.grid = ext.grid == bridge.GRID_PROJECT and bridge.GRID_PROJECT or bridge.GRID_TRACKED
  settings.audition = ext.audition ~= "" and ext.audition or "all"
  for _, problem in ipairs(problems) do
    if first_time(problem) then bridge.log(problem) end
  end
  return settings
end

function bridge.save_setting(key, value)
  reaper.SetExtState(SECTION, key, tostring(value), true)
end

-- <resource path>/Data/Pop2Piano (created): request and output files, the bridge's log.
function bridge.data_dir()
  local folder = core.join(reaper.GetResourcePath(), "Data", "Pop2Piano")
  reaper.RecursiveCreateDirectory(folder, 0)
  return folder
end

function bridge.log_path()
  return core.join(bridge.data_dir(), "bridge.log")
end

-- The project's Pop2Piano folder (created), where MIDI and notes files go.
function bridge.out_dir()
  local folder = core.join(reaper.GetProjectPath(""), "Pop2Piano")
  reaper.RecursiveCreateDirectory(folder, 0)
  return folder
end

-- Start argv in the background. Returns true, or nil and why.
function bridge.spawn(argv)
  local line, why = launch.command_line(argv, windows())
  if not line then return nil, why end
  -- -2: no wait (and minimised on Windows; the installed Windows command opens no window anyway).
  if reaper.ExecProcess(line, -2) == nil then
    return nil, "REAPER could not start it (not found, or not a program)."
  end
  return true
end

---------------------------------------------------------------------------------------------------
-- One `send --request` run.

local counter = 0

-- Write the request and start `send`. Returns the job, or nil and a message for the producer.
function bridge.start_job(settings, address, args, id)
  counter = counter + 1
  local now = reaper.time_precise()
  id = id or core.job_id("reaper", now, counter, math.random(0, 9999))
  local dir = bridge.data_dir()
  local job = { id = id, address = address, settings = settings, started_at = now, heard_at = now,
    lines = {}, offset = 0, -- complete lines read so far, and where the next one starts in the file
    request_path = core.join(dir, id .. ".request.json"), out_path = core.join(dir, id .. ".out.jsonl") }
  local ok, text = pcall(core.request_json, address, args, settings, job.out_path)
  if not ok then return nil, "Cannot send this to the bridge: " .. tostring(text) end
  local written, err = write_file(job.request_path, text)
  if not written then return nil, "Cannot write " .. job.request_path .. ": " .. tostring(err) end
  os.remove(job.out_path)
  job.argv = core.send_argv(settings.command, job.request_path)
  local started, why = bridge.spawn(job.argv)
  if not started then
    bridge.end_job(job)
    return nil, core.not_started_message(DAW, settings.command, why)
  end
  return job
end

-- Remove a file now, or retry for a while from the defer loop: on Windows a file the bridge still
-- has open (it writes "#exit", then closes) cannot be deleted yet.
local function remove_soon(path)
  local give_up = reaper.time_precise() + 10
  local function try()
    if os.remove(path) or not reaper.file_exists(path) then return end
    if reaper.time_precise() < give_up then reaper.defer(try) end
  end
  try()
end

-- Both files go whatever happened (the request may hold the secret).
function bridge.end_job(job)
  remove_soon(job.request_path)
  remove_soon(job.out_path)
end

-- Read what `send` wrote so far. Returns its state, and a message when a deadline passed.
function bridge.poll_job(job)
  local now = reaper.time_precise()
  if core.read_new_lines(job) then job.heard_at = now end
  local state = core.job_state(job.lines)
  local missed = core.missed_deadline(state, job.started_at, job.heard_at, now)
  if missed == "not_started" then
    -- The only blocking call of these scripts, and only here: ask the command what it is.
    local line = launch.command_line(core.concat(job.settings.command, { "--version" }), windows())
    local result = line and reaper.ExecProcess(line, launch.DIAGNOSE_MS)
    return state, core.not_started_message(DAW, job.settings.command, launch.diagnosis(result))
  end
  if missed == "silent" then
    return state, core.silent_message(DAW, job.what or "waiting for it")
  end
  return state
end

---------------------------------------------------------------------------------------------------
-- Starting the bridge (contract §5).

-- Make sure a bridge answers pings, starting one if none is coming up. done(true) or
-- done(false, message), from the defer loop.
function bridge.ensure_running(settings, done)
  local now = reaper.time_precise()
  local since = tonumber(reaper.GetExtState(SECTION, STARTING_KEY))
  local log_path = bridge.log_path()
  if since and now >= since and now - since < core.START_WAIT then
    bridge.log("the bridge is starting (a Pop2Piano action started it); waiting for it to answer…")
  else
    local argv = core.serve_argv(settings.command, log_path, settings.port)
    local ok, why = bridge.spawn(argv)
    if not ok then
      done(false, core.not_started_message(DAW, settings.command, why))
      return
    end
    since = now
    reaper.SetExtState(SECTION, STARTING_KEY, string.format("%.3f", now), false)
    bridge.log("the bridge was not running: started it in the background (log: " .. log_path
      .. "); waiting for it to answer…")
  end
  local function ping()
    local job, failure = bridge.start_job(settings, "/pop2piano/ping", {})
    if not job then
      done(false, failure)
      return
    end
    job.what = "starting"
    local function tick()
      local state, late = bridge.poll_job(job)
      if late then
        bridge.end_job(job)
        done(false, late)
      elseif not state.finished then
        reaper.defer(tick)
      else
        bridge.end_job(job)
        if core.reply(state, "/pop2piano/pong") then
          reaper.DeleteExtState(SECTION, STARTING_KEY, false)
          bridge.log("the bridge answers.")
          done(true)
        elseif reaper.time_precise() - since >= core.START_WAIT then
          reaper.DeleteExtState(SECTION, STARTING_KEY, false)
          done(false, core.not_running_message(DAW, settings.host, settings.port, log_path, true))
        else
          reaper.defer(ping) -- each `send` itself waits ~5 s for an answer
        end
      end
    end
    tick()
  end
  ping()
end

-- Run one request from the defer loop. on_end(state, failure) once: failure is a message when
-- the request could not be made (the state then says how far it got); on_update(state) while
-- it runs. A bridge on this machine that is not running is started and the request sent again.
function bridge.request(settings, address, args, on_end, options)
  options = options or {}
  local job, failure = bridge.start_job(settings, address, args, options.id)
  if not job then
    on_end(nil, failure)
    return
  end
  job.what = options.what
  local restarted = false
  local function tick()
    local state, late = bridge.poll_job(job)
    if options.on_update then options.on_update(state) end
    if late then
      bridge.end_job(job)
      on_end(state, late)
      return
    end
    if not state.finished then
      reaper.defer(tick)
      return
    end
    bridge.end_job(job)
    if state.not_running and not restarted and options.start ~= false and core.is_loopback(settings.host) then
      restarted = true
      bridge.ensure_running(settings, function(ok, why)
        if not ok then
          on_end(state, why)
          return
        end
        job, failure = bridge.start_job(settings, address, args, options.id)
        if not job then
          on_end(nil, failure)
          return
        end
        job.what = options.what
        reaper.defer(tick)
      end)
      return
    end
    if state.not_running then
      on_end(state, core.not_running_message(DAW, settings.host, settings.port, bridge.log_path(), restarted))
      return
    end
    on_end(state, nil)
  end
  tick()
end

---------------------------------------------------------------------------------------------------
-- Items.

-- Everything the request needs from one item, or nil and why it is skipped.
function bridge.item_info(item)
  local take = reaper.GetActiveTake(item)
  if not take then return nil, "item has no take" end
  if reaper.TakeIsMIDI(take) then return nil, "item is MIDI, not audio" end
  local source = reaper.GetMediaItemTake_Source(take)
  if not source then return nil, "take has no source" end
  local source_length, length_is_qn = reaper.GetMediaSourceLength(source)
  if length_is_qn then return nil, "take's source is beat-based, not audio" end
  -- Walk from the take's source to the file: every section adds its offset into its parent;
  -- a reversed block anywhere reverses what is heard.
  local offset, reversed, node = 0, false, source
  for _ = 1, 64 do
    local is_section, offs, _, rev = reaper.PCM_Source_GetSectionInfo(node)
    if is_section then
      offset = offset + offs
      reversed = reversed ~= (rev and true or false)
    end
    local parent = reaper.GetMediaSourceParent(node)
    if not parent then break end
    node = parent
  end
  local path = reaper.GetMediaSourceFileName(node, "")
  if not path or path == "" then return nil, "take has no source file" end
  local markers = {}
  for i = 0, reaper.GetTakeNumStretchMarkers(take) - 1 do
    local _, pos, srcpos = reaper.GetTakeStretchMarker(take, i)
    local slope = reaper.GetTakeStretchMarkerSlope and reaper.GetTakeStretchMarkerSlope(take, i) or 0
    markers[#markers + 1] = { pos = pos, srcpos = srcpos, slope = slope }
  end
  local position = reaper.GetMediaItemInfo_Value(item, "D_POSITION")
  local _, _, tempo = reaper.TimeMap_GetTimeSigAtTime(0, position)
  return {
    item = item,
    take = take,
    track = reaper.GetMediaItem_Track(item),
    name = reaper.GetTakeName(take),
    position = position,
    length = reaper.GetMediaItemInfo_Value(item, "D_LENGTH"),
    startoffs = reaper.GetMediaItemTakeInfo_Value(take, "D_STARTOFFS"),
    playrate = reaper.GetMediaItemTakeInfo_Value(take, "D_PLAYRATE"),
    pitch = reaper.GetMediaItemTakeInfo_Value(take, "D_PITCH"),
    preserve_pitch = reaper.GetMediaItemTakeInfo_Value(take, "B_PPITCH") ~= 0,
    source_path = path,
    source_length = source_length,
    section_offset = offset,
    reversed = reversed,
    stretch_markers = markers,
    tempo = tempo,
  }
end

function bridge.selected_audio_items()
  local items, skipped = {}, {}
  for i = 0, reaper.CountSelectedMediaItems(0) - 1 do
    local item = reaper.GetSelectedMediaItem(0, i)
    local info, why = bridge.item_info(item)
    if info then items[#items + 1] = info else skipped[#skipped + 1] = why end
  end
  return items, skipped
end

-- The selected audio items, or nil after telling the user what to select.
function bridge.selected_or_warn(what)
  local items, skipped = bridge.selected_audio_items()
  if #items == 0 then
    reaper.ShowMessageBox("Select " .. what .. " first." ..
      (#skipped > 0 and ("\n(skipped: " .. table.concat(skipped, ", ") .. ")") or ""), "Pop2Piano", 0)
    return nil
  end
  return items
end

-- One undo point around fn (which changes the project), the arrange view redrawn once.
local function undo_point(description, fn)
  reaper.Undo_BeginBlock()
  reaper.PreventUIRefresh(1)
  local result = table.pack(pcall(fn))
  reaper.PreventUIRefresh(-1)
  reaper.UpdateArrange()
  reaper.Undo_EndBlock(description, -1)
  if not result[1] then error(result[2], 0) end
  return table.unpack(result, 2, result.n)
end

-- A new track right under the item's track, named.
local function track_under(info, name)
  local index = math.floor(reaper.GetMediaTrackInfo_Value(info.track, "IP_TRACKNUMBER")) -- 1-based → next slot
  reaper.InsertTrackAtIndex(index, true)
  local track = reaper.GetTrack(0, index)
  reaper.GetSetMediaTrackInfo_String(track, "P_NAME", name, true)
  return track
end

-- Name a MIDI take and put the notes in it. Ticks from project times through REAPER's own tempo
-- map: right under any tempo changes.
local function fill_take(take, name, times)
  reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", name, true)
  for _, n in ipairs(times) do
    local p0 = reaper.MIDI_GetPPQPosFromProjTime(take, n.t0)
    local p1 = reaper.MIDI_GetPPQPosFromProjTime(take, n.t1)
    reaper.MIDI_InsertNote(take, false, false, p0, p1, 0, n.pitch, n.velocity, true)
  end
  reaper.MIDI_Sort(take)
end

local function note_times(info, document, placement, position)
  return core.note_times(document, { position = position or info.position, length = info.length,
    shift = placement.shift, transpose = placement.transpose })
end

-- A new track right under the item's track holding a MIDI item with the notes: one undo point,
-- and nothing else in the project changes.
function bridge.insert(info, document, composer, placement)
  local times, dropped = note_times(info, document, placement)
  local name = core.track_name(info.name, composer)
  local track, item = undo_point("Pop2Piano: " .. name, function()
    local track = track_under(info, name)
    local item = reaper.CreateNewMIDIItemInProj(track, info.position, info.position + info.length, false)
    fill_take(reaper.GetActiveTake(item), name, times)
    return track, item
  end)
  return track, item, #times, dropped
end

-- The notes document a finished request names, or nil and why.
local function read_notes(path)
  local text = read_file(path or "")
  local ok, document = pcall(json.decode, text or "")
  if not text or not ok or type(document) ~= "table" then
    return nil, "could not read " .. tostring(path) .. (ok and "" or (": " .. tostring(document)))
  end
  return document
end

---------------------------------------------------------------------------------------------------
-- The project grid (docs/reaper.md): the quarter notes of REAPER's tempo map over the item, in
-- seconds of the item's file, written to a beats file the bridge reads when the job starts.

-- The project's quarter notes from one before the item to one after it, in project seconds.
function bridge.project_beats(info)
  local function to_qn(t) return reaper.TimeMap2_timeToQN(0, t) end
  local function to_time(qn) return reaper.TimeMap2_QNToTime(0, qn) end
  return core.quarter_note_times(to_qn, to_time, info.position, info.position + info.length)
end

-- The beats file of one request (in the project's Pop2Piano folder, named after the job), or nil
-- when the bridge tracks the beats. Returns {path, summary}, or nil and why it cannot be written.
function bridge.grid_file(info, job_id, grid)
  if grid ~= bridge.GRID_PROJECT then return nil end
  local times = bridge.project_beats(info)
  -- Project second t plays source second: section offset + start offset + (t - position) · rate.
  local beats = core.source_beats(times, info.position, (info.section_offset or 0) + info.startoffs, info.playrate)
  local path = core.join(bridge.out_dir(), job_id .. ".beats.json")
  local ok, err = core.write_beats_file(path, beats)
  if not ok then return nil, "cannot write " .. path .. ": " .. tostring(err) end
  return { path = path, summary = core.beats_summary(times) }
end

local function grid_text(grid)
  return grid and ("on the project grid (" .. grid.summary .. ")") or "on beats tracked by the bridge"
end

local function describe(request)
  local text = ""
  if request.transpose ~= 0 then
    text = string.format(", notes transposed %+d semitones as the take is heard", request.transpose)
  end
  if math.abs(request.semitones - request.transpose) > 0.01 then
    text = text .. string.format(" (the take is %+.2f semitones: notes go to the nearest key)", request.semitones)
  end
  if request.shift > core.EPSILON then
    text = text .. string.format(", the source starts %.3f s into the item", request.shift)
  end
  return text
end

-- What became of one item's conversion. Returns {info, error, count, …}; `stop` when the
-- remaining items would fail the same way (then `message` is for a message box).
local function conversion_result(info, request, state, failure, options)
  if failure then return { info = info, error = failure, stop = true, message = failure } end
  if state.error then
    if state.error.code == "model_unavailable" then
      local message = core.model_unavailable_message(state.error.message)
      return { info = info, error = state.error.message, stop = true, message = message }
    end
    bridge.log(string.format("%s: error %s: %s", info.name, state.error.code, state.error.message))
    return { info = info, error = state.error.message }
  end
  if state.cancelled then return { info = info, error = "cancelled" } end
  if state.client_error then
    bridge.log(string.format("%s: %s: %s", info.name, state.client_error.code, state.client_error.message))
    return { info = info, error = state.client_error.message }
  end
  if not state.done then return { info = info, error = "the bridge command ended without a result" } end
  local result = { info = info, midi = state.done.midi, notes = state.done.notes }
  if options.output ~= "live" then
    local document, why = read_notes(state.done.notes)
    if not document then
      result.error = why
      bridge.log(why)
      return result
    end
    -- the style the bridge used: the one asked for, or its default (named in the notes JSON)
    local composer = type(document.composer) == "string" and document.composer or options.composer
    local _, _, count, dropped = bridge.insert(info, document, composer, request)
    result.count = count
    bridge.log(string.format("%s: %d notes on a new track (beats: %s)%s", info.name, count,
      tostring(document.beat_source or "?"),
      dropped > 0 and string.format(" (%d left out: beyond MIDI's range once transposed)", dropped) or ""))
  else
    bridge.log(info.name .. ": played on the bridge's MIDI port")
  end
  return result
end

-- Convert items one after another from a defer loop; `on_done(results)` at the end.
function bridge.convert_items(items, options, on_done)
  local settings = bridge.settings()
  local queue, results, counter_items = {}, {}, 0
  for _, info in ipairs(items) do queue[#queue + 1] = info end

  local stopped = false
  local function next_item()
    local current = table.remove(queue, 1)
    if not current then
      -- One message for every item that got no notes (a stop already had its own).
      local problems = {}
      for _, r in ipairs(results) do
        if r.error and not r.stop and not stopped then
          problems[#problems + 1] = (r.info.name ~= "" and r.info.name or "an item") .. ": " .. r.error
        end
      end
      if #problems > 0 then
        reaper.ShowMessageBox("No notes for:\n" .. table.concat(problems, "\n"), "Pop2Piano", 0)
      end
      if on_done then on_done(results) end
      return
    end
    local request, why = core.request_for_item(current)
    if not request then
      bridge.log(current.name .. ": skipped: " .. why)
      results[#results + 1] = { info = current, error = why }
      next_item()
      return
    end
    counter_items = counter_items + 1
    local job_id = core.job_id("reaper", reaper.time_precise(), counter_items, math.random(0, 9999))
    local out_dir = options.output ~= "live" and bridge.out_dir() or nil
    local grid, grid_problem = bridge.grid_file(current, job_id, options.grid or settings.grid)
    if grid_problem then
      bridge.log(current.name .. ": skipped: " .. grid_problem)
      results[#results + 1] = { info = current, error = grid_problem }
      next_item()
      return
    end
    local args = core.convert_args(job_id, request, { composer = options.composer, output = options.output,
      out_dir = out_dir, beats_file = grid and grid.path })
    bridge.log(string.format("%s: converting with %s (%s) %s%s", current.name,
      options.composer ~= "" and options.composer or "the default style", options.output, grid_text(grid),
      describe(request)))
    local last_stage
    bridge.request(settings, "/pop2piano/convert", args, function(state, failure)
      if grid then remove_soon(grid.path) end -- read when the job started; gone however it ended
      local result = conversion_result(current, request, state, failure, options)
      results[#results + 1] = result
      if result.stop then
        bridge.log(current.name .. ": " .. result.message:gsub("\n+", " "))
        reaper.ShowMessageBox(result.message, "Pop2Piano", 0)
        queue, stopped = {}, true
      end
      next_item()
    end, {
      id = job_id,
      what = "converting " .. current.name,
      on_update = function(state)
        if state.started and state.stage ~= last_stage then
          last_stage = state.stage
          bridge.log(string.format("%s: %s %d%%", current.name, state.stage, math.floor(state.fraction * 100 + 0.5)))
        end
      end,
    })
  end

  next_item()
end

---------------------------------------------------------------------------------------------------
-- Auditions (docs/reaper.md, "Auditions"): one request converts the item in several styles; each
-- style the bridge finishes (/pop2piano/done_style) becomes a take of ONE new MIDI item on a new
-- track under the item's track, as soon as it arrives.

-- Place one style: the first creates the track and the item, the next ones add a take to that
-- item. Each is one undo point. Returns the number of notes and how many were left out, or nil and
-- why the audition cannot go on (its item or track was deleted).
function bridge.place_style(audition, document, composer)
  local info, placement = audition.info, audition.request
  if not audition.item then
    if not reaper.ValidatePtr2(0, info.track, "MediaTrack*") then return nil, "the audio item's track was deleted" end
    local times, dropped = note_times(info, document, placement)
    local name = core.track_name(info.name, "audition")
    audition.track, audition.item = undo_point("Pop2Piano: " .. name .. " " .. composer, function()
      local track = track_under(info, name)
      local item = reaper.CreateNewMIDIItemInProj(track, info.position, info.position + info.length, false)
      fill_take(reaper.GetActiveTake(item), composer, times)
      return track, item
    end)
    return #times, dropped
  end
  local track, item = audition.track, audition.item
  if not reaper.ValidatePtr2(0, track, "MediaTrack*") or not reaper.ValidatePtr2(0, item, "MediaItem*") then
    return nil, "its MIDI item or track was deleted"
  end
  -- The notes follow the item should the producer have moved it meanwhile.
  local position = reaper.GetMediaItemInfo_Value(item, "D_POSITION")
  local times, dropped = note_times(info, document, placement, position)
  undo_point("Pop2Piano: " .. core.track_name(info.name, "audition") .. " " .. composer, function()
    local active = reaper.GetActiveTake(item) -- the producer's choice stays (the first style at first)
    -- An added take is empty; it gets the (duplicated) MIDI source of a temporary MIDI item.
    local scratch = reaper.CreateNewMIDIItemInProj(track, position, position + info.length, false)
    local take = reaper.AddTakeToMediaItem(item)
    reaper.SetMediaItemTake_Source(take, reaper.GetMediaItemTake_Source(reaper.GetActiveTake(scratch)))
    reaper.DeleteTrackMediaItem(track, scratch)
    if active then reaper.SetActiveTake(active) end
    fill_take(take, composer, times)
  end)
  return #times, dropped
end

-- Audition one item in several styles. options: {composer = "all" or "composer3,composer7",
-- names = {…} (what is expected), grid}. on_done(audition) at the end.
function bridge.audition(info, options, on_done)
  local settings = bridge.settings()
  local audition = { info = info, placed = {}, skipped = {}, seen = 0, total = #options.names }
  local function finish(message)
    if message then
      bridge.log(info.name .. ": " .. message:gsub("\n+", " "))
      reaper.ShowMessageBox(message, "Pop2Piano", 0)
    end
    if on_done then on_done(audition) end
  end
  local request, why = core.request_for_item(info)
  if not request then return finish(info.name .. ": " .. why) end
  audition.request = request
  local job_id = core.job_id("reaper", reaper.time_precise(), 1, math.random(0, 9999))
  local grid, grid_problem = bridge.grid_file(info, job_id, options.grid or settings.grid)
  if grid_problem then return finish(grid_problem) end
  local args = core.convert_args(job_id, request, { composer = options.composer, output = "file",
    out_dir = bridge.out_dir(), beats_file = grid and grid.path })
  local label = info.name .. " audition"
  bridge.log(string.format("%s: auditioning %d styles (%s) %s%s", info.name, audition.total,
    options.composer == "all" and "every style" or table.concat(options.names, ", "), grid_text(grid),
    describe(request)))

  local function stop(reason)
    audition.stopped = reason
    -- the rest would have nowhere to go: the bridge stops generating them (what it finished is cached)
    bridge.request(settings, "/pop2piano/cancel", { job_id }, function() end,
      { start = false, what = "cancelling " .. label })
  end
  -- Place every style that arrived since the last look, in arrival order.
  local function place_new(state)
    while state and audition.seen < #state.styles do
      audition.seen = audition.seen + 1
      local style = state.styles[audition.seen]
      if not audition.stopped then
        local document, problem = read_notes(style.notes)
        if not document then
          bridge.log(label .. ": " .. style.composer .. " skipped: " .. problem)
          audition.skipped[#audition.skipped + 1] = style.composer
        else
          local count, dropped_or_why = bridge.place_style(audition, document, style.composer)
          if not count then
            stop(dropped_or_why)
          else
            audition.placed[#audition.placed + 1] = style.composer
            bridge.log(string.format("%s: %d of %d styles ready (%s: %d notes, take %d; beats: %s)%s", label,
              #audition.placed, audition.total, style.composer, count, #audition.placed,
              tostring(document.beat_source or "?"),
              dropped_or_why > 0 and string.format(", %d left out beyond MIDI's range", dropped_or_why) or ""))
          end
        end
      end
    end
  end

  local last_stage
  bridge.request(settings, "/pop2piano/convert", args, function(state, failure)
    if grid then remove_soon(grid.path) end
    place_new(state)
    local placed = string.format("%d of %d styles placed", #audition.placed, audition.total)
    if audition.stopped then
      return finish(string.format("%s stopped (%s): %s.", label, placed, audition.stopped))
    end
    if failure then return finish(failure) end
    local problem = state.error or state.client_error
    if problem and problem.code == "model_unavailable" then
      return finish(core.model_unavailable_message(problem.message))
    end
    if problem then return finish(string.format("%s (%s): %s", label, placed, problem.message)) end
    if state.cancelled then return finish(string.format("%s cancelled (%s).", label, placed)) end
    local skipped = #audition.skipped > 0 and (" (no notes file for " .. table.concat(audition.skipped, ", ") .. ")")
      or ""
    if #audition.placed == 0 then return finish(label .. ": no style could be placed" .. skipped .. ".") end
    bridge.log(string.format("%s: %s as takes of one item on \"%s\"%s; the first is active: switch takes "
      .. "with T (Take: Switch items to next take) or the item's take menu.", label, placed,
      core.track_name(info.name, "audition"), skipped))
    finish(#audition.skipped > 0 and (label .. ": " .. placed .. skipped) or nil)
  end, {
    id = job_id,
    what = "auditioning " .. info.name,
    on_update = function(state)
      place_new(state)
      if state.started and state.stage ~= last_stage then
        last_stage = state.stage
        bridge.log(string.format("%s %d%% %s (%d of %d styles ready)", label, math.floor(state.fraction * 100 + 0.5),
          state.stage, #audition.placed, audition.total))
      end
    end,
  })
end

-- The bridge's composers: on_end(list) or on_end(nil) after telling the producer why.
function bridge.composers(settings, on_end)
  bridge.request(settings, "/pop2piano/composers", {}, function(state, failure)
    local composers, message = core.composers_from(state, failure)
    if not composers then reaper.ShowMessageBox(message, "Pop2Piano", 0) end
    on_end(composers)
  end, { what = "asking for its composers" })
end

-- Send one message that needs no job (stop). A bridge that is not running is not started for it.
function bridge.send_simple(address)
  local settings = bridge.settings()
  bridge.request(settings, address, {}, function(state, failure)
    if state and state.not_running then
      bridge.log("the bridge is not running: nothing to stop.")
    elseif failure then
      reaper.ShowMessageBox(failure, "Pop2Piano", 0)
    end
  end, { start = false, what = "sending " .. address })
end

return bridge
