-- A fake of the REAPER API functions the Pop2Piano scripts call. It follows REAPER's ReaScript
-- documentation (reaper.fm/sdk/reascript/reascripthelp.html, quoted as "Doc:" below; the v6.09 copy
-- in github.com/ReaTeam/Doc), and where the documentation is silent, the sources REAPER is built
-- on (Cockos' WDL/SWELL, github.com/justinfrankel/WDL) and what script authors observed.
-- It is meant to fail where REAPER fails: ExecProcess splits command lines as REAPER does and runs
-- the resulting argv without any shell; a program REAPER could not start does not run here either.
--
-- It keeps a tiny project in memory: tracks, items, takes with sources (files, sections, reversed),
-- stretch markers, a tempo map, MIDI notes, undo blocks, ExtState.
local fake = {}

---------------------------------------------------------------------------------------------------
-- Command-line splitting.

-- macOS/Linux: WDL's LineParser (WDL/lineparse.h, parseDestroyBuffer with its defaults: comment
-- characters ignored, backtick quoting on, unterminated quotes refused), the tokenizer Cockos uses
-- for .RPP lines. It matches what TeamAudio/reaspeech PR #187 reports of ExecProcess on Linux:
-- "splitting on spaces only, honours quotes (' \" and `), every other character literal,
-- backslashes included". Tokens are separated by spaces or tabs; a token that *starts* with
-- ", ' or ` runs to the next same quote (the quotes are removed); a quote elsewhere is literal.
-- Returns the tokens, or nil and why (REAPER then has nothing to run).
function fake.lineparse(line)
  local tokens, i, n = {}, 1, #line
  local function skip() while i <= n and (line:sub(i, i) == " " or line:sub(i, i) == "\t") do i = i + 1 end end
  skip()
  while i <= n do
    local q = line:sub(i, i)
    if q == '"' or q == "'" or q == "`" then
      local close = line:find(q, i + 1, true)
      if not close then return nil, "unterminated quote" end
      tokens[#tokens + 1] = line:sub(i + 1, close - 1)
      i = close + 1
    else
      local stop = line:find("[ \t]", i) or n + 1
      tokens[#tokens + 1] = line:sub(i, stop - 1)
      i = stop
    end
    skip()
  end
  if #tokens == 0 then return nil, "empty command line" end
  return tokens
end

-- Windows: REAPER hands the line to CreateProcess (WDL/win32_utf8.c: CreateProcessUTF8 converts it
-- to UTF-16 and calls CreateProcessW), and the program splits it itself. Rules: Microsoft's
-- CommandLineToArgvW page and "Parsing C command-line arguments" (learn.microsoft.com):
--  * the program name (first token) runs to the next quote if it starts with one, else to the first
--    space/tab; backslashes there are literal;
--  * then: spaces/tabs outside quotes separate arguments; 2n backslashes + " → n backslashes and
--    the quote toggles "in quotes"; 2n+1 backslashes + " → n backslashes and a literal ";
--    backslashes not before a quote are literal;
--  * "" inside quotes is a literal " (the Visual C++ 2008+ runtime's rule, as documented by
--    David Deley, "How Command Line Parameters Are Parsed").
function fake.commandline_to_argv(line)
  local argv, n = {}, #line
  local i
  if line:sub(1, 1) == '"' then
    local close = line:find('"', 2, true) or n + 1
    argv[1] = line:sub(2, close - 1)
    i = close + 1
  else
    local stop = line:find("[ \t]", 1) or n + 1
    argv[1] = line:sub(1, stop - 1)
    i = stop
  end
  while true do
    while i <= n and (line:sub(i, i) == " " or line:sub(i, i) == "\t") do i = i + 1 end
    if i > n then break end
    local arg, quoted = {}, false
    while i <= n do
      local c = line:sub(i, i)
      if (c == " " or c == "\t") and not quoted then break end
      if c == "\\" then
        local j = i
        while line:sub(j, j) == "\\" do j = j + 1 end
        local m = j - i
        if line:sub(j, j) == '"' then
          arg[#arg + 1] = string.rep("\\", m // 2)
          if m % 2 == 1 then
            arg[#arg + 1] = '"'
            i = j + 1
          else
            i = j -- the quote is a delimiter: handled on the next round
          end
        else
          arg[#arg + 1] = string.rep("\\", m)
          i = j
        end
      elseif c == '"' then
        if quoted and line:sub(i + 1, i + 1) == '"' then
          arg[#arg + 1] = '"'
          i = i + 2
        else
          quoted = not quoted
          i = i + 1
        end
      else
        arg[#arg + 1] = c
        i = i + 1
      end
    end
    argv[#argv + 1] = table.concat(arg)
  end
  return argv
end

-- One argv element quoted for /bin/sh (the fake runs the argv through sh only because plain Lua
-- has no other way to start a process; each element arrives exactly as given).
function fake.sh_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function sh_argv(argv)
  local parts = {}
  for i, a in ipairs(argv) do parts[i] = fake.sh_quote(a) end
  return table.concat(parts, " ")
end

local function is_executable(path)
  return os.execute("test -f " .. fake.sh_quote(path) .. " && test -x " .. fake.sh_quote(path)) == true
end

-- Doc (GetOS): Returns "Win32", "Win64", "OSX32", "OSX64", "macOS-arm64", or "Other" (REAPER 7;
-- REAPER 6.09's page lists "Win32", "Win64", "OSX32", "OSX64", "Other"). Linux builds are "Other"
-- in that list; newer Linux builds are reported to name their architecture, hence the others.
fake.OS_NAMES = { Win32 = "windows", Win64 = "windows", OSX32 = "macos", OSX64 = "macos",
  ["macOS-arm64"] = "macos", Other = "linux", ["Linux-x86_64"] = "linux", ["Linux-i686"] = "linux",
  ["Linux-armv7l"] = "linux", ["Linux-aarch64"] = "linux" }

-- Seconds of wall time (Linux: /proc/uptime, 10 ms resolution; no fork, unlike `date`).
local function wall_clock()
  local f = io.open("/proc/uptime", "r")
  if f then
    local up = tonumber(f:read("n"))
    f:close()
    if up then return up end
  end
  return os.time()
end

---------------------------------------------------------------------------------------------------

-- options:
--   os                  GetOS() string (fake.OS_NAMES), default "Other"
--   path                PATH REAPER's children see on Linux (a Dock-started REAPER does not see the
--                       shell's); default "/usr/local/bin:/usr/bin:/bin"
--   windows_programs    Windows program path → {argv = {local argv prefix}, console = bool}:
--                       what is installed on the pretend Windows machine
--   resource_path, project_path, script_path, user_inputs (string or function), pid_file
--   tempo_markers       {{time = s, bpm = x, num = 4, denom = 4, linear = false}, …} tempo changes:
--                       square, or with linear = true a gradual change to the next marker, or
--   tempo               one constant tempo (default 120)
function fake.new(options)
  options = options or {}
  local os_name = options.os or "Other"
  local family = fake.OS_NAMES[os_name]
  if not family then error("fake: GetOS() never returns " .. tostring(os_name)) end
  local r = {}
  local markers = options.tempo_markers or { { time = 0, bpm = options.tempo or 120 } }
  table.sort(markers, function(a, b) return a.time < b.time end)
  local project = { tracks = {}, undo = {}, console = {}, messages = {}, deferred = {}, extstate = {},
    ppq = 960, undo_depth = 0, edits_outside_undo = {}, exec = {}, processes = {}, clock_offset = 0,
    markers = markers, unknown_keys = {}, blocking_ms = 0 }
  r._project = project

  local function edit(what)
    if project.undo_depth == 0 then project.edits_outside_undo[#project.edits_outside_undo + 1] = what end
  end

  -- project / UI ---------------------------------------------------------------------------------
  -- Doc: GetOS — see fake.OS_NAMES.
  function r.GetOS() return os_name end
  -- Doc: ShowConsoleMsg(string msg).
  function r.ShowConsoleMsg(text) project.console[#project.console + 1] = text end
  -- Doc: ShowMessageBox(msg, title, type): type 0=OK … ret 1=OK.
  function r.ShowMessageBox(text, title, _kind)
    project.messages[#project.messages + 1] = title .. ": " .. text
    return 1
  end
  -- Doc: GetUserInputs(title, num_inputs, captions_csv, retvals_csv) → retval, retvals_csv;
  -- "Returns false if the user canceled the dialog".
  function r.GetUserInputs(title, n, captions, defaults)
    project.dialogs = (project.dialogs or 0) + 1
    project.last_dialog = { title = title, n = n, captions = captions, defaults = defaults }
    local answer = options.user_inputs
    if type(answer) == "function" then answer = answer(title, n, captions, defaults) end
    if answer == nil then return false, defaults end
    return true, answer
  end
  -- Doc: defer(function): "Adds code to be called back by REAPER" (on a later UI timer tick).
  function r.defer(fn)
    if type(fn) ~= "function" then error("defer: expected a function") end
    project.deferred[#project.deferred + 1] = fn
  end
  -- Doc: time_precise(): "Gets a precise system timestamp in seconds" — wall time, not CPU time.
  function r.time_precise() return wall_clock() + project.clock_offset end
  -- Doc: get_action_context() → is_new_value, filename, sectionID, cmdID, mode, resolution, val.
  function r.get_action_context() return false, options.script_path or "./x.lua", 0, 0, -1, -1, -1 end
  -- Doc: GetExtState(section, key) → the value ("" when none); SetExtState(…, persist):
  -- "persist=true means the value should be stored and reloaded the next time REAPER is opened";
  -- DeleteExtState(section, key, persist); HasExtState(section, key).
  local function ext_key(section, key) return section .. "\0" .. key end
  function r.GetExtState(section, key)
    local e = project.extstate[ext_key(section, key)]
    return e and e.value or ""
  end
  function r.SetExtState(section, key, value, persist)
    if type(value) ~= "string" then error("SetExtState: value must be a string") end
    project.extstate[ext_key(section, key)] = { value = value, persist = persist and true or false }
  end
  function r.DeleteExtState(section, key, _persist) project.extstate[ext_key(section, key)] = nil end
  function r.HasExtState(section, key) return project.extstate[ext_key(section, key)] ~= nil end
  -- Doc: GetProjectPath(buf) → "the project recording path"; GetResourcePath().
  function r.GetProjectPath(_buf) return options.project_path or "/tmp" end
  function r.GetResourcePath() return options.resource_path or "/tmp" end
  -- Doc: RecursiveCreateDirectory(path, ignored): "returns positive value on success, 0 on failure".
  function r.RecursiveCreateDirectory(path, _ignored)
    return os.execute("mkdir -p " .. fake.sh_quote(path)) and 1 or 0
  end
  -- Doc: file_exists(path): "true if path points to a valid, readable file".
  function r.file_exists(path)
    local f = io.open(path, "rb")
    if f then f:close() return true end
    return false
  end

  -- Doc: ExecProcess(cmdline, timeoutmsec): "returns NULL on total failure, otherwise the return
  -- value, a newline, and then the output of the command. If timeoutmsec is 0, command will be
  -- allowed to run indefinitely (…). timeoutmsec is -1 for no wait/terminate, -2 for no wait and
  -- minimize". NULL arrives in Lua as nil (reaspeech's CurlRequest checks `exec_result == nil`).
  -- How REAPER starts the program (WDL/SWELL, which REAPER's macOS/Linux builds use):
  --  * macOS: SWELL_CreateProcessIO → NSTask with launchPath = the first token. NSTask searches no
  --    PATH, and a launch that throws gives NULL: a bare name or a missing file is a total failure.
  --  * Linux: SWELL_CreateProcess → fork + execvp (PATH search in REAPER's environment); when execvp
  --    fails the child just exit(0)s: nothing runs, and it looks like a silent success.
  --  * Windows: CreateProcess; an unknown program is a total failure. A console program gets a
  --    console window (minimised with -2); a GUI-subsystem one (pythonw.exe, pip's gui-scripts
  --    launchers such as pop2piano-bridgew.exe) gets none.
  -- Not documented anywhere we found (kept simple here, marked as such in the compat notes): the
  -- output captured is stdout only, and a waited-for command that outlives timeoutmsec is killed
  -- and gives nil.
  function r.ExecProcess(cmdline, timeout)
    if type(cmdline) ~= "string" or math.type(timeout) ~= "integer" then
      error("ExecProcess(string cmdline, integer timeoutmsec)")
    end
    local entry = { cmd = cmdline, timeout = timeout, blocking = timeout >= 0, ran = false }
    project.exec[#project.exec + 1] = entry
    local argv, why
    if family == "windows" then
      argv = fake.commandline_to_argv(cmdline)
      entry.argv = argv
      local name = argv[1]
      local program = nil
      for path, p in pairs(options.windows_programs or {}) do
        local lower = path:lower()
        if lower == name:lower() or lower == (name .. ".exe"):lower() then program = p end
      end
      local base = name:lower():match("([^\\/]+)$") or ""
      if base == "cmd.exe" or base == "cmd" then
        -- cmd.exe exists on every Windows machine and is a console program. Its own parsing
        -- (/C quote stripping, /V:ON "!" expansion) is not emulated: nothing is run, visibly.
        entry.window, entry.why = "console", "cmd.exe is not emulated by the fake"
        return timeout < 0 and "" or nil
      end
      if not program then
        entry.why = "CreateProcess: no such program " .. name
        return nil
      end
      entry.window = program.console and "console" or "none"
      local local_argv = {}
      for _, a in ipairs(program.argv) do local_argv[#local_argv + 1] = a end
      for k = 2, #argv do local_argv[#local_argv + 1] = argv[k] end
      argv = local_argv
    else
      argv, why = fake.lineparse(cmdline)
      entry.argv = argv
      if not argv then
        entry.why = why
        return nil
      end
      local program = argv[1]
      if family == "macos" then
        if not program:find("/", 1, true) or not is_executable(program) then
          entry.why = "NSTask cannot launch " .. program
          return nil
        end
      else
        local found = nil
        if program:find("/", 1, true) then
          found = is_executable(program) and program or nil
        else
          for dir in (options.path or "/usr/local/bin:/usr/bin:/bin"):gmatch("[^:]+") do
            if is_executable(dir .. "/" .. program) then found = dir .. "/" .. program break end
          end
        end
        if not found then
          entry.why = "execvp failed: the child exit(0)s"
          return timeout < 0 and "" or "0\n"
        end
      end
    end
    entry.ran, entry.run_argv = true, argv
    if timeout < 0 then
      -- "( exec … ) &": the subshell becomes the program, so $! is the program's own pid.
      local h = io.popen("(exec " .. sh_argv(argv) .. " </dev/null >/dev/null 2>&1) & echo $!")
      local pid = tonumber(h:read("l"))
      h:close()
      entry.pid = pid
      project.processes[#project.processes + 1] = pid
      if options.pid_file and pid then
        local f = io.open(options.pid_file, "a")
        f:write(pid, "\n")
        f:close()
      end
      return ""
    end
    local started = wall_clock()
    local prefix = timeout > 0 and string.format("timeout -k 1 %.3f ", timeout / 1000) or ""
    local h = io.popen(prefix .. sh_argv(argv) .. " </dev/null 2>/dev/null")
    local out = h:read("a")
    local _, _, code = h:close()
    project.blocking_ms = project.blocking_ms + (wall_clock() - started) * 1000
    if timeout > 0 and code == 124 then
      entry.why = "timed out"
      return nil
    end
    return tostring(code) .. "\n" .. out
  end
  -- Doc: Undo_BeginBlock() / Undo_EndBlock(descchange, extraflags); PreventUIRefresh(count):
  -- "always add then remove the same amount".
  function r.Undo_BeginBlock() project.undo_depth = project.undo_depth + 1 end
  function r.Undo_EndBlock(desc, _flags)
    if project.undo_depth == 0 then error("Undo_EndBlock without Undo_BeginBlock") end
    project.undo_depth = project.undo_depth - 1
    project.undo[#project.undo + 1] = desc
  end
  function r.PreventUIRefresh(n) project.ui_refresh = (project.ui_refresh or 0) + n end
  function r.UpdateArrange() end

  -- tempo map ------------------------------------------------------------------------------------
  -- Doc (GetTempoTimeSigMarker / SetTempoTimeSigMarker): a marker has timepos, bpm, time signature
  -- and `lineartempo`. A marker without it holds its tempo up to the next marker (a square change);
  -- with it, the tempo moves gradually to the next marker's (REAPER's "gradual tempo transition");
  -- modelled here as linear in time. Tempo is in quarter notes per minute; QN(t) integrates bpm/60.
  -- Before the first marker the first tempo holds.
  local function segment_at_time(t)
    local idx = 1
    for i, m in ipairs(markers) do if m.time <= t then idx = i end end
    return idx
  end
  -- The tempo at `t` inside segment i, and the QN from the segment's start to `t`.
  local function ramp(i)
    local m, n = markers[i], markers[i + 1]
    if not (m.linear and n) then return 0 end
    return (n.bpm - m.bpm) / (n.time - m.time) -- bpm per second
  end
  local function segment_qn(i, dt)
    return (markers[i].bpm * dt + ramp(i) * dt * dt / 2) / 60
  end
  local function qn_at(i)
    local qn = 0
    for k = 1, i - 1 do qn = qn + segment_qn(k, markers[k + 1].time - markers[k].time) end
    return qn
  end
  local function bpm_at(t)
    local i = segment_at_time(t)
    return markers[i].bpm + ramp(i) * math.max(t - markers[i].time, 0)
  end
  -- Doc: TimeMap2_timeToQN(proj, tpos): "converts project time position to QN position".
  function r.TimeMap2_timeToQN(_proj, t)
    local i = segment_at_time(t)
    return qn_at(i) + segment_qn(i, t - markers[i].time)
  end
  -- Doc: TimeMap2_QNToTime(proj, qn): "converts project QN position to time".
  function r.TimeMap2_QNToTime(_proj, qn)
    local i = 1
    for k = 1, #markers do if qn_at(k) <= qn then i = k end end
    local rest, b, a = qn - qn_at(i), markers[i].bpm / 60, ramp(i) / 120
    if a == 0 or rest < 0 then return markers[i].time + rest / b end
    return markers[i].time + (-b + math.sqrt(b * b + 4 * a * rest)) / (2 * a) -- a·dt² + b·dt = rest
  end
  -- Doc: TimeMap_GetTimeSigAtTime(proj, time) → timesig_num, timesig_denom, tempo: "get the
  -- effective time signature and tempo" — of the marker in effect at that time.
  function r.TimeMap_GetTimeSigAtTime(_proj, t)
    local m = markers[segment_at_time(t)]
    return m.num or 4, m.denom or 4, bpm_at(t)
  end
  -- Doc: TimeMap2_GetDividedBpmAtTime(proj, time): "get the effective BPM at the time (seconds)
  -- position (i.e. 2x in /8 signatures)".
  function r.TimeMap2_GetDividedBpmAtTime(_proj, t)
    return bpm_at(t) * (markers[segment_at_time(t)].denom or 4) / 4
  end

  -- items, takes, sources ------------------------------------------------------------------------
  -- Test side: a file source, a section of a source (offset/length in its parent, possibly
  -- reversed), items with one take.
  function r._file_source(file, length) return { kind = "file", file = file, length = length } end
  function r._section_source(parent, offs, len, reversed)
    return { kind = "section", parent = parent, offs = offs, len = len, reversed = reversed or false }
  end
  local function new_track(name) return { name = name or "", items = {} } end
  function r._add_track(name)
    local track = new_track(name)
    project.tracks[#project.tracks + 1] = track
    return track
  end
  -- fields: source (or file + source_length), position, length, startoffs, playrate, pitch,
  -- preserve_pitch, name, stretch_markers = {{pos, srcpos, slope}}, selected, midi
  function r._add_audio_item(track, fields)
    local source = fields.source or r._file_source(fields.file, fields.source_length)
    local take = { source = source, startoffs = fields.startoffs or 0, playrate = fields.playrate or 1,
      pitch = fields.pitch or 0, preserve_pitch = fields.preserve_pitch ~= false, name = fields.name or "",
      midi = fields.midi or false, notes = {}, stretch = fields.stretch_markers or {} }
    local item = { track = track, position = fields.position, length = fields.length,
      takes = fields.no_take and {} or { take }, selected = fields.selected ~= false }
    take.item = item
    track.items[#track.items + 1] = item
    return item
  end

  local function selected()
    local list = {}
    for _, t in ipairs(project.tracks) do
      for _, it in ipairs(t.items) do if it.selected then list[#list + 1] = it end end
    end
    return list
  end
  -- Doc: CountSelectedMediaItems(proj); GetSelectedMediaItem(proj, selitem) (0-based).
  function r.CountSelectedMediaItems(_proj) return #selected() end
  function r.GetSelectedMediaItem(_proj, i) return selected()[i + 1] end
  -- Doc: GetActiveTake(item): "get the active take in this item" (nil for an empty item).
  function r.GetActiveTake(item) return item.takes[item.active or 1] end
  -- Doc: TakeIsMIDI(take).
  function r.TakeIsMIDI(take) return take.midi end
  -- Doc: GetMediaItemTake_Source(take).
  function r.GetMediaItemTake_Source(take) return take.source end
  -- Doc: GetMediaSourceParent(src): "Returns the parent source, or NULL if src is the root source.
  -- This can be used to retrieve the parent properties of sections or reversed sources".
  function r.GetMediaSourceParent(source) return source.parent end
  -- Doc: GetMediaSourceFileName(source, buf): "Copies the media source filename … See
  -- GetMediaSourceParent." A section/reversed block is not a file: "" here, so scripts must walk
  -- to the parent as the doc says (harmless if REAPER returns the parent's name).
  function r.GetMediaSourceFileName(source, _buf)
    if source.kind == "file" then return source.file or "" end
    return ""
  end
  -- Doc: GetMediaSourceLength(source) → length, lengthIsQN ("beat-based … in quarter notes").
  function r.GetMediaSourceLength(source)
    if source.kind == "section" then return source.len, false end
    return source.length or 0, source.qn or false
  end
  -- Doc: PCM_Source_GetSectionInfo(src) → retval, offs, len, rev: "If a section/reverse block,
  -- retrieves offset/len/reverse. return true if success" (false for a plain file source).
  function r.PCM_Source_GetSectionInfo(source)
    if source.kind == "section" then return true, source.offs, source.len, source.reversed end
    return false, 0, 0, false
  end
  -- Doc: GetTakeName(take).
  function r.GetTakeName(take) return take.name end
  -- Doc: GetMediaItem_Track(item).
  function r.GetMediaItem_Track(item) return item.track end
  -- Doc: GetMediaItemInfo_Value(item, parmname): D_POSITION, D_LENGTH, B_LOOPSRC, …
  -- An unknown name gives 0 (REAPER does not raise); the fake also records it for the tests.
  function r.GetMediaItemInfo_Value(item, key)
    if key == "D_POSITION" then return item.position end
    if key == "D_LENGTH" then return item.length end
    project.unknown_keys[#project.unknown_keys + 1] = key
    return 0
  end
  -- Doc: GetMediaItemTakeInfo_Value(take, parmname): "D_STARTOFFS : start offset in source media,
  -- in seconds; D_PLAYRATE : 0.5=half speed, 1=normal…; D_PITCH : take pitch adjustment in
  -- semitones; B_PPITCH : preserve pitch when changing playback rate" (a bool, read as 0/1).
  function r.GetMediaItemTakeInfo_Value(take, key)
    if key == "D_STARTOFFS" then return take.startoffs end
    if key == "D_PLAYRATE" then return take.playrate end
    if key == "D_PITCH" then return take.pitch end
    if key == "B_PPITCH" then return take.preserve_pitch and 1 or 0 end
    project.unknown_keys[#project.unknown_keys + 1] = key
    return 0
  end
  -- Doc: GetTakeNumStretchMarkers(take); GetTakeStretchMarker(take, idx) → retval, pos, srcpos:
  -- "idx is 0..n. Returns false if stretch marker not valid. posOut will be set to position in
  -- item, srcposOutOptional will be set to source media position. Returns index." (an invalid
  -- index returns -1 here); GetTakeStretchMarkerSlope(take, idx). Positions are before the take's
  -- rate (X-Raym, "Working with Stretch Markers ReaScript API", ReaTeam/Doc).
  function r.GetTakeNumStretchMarkers(take) return #take.stretch end
  function r.GetTakeStretchMarker(take, idx)
    local m = take.stretch[idx + 1]
    if not m then return -1, 0, 0 end
    return idx, m.pos, m.srcpos
  end
  function r.GetTakeStretchMarkerSlope(take, idx)
    local m = take.stretch[idx + 1]
    return m and m.slope or 0
  end

  -- Objects of the project (what ValidatePtr2 answers): tracks in the track list, items on a
  -- track of it, takes of such an item.
  local function track_valid(track)
    for _, t in ipairs(project.tracks) do if t == track then return true end end
    return false
  end
  local function item_valid(item)
    if type(item) ~= "table" or not track_valid(item.track) then return false end
    for _, it in ipairs(item.track.items) do if it == item then return true end end
    return false
  end
  -- Doc: ValidatePtr2(proj, pointer, ctypename): "Return true if the pointer is a valid object of
  -- the right type in proj … Supported types are: ReaProject*, MediaTrack*, MediaItem*,
  -- MediaItem_Take*, TrackEnvelope* and PCM_source*." (REAPER 5.0+; in 6.09's page.)
  function r.ValidatePtr2(_proj, pointer, ctype)
    if ctype == "MediaTrack*" then return track_valid(pointer) end
    if ctype == "MediaItem*" then return item_valid(pointer) end
    if ctype == "MediaItem_Take*" then
      if type(pointer) ~= "table" or not item_valid(pointer.item) then return false end
      for _, tk in ipairs(pointer.item.takes) do if tk == pointer then return true end end
      return false
    end
    return false
  end
  -- Using an object that was deleted is undefined in REAPER (a freed pointer: at best ignored, at
  -- worst a crash); the fake raises, so a script that forgets ValidatePtr2 fails its test.
  local function live_track(track, fn)
    if not track_valid(track) then error(fn .. ": the track was deleted (check ValidatePtr2 first)", 3) end
  end
  local function live_item(item, fn)
    if not item_valid(item) then error(fn .. ": the item was deleted (check ValidatePtr2 first)", 3) end
  end

  -- tracks ---------------------------------------------------------------------------------------
  local function index_of(track)
    for i, t in ipairs(project.tracks) do if t == track then return i end end
  end
  -- Doc: GetMediaTrackInfo_Value(tr, parmname): IP_TRACKNUMBER : 1-based, 0=not found.
  function r.GetMediaTrackInfo_Value(track, key)
    if key == "IP_TRACKNUMBER" and not track_valid(track) then return 0 end
    if key == "IP_TRACKNUMBER" then return index_of(track) or 0 end
    project.unknown_keys[#project.unknown_keys + 1] = key
    return 0
  end
  -- Doc: InsertTrackAtIndex(idx, wantDefaults): "inserts a track at idx, … clamped to
  -- 0..GetNumTracks()".
  function r.InsertTrackAtIndex(idx, _defaults)
    edit("InsertTrackAtIndex")
    idx = math.max(0, math.min(idx, #project.tracks))
    table.insert(project.tracks, idx + 1, new_track(""))
  end
  -- Doc: GetTrack(proj, trackidx) (0-based).
  function r.GetTrack(_proj, idx) return project.tracks[idx + 1] end
  -- Doc: GetSetMediaTrackInfo_String(tr, parmname, stringNeedBig, setNewValue) → retval, string.
  function r.GetSetMediaTrackInfo_String(track, key, value, set)
    if key ~= "P_NAME" then return false, "" end
    if set then
      edit("track P_NAME")
      track.name = value
    end
    return true, track.name
  end

  -- MIDI -----------------------------------------------------------------------------------------
  -- Doc: CreateNewMIDIItemInProj(track, starttime, endtime, qnIn): "Create a new MIDI media item,
  -- containing no MIDI events. Time is in seconds unless qn is set."
  function r.CreateNewMIDIItemInProj(track, start, finish, qn)
    live_track(track, "CreateNewMIDIItemInProj")
    edit("CreateNewMIDIItemInProj")
    if qn then start, finish = r.TimeMap2_QNToTime(0, start), r.TimeMap2_QNToTime(0, finish) end
    -- The events live in the take's MIDI source (GetMediaItemTake_Source gives it).
    local source = { kind = "midi", notes = {} }
    local take = { midi = true, source = source, notes = source.notes, name = "", sorted = true, stretch = {} }
    local item = { track = track, position = start, length = finish - start, takes = { take }, selected = false }
    take.item = item
    track.items[#track.items + 1] = item
    return item
  end
  -- Doc: AddTakeToMediaItem(item): "creates a new take in an item". The take is empty: no source
  -- (GetMediaItemTake_Source gives nil, TakeIsMIDI false, MIDI_InsertNote fails) until one is set
  -- with SetMediaItemTake_Source, as scripts that build takes do (e.g. a temporary MIDI item's
  -- source: CreateNewMIDIItemInProj, AddTakeToMediaItem, SetMediaItemTake_Source,
  -- DeleteTrackMediaItem). Whether the new take becomes the active one is not documented: the fake
  -- makes it active, the reading that a script must undo.
  function r.AddTakeToMediaItem(item)
    live_item(item, "AddTakeToMediaItem")
    edit("AddTakeToMediaItem")
    local take = { midi = false, notes = {}, name = "", sorted = true, stretch = {}, item = item }
    item.takes[#item.takes + 1] = take
    item.active = #item.takes
    return take
  end
  -- Doc: SetMediaItemTake_Source(take, source): "Set media source of media item take. The old
  -- source will not be destroyed … If source already exists in any project, it will be duplicated
  -- before being set." → boolean. A MIDI source brings its events (copied when duplicated).
  function r.SetMediaItemTake_Source(take, source)
    if type(take) ~= "table" or type(source) ~= "table" then return false end
    live_item(take.item, "SetMediaItemTake_Source")
    edit("SetMediaItemTake_Source")
    local in_use = false
    for _, t in ipairs(project.tracks) do
      for _, it in ipairs(t.items) do
        for _, tk in ipairs(it.takes) do if tk.source == source then in_use = true end end
      end
    end
    if in_use then
      local copy = {}
      for k, v in pairs(source) do copy[k] = v end
      if source.notes then
        copy.notes = {}
        for i, n in ipairs(source.notes) do copy.notes[i] = n end
      end
      source = copy
    end
    take.source = source
    take.midi = source.kind == "midi"
    take.notes = source.notes or {}
    return true
  end
  -- Doc: SetActiveTake(take): "set this take active in this media item".
  function r.SetActiveTake(take)
    live_item(take.item, "SetActiveTake")
    edit("SetActiveTake")
    for i, tk in ipairs(take.item.takes) do if tk == take then take.item.active = i end end
  end
  -- Doc: DeleteTrackMediaItem(tr, it) → boolean (false when the item is not on that track).
  -- The item and its takes are gone: ValidatePtr2 says false for them from now on.
  function r.DeleteTrackMediaItem(track, item)
    live_track(track, "DeleteTrackMediaItem")
    for i, it in ipairs(track.items) do
      if it == item then
        edit("DeleteTrackMediaItem")
        table.remove(track.items, i)
        return true
      end
    end
    return false
  end
  -- Doc: GetSetMediaItemTakeInfo_String(tk, parmname, …): P_NAME : take name.
  function r.GetSetMediaItemTakeInfo_String(take, key, value, set)
    if key ~= "P_NAME" then return false, "" end
    if set then
      edit("take P_NAME")
      take.name = value
    end
    return true, take.name
  end
  -- Doc: MIDI_GetPPQPosFromProjTime(take, projtime): "the MIDI tick (ppq) position corresponding
  -- to a specific project time". Ticks count quarter notes of the project's tempo map from the
  -- start of the take's MIDI source (here: the item start), 960 per QN.
  function r.MIDI_GetPPQPosFromProjTime(take, t)
    return (r.TimeMap2_timeToQN(0, t) - r.TimeMap2_timeToQN(0, take.item.position)) * project.ppq
  end
  -- Doc: MIDI_GetProjTimeFromPPQPos(take, ppqpos): the inverse.
  function r.MIDI_GetProjTimeFromPPQPos(take, ppq)
    return r.TimeMap2_QNToTime(0, r.TimeMap2_timeToQN(0, take.item.position) + ppq / project.ppq)
  end
  -- Doc: MIDI_InsertNote(take, selected, muted, startppqpos, endppqpos, chan, pitch, vel, noSortIn):
  -- "Set noSort if inserting multiple events, then call MIDI_Sort when done."
  function r.MIDI_InsertNote(take, sel, muted, p0, p1, chan, pitch, vel, no_sort)
    live_item(take.item, "MIDI_InsertNote")
    edit("MIDI_InsertNote")
    if not take.midi then return false end
    if pitch < 0 or pitch > 127 or vel < 1 or vel > 127 then return false end
    take.notes[#take.notes + 1] = { selected = sel, muted = muted, p0 = p0, p1 = p1, chan = chan, pitch = pitch,
      vel = vel }
    if no_sort then take.sorted = false end
    return true
  end
  -- Doc: MIDI_Sort(take).
  function r.MIDI_Sort(take) take.sorted = true end

  -- helpers for tests ----------------------------------------------------------------------------
  function r._ppq_to_time(take, ppq) return r.MIDI_GetProjTimeFromPPQPos(take, ppq) end
  -- The producer deletes a track or an item (or undoes its creation) while a script runs.
  function r._delete_track(track)
    for i, t in ipairs(project.tracks) do if t == track then table.remove(project.tracks, i) return end end
  end
  function r._delete_item(item)
    for i, it in ipairs(item.track.items) do if it == item then table.remove(item.track.items, i) return end end
  end
  -- Move the clock forward (deadline tests): time_precise() jumps, the processes keep real time.
  function r._advance(seconds) project.clock_offset = project.clock_offset + seconds end
  -- REAPER quits: non-persistent ExtState goes.
  function r._restart()
    for k, e in pairs(project.extstate) do if not e.persist then project.extstate[k] = nil end end
  end
  -- Run deferred functions like REAPER's UI timer: one batch per tick, `tick()` between batches.
  function r._run_deferred(max_seconds, tick)
    local deadline = wall_clock() + (max_seconds or 60)
    while #project.deferred > 0 do
      if wall_clock() > deadline then error("fake: the deferred loop did not finish in " .. (max_seconds or 60) .. " s") end
      local batch = project.deferred
      project.deferred = {}
      for _, fn in ipairs(batch) do fn() end
      if tick then tick() end
    end
  end
  -- End every process ExecProcess started that is still running (tests clean up after themselves).
  function r._kill_processes()
    for _, pid in ipairs(project.processes) do
      os.execute(string.format("kill -TERM %d 2>/dev/null", pid))
    end
    for _, pid in ipairs(project.processes) do
      for _ = 1, 50 do
        if not os.execute(string.format("kill -0 %d 2>/dev/null", pid)) then break end
        os.execute("sleep 0.1")
      end
      os.execute(string.format("kill -KILL %d 2>/dev/null", pid))
    end
  end
  return r
end

return fake
