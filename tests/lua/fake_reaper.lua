-- A fake of the REAPER API functions the Pop2Piano scripts call, shaped by REAPER's ReaScript
-- documentation (names, argument order, return values). It keeps a tiny project in memory:
-- tracks, items, takes, MIDI notes at a constant project tempo, undo blocks, ExtState.
-- ExecProcess really runs the command (os.execute), so scripts can talk to a real bridge.
local fake = {}

function fake.new(options)
  options = options or {}
  local r = {}
  local project = { tracks = {}, undo = {}, console = {}, messages = {}, deferred = {}, extstate = {},
    tempo = options.tempo or 120, ppq = 960, os = options.os or "Other", undo_depth = 0 }
  r._project = project

  local function new_track(name)
    return { name = name or "", items = {} }
  end

  function r._add_track(name)
    local track = new_track(name)
    project.tracks[#project.tracks + 1] = track
    return track
  end

  function r._add_audio_item(track, fields)
    local take = { source = { file = fields.file, length = fields.source_length }, startoffs = fields.startoffs or 0,
      playrate = fields.playrate or 1, name = fields.name or "", midi = false, notes = {} }
    local item = { track = track, position = fields.position, length = fields.length, takes = { take },
      selected = fields.selected ~= false }
    take.item = item
    track.items[#track.items + 1] = item
    return item
  end

  -- project / UI
  function r.GetOS() return project.os end
  function r.ShowConsoleMsg(text) project.console[#project.console + 1] = text end
  function r.ShowMessageBox(text, title, _kind) project.messages[#project.messages + 1] = title .. ": " .. text; return 1 end
  function r.GetUserInputs(_title, _n, _captions, _defaults)
    return options.user_inputs ~= nil, options.user_inputs or ""
  end
  function r.defer(fn) project.deferred[#project.deferred + 1] = fn end
  function r.time_precise() return os.clock() + (project.clock_offset or 0) end
  function r.get_action_context() return false, options.script_path or "./x.lua", 0, 0, 0, 0, 0, "" end
  function r.GetExtState(section, key) return project.extstate[section .. "/" .. key] or "" end
  function r.SetExtState(section, key, value, _persist) project.extstate[section .. "/" .. key] = value end
  function r.GetProjectPath(_buf) return options.project_path or "/tmp" end
  function r.GetResourcePath() return options.resource_path or "/tmp" end
  function r.RecursiveCreateDirectory(path, _ignored) os.execute("mkdir -p '" .. path .. "'"); return 1 end
  function r.ExecProcess(cmdline, timeout)
    project.exec = project.exec or {}
    project.exec[#project.exec + 1] = { cmd = cmdline, timeout = timeout }
    if timeout == -1 or timeout == -2 then
      os.execute("(" .. cmdline .. ") >/dev/null 2>&1 &")
      return ""
    end
    local handle = io.popen(cmdline)
    local out = handle:read("a")
    handle:close()
    return "0\n" .. out
  end
  function r.Undo_BeginBlock() project.undo_depth = project.undo_depth + 1 end
  function r.Undo_EndBlock(desc, _flags)
    project.undo_depth = project.undo_depth - 1
    project.undo[#project.undo + 1] = desc
  end
  function r.PreventUIRefresh(_n) end
  function r.UpdateArrange() end

  -- items and takes
  local function selected()
    local list = {}
    for _, t in ipairs(project.tracks) do
      for _, it in ipairs(t.items) do if it.selected then list[#list + 1] = it end end
    end
    return list
  end
  function r.CountSelectedMediaItems(_proj) return #selected() end
  function r.GetSelectedMediaItem(_proj, i) return selected()[i + 1] end
  function r.GetActiveTake(item) return item.takes[1] end
  function r.TakeIsMIDI(take) return take.midi end
  function r.GetMediaItemTake_Source(take) return take.source end
  function r.GetMediaSourceParent(_source) return nil end
  function r.GetMediaSourceFileName(source, _buf) return source.file end
  function r.GetMediaSourceLength(source) return source.length, false end
  function r.GetTakeName(take) return take.name end
  function r.GetMediaItem_Track(item) return item.track end
  function r.GetMediaItemInfo_Value(item, key)
    if key == "D_POSITION" then return item.position end
    if key == "D_LENGTH" then return item.length end
    error("fake: unknown item key " .. key)
  end
  function r.GetMediaItemTakeInfo_Value(take, key)
    if key == "D_STARTOFFS" then return take.startoffs end
    if key == "D_PLAYRATE" then return take.playrate end
    error("fake: unknown take key " .. key)
  end
  function r.TimeMap_GetTimeSigAtTime(_proj, _time) return 4, 4, project.tempo end

  -- tracks
  local function index_of(track)
    for i, t in ipairs(project.tracks) do if t == track then return i end end
  end
  function r.GetMediaTrackInfo_Value(track, key)
    if key == "IP_TRACKNUMBER" then return index_of(track) end
    error("fake: unknown track key " .. key)
  end
  function r.InsertTrackAtIndex(idx, _defaults) table.insert(project.tracks, idx + 1, new_track("")) end
  function r.GetTrack(_proj, idx) return project.tracks[idx + 1] end
  function r.GetSetMediaTrackInfo_String(track, key, value, set)
    assert(key == "P_NAME")
    if set then track.name = value end
    return true, track.name
  end

  -- MIDI items: a constant tempo maps project seconds to PPQ from the item start
  function r.CreateNewMIDIItemInProj(track, start, finish, _qn)
    local take = { midi = true, notes = {}, name = "", sorted = true }
    local item = { track = track, position = start, length = finish - start, takes = { take }, selected = false }
    take.item = item
    track.items[#track.items + 1] = item
    return item
  end
  function r.GetSetMediaItemTakeInfo_String(take, key, value, set)
    assert(key == "P_NAME")
    if set then take.name = value end
    return true, take.name
  end
  function r.MIDI_GetPPQPosFromProjTime(take, time)
    return (time - take.item.position) * project.tempo / 60 * project.ppq
  end
  function r.MIDI_InsertNote(take, sel, muted, p0, p1, chan, pitch, vel, no_sort)
    take.notes[#take.notes + 1] = { selected = sel, muted = muted, p0 = p0, p1 = p1, chan = chan, pitch = pitch,
      vel = vel }
    if no_sort then take.sorted = false end
    return true
  end
  function r.MIDI_Sort(take) take.sorted = true end

  -- helpers for tests
  function r._ppq_to_time(take, ppq) return take.item.position + ppq / project.ppq * 60 / project.tempo end
  function r._run_deferred(max_seconds, sleep)
    local deadline = os.time() + (max_seconds or 60)
    while #project.deferred > 0 do
      if os.time() > deadline then error("deferred loop did not finish") end
      local batch = project.deferred
      project.deferred = {}
      for _, fn in ipairs(batch) do fn() end
      if sleep then sleep() end
    end
  end
  return r
end

return fake
