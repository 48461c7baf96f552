-- REAPER side of the Pop2Piano scripts: read items, run `pop2piano-bridge send` in the
-- background, poll its output from a defer loop (REAPER never waits), insert the notes.
local core = require("core")
local json = require("json")

local bridge = {}
local SECTION = "Pop2Piano"

-- Settings live in REAPER's ExtState (persisted): bridge command, port, default composer.
function bridge.settings()
  local function get(key, default)
    local v = reaper.GetExtState(SECTION, key)
    if v == nil or v == "" then return default end
    return v
  end
  return {
    command = get("bridge_command", "pop2piano-bridge"),
    port = tonumber(get("port", tostring(core.DEFAULT_PORT))) or core.DEFAULT_PORT,
    composer = get("composer", "composer1"),
    output = get("output", "file"),
    secret = get("secret", ""),
  }
end

function bridge.save_setting(key, value)
  reaper.SetExtState(SECTION, key, tostring(value), true)
end

function bridge.shell()
  return reaper.GetOS():match("Win") and "windows" or "posix"
end

local function join(a, b)
  local sep = bridge.shell() == "windows" and "\\" or "/"
  if a:sub(-1) == "/" or a:sub(-1) == "\\" then return a .. b end
  return a .. sep .. b
end

function bridge.log(text)
  reaper.ShowConsoleMsg("[Pop2Piano] " .. text .. "\n")
end

-- Everything the request needs from one item, or nil and why it is skipped.
function bridge.item_info(item)
  local take = reaper.GetActiveTake(item)
  if not take then return nil, "item has no take" end
  if reaper.TakeIsMIDI(take) then return nil, "item is MIDI, not audio" end
  local source = reaper.GetMediaItemTake_Source(take)
  local parent = reaper.GetMediaSourceParent(source)
  if parent then source = parent end -- section or reversed sources: the file is the parent's
  local path = reaper.GetMediaSourceFileName(source, "")
  if not path or path == "" then return nil, "item has no source file" end
  local source_length = reaper.GetMediaSourceLength(source)
  local position = reaper.GetMediaItemInfo_Value(item, "D_POSITION")
  local _, _, tempo = reaper.TimeMap_GetTimeSigAtTime(0, position)
  local track = reaper.GetMediaItem_Track(item)
  return {
    item = item,
    take = take,
    track = track,
    name = reaper.GetTakeName(take),
    position = position,
    length = reaper.GetMediaItemInfo_Value(item, "D_LENGTH"),
    startoffs = reaper.GetMediaItemTakeInfo_Value(take, "D_STARTOFFS"),
    playrate = reaper.GetMediaItemTakeInfo_Value(take, "D_PLAYRATE"),
    source_path = path,
    source_length = source_length,
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

-- The project's Pop2Piano folder (created), where MIDI and notes files go.
function bridge.out_dir()
  local folder = join(reaper.GetProjectPath(""), "Pop2Piano")
  reaper.RecursiveCreateDirectory(folder, 0)
  return folder
end

local function job_file(job_id)
  local folder = join(reaper.GetResourcePath(), join("Data", "Pop2Piano"))
  reaper.RecursiveCreateDirectory(folder, 0)
  return join(folder, job_id .. ".txt")
end

local function read_file(path)
  local handle = io.open(path, "r")
  if not handle then return "" end
  local text = handle:read("a")
  handle:close()
  return text or ""
end

-- Start `send` with these protocol arguments in the background; returns a job handle.
function bridge.start(job_id, args, settings)
  local out_file = job_file(job_id)
  os.remove(out_file)
  local line = core.command_line(settings.command, settings.port, args, out_file, bridge.shell(), settings.secret)
  reaper.ExecProcess(line, -2) -- -2: do not wait, run in the background
  return { id = job_id, out_file = out_file, started = reaper.time_precise(), last_stage = nil }
end

function bridge.poll(job)
  local state = core.parse_output(read_file(job.out_file))
  if state.finished then os.remove(job.out_file) end
  return state
end

-- A new track right under the item's track holding a MIDI item with the notes. One undo point.
function bridge.insert(info, document, composer)
  local times = core.note_times(document, info.position, info.length)
  reaper.Undo_BeginBlock()
  reaper.PreventUIRefresh(1)
  local index = math.floor(reaper.GetMediaTrackInfo_Value(info.track, "IP_TRACKNUMBER")) -- 1-based → next slot
  reaper.InsertTrackAtIndex(index, true)
  local track = reaper.GetTrack(0, index)
  local name = core.track_name(info.name, composer)
  reaper.GetSetMediaTrackInfo_String(track, "P_NAME", name, true)
  local item = reaper.CreateNewMIDIItemInProj(track, info.position, info.position + info.length, false)
  local take = reaper.GetActiveTake(item)
  reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", name, true)
  for _, n in ipairs(times) do
    local p0 = reaper.MIDI_GetPPQPosFromProjTime(take, n.t0)
    local p1 = reaper.MIDI_GetPPQPosFromProjTime(take, n.t1)
    reaper.MIDI_InsertNote(take, false, false, p0, p1, 0, n.pitch, n.velocity, true)
  end
  reaper.MIDI_Sort(take)
  reaper.PreventUIRefresh(-1)
  reaper.UpdateArrange()
  reaper.Undo_EndBlock("Pop2Piano: " .. name, -1)
  return track, item, #times
end

local NOT_RUNNING = "The Pop2Piano bridge is not running (or not at the configured port).\n\n"
  .. "Start it in a terminal with:\n    pop2piano-bridge serve\n\nthen run this action again."

-- Convert items one after another from a defer loop; `on_done(results)` at the end.
function bridge.convert_items(items, options, on_done)
  local settings = bridge.settings()
  local queue, results, counter = {}, {}, 0
  for _, info in ipairs(items) do queue[#queue + 1] = info end
  local current, job

  local function finish(result)
    results[#results + 1] = result
    current, job = nil, nil
  end

  local function step()
    if not current then
      current = table.remove(queue, 1)
      if not current then
        if on_done then on_done(results) end
        return
      end
      local request, why = core.request_for_item(current)
      if not request then
        bridge.log(current.name .. ": " .. why)
        finish({ info = current, error = why })
        reaper.defer(step)
        return
      end
      counter = counter + 1
      local job_id = core.job_id("reaper", reaper.time_precise(), counter)
      local out_dir = options.output ~= "live" and bridge.out_dir() or nil
      local args = core.convert_args(job_id, request, { composer = options.composer, output = options.output,
        out_dir = out_dir })
      job = bridge.start(job_id, args, settings)
      bridge.log(string.format("%s: converting with %s (%s)", current.name, options.composer, options.output))
    end
    local state = bridge.poll(job)
    if state.stage ~= job.last_stage then
      job.last_stage = state.stage
      bridge.log(string.format("%s: %s %d%%", current.name, state.stage, math.floor(state.fraction * 100 + 0.5)))
    end
    if state.not_running then
      finish({ info = current, error = "not running" })
      queue = {}
      reaper.ShowMessageBox(NOT_RUNNING, "Pop2Piano", 0)
    elseif state.error then
      bridge.log(current.name .. ": error " .. state.error.code .. ": " .. state.error.message)
      finish({ info = current, error = state.error.message })
    elseif state.cancelled then
      finish({ info = current, error = "cancelled" })
    elseif state.done and state.finished then
      local result = { info = current, midi = state.done.midi, notes = state.done.notes }
      if options.output ~= "live" then
        local ok, document = pcall(json.decode, read_file(state.done.notes))
        if ok then
          local _, _, count = bridge.insert(current, document, options.composer)
          result.count = count
          bridge.log(string.format("%s: %d notes on a new track", current.name, count))
        else
          result.error = "could not read " .. state.done.notes .. ": " .. tostring(document)
          bridge.log(result.error)
        end
      end
      finish(result)
    elseif state.finished then
      finish({ info = current, error = "the bridge command ended without a result" })
    end
    reaper.defer(step)
  end

  step()
end

-- Send one message that needs no job (stop, ping); report only a dead bridge.
function bridge.send_simple(address, settings)
  settings = settings or bridge.settings()
  local job = bridge.start(core.job_id("reaper-msg", reaper.time_precise(), 0), { address }, settings)
  local function step()
    local state = bridge.poll(job)
    if state.not_running then
      reaper.ShowMessageBox(NOT_RUNNING, "Pop2Piano", 0)
    elseif not state.finished and reaper.time_precise() - job.started < 10 then
      reaper.defer(step)
    end
  end
  step()
end

bridge.NOT_RUNNING = NOT_RUNNING
return bridge
