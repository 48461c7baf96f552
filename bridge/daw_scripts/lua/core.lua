-- The DAW scripts' shared core (REAPER and Ardour): settings, the request `send` reads and the
-- JSON lines it writes, which part of which file a clip plays and where its notes land, composers,
-- job ids, names, and what the producer reads when something goes wrong.
-- No host calls here (only Lua's own io for files), so it runs and is tested under plain Lua.
-- Lua 5.3 and 5.4: Ardour 7 embeds 5.3, REAPER 6/7 embed 5.4 (tests run it under both).
-- Installed as pop2piano/core.lua beside each DAW's own module (bridge/hosts.py copies it).
local json = require("json")

local core = {}

core.DEFAULT_PORT = 9310
core.DEFAULT_HOST = "127.0.0.1"
core.DEFAULT_COMMAND = { "pop2piano-bridge" }
-- Written by `pop2piano-bridge install <daw>` beside the action scripts (contract §1).
core.CONFIG_NAME = "pop2piano-bridge.json"
-- The DAW side's deadlines (contract §2): `send` writes "#started" as soon as it runs and a line
-- at least every ~5 s while a job is alive, so silence this long means something is wrong.
core.STARTED_WITHIN = 15
core.SILENT_FOR = 30
-- How long a bridge started from a DAW may take to answer a ping (model loading takes up to ~60 s).
core.START_WAIT = 90
-- Tolerance when comparing positions in seconds (REAPER stores doubles; UI edits round).
core.EPSILON = 1e-6

-- `base` + `name` with the separator `base` already uses (REAPER gives Windows paths with "\").
function core.join(base, ...)
  local sep = (base:find("\\", 1, true) and not base:find("/", 1, true)) and "\\" or "/"
  local path = base
  for _, name in ipairs({ ... }) do
    if path:sub(-1) ~= "/" and path:sub(-1) ~= "\\" then path = path .. sep end
    path = path .. name
  end
  return path
end

-- The folder of a file path, with its trailing separator ("" when there is none).
function core.dirname(path)
  return path:match("^(.*[/\\])") or ""
end

---------------------------------------------------------------------------------------------------
-- Settings: defaults < pop2piano-bridge.json < the DAW's own non-empty overrides (contract §1):
-- REAPER's ExtState, Ardour's pop2piano-choices.json.

local function is_string_list(value)
  if type(value) ~= "table" or #value == 0 then return false end
  for i, v in pairs(value) do
    if math.type(i) ~= "integer" or type(v) ~= "string" or v == "" then return false end
  end
  return true
end

local function valid_port(value)
  local n = tonumber(value)
  if n and n == math.floor(n) and n >= 1 and n <= 65535 then return math.tointeger(n) end
  return nil
end

-- The override `bridge_command`: a JSON array of strings (the argv prefix), or one program path
-- (which may contain spaces: it is never split). `label` names where it came from.
function core.parse_command(text, label)
  text = (text or ""):match("^%s*(.-)%s*$")
  if text == "" then return nil end
  if text:sub(1, 1) == "[" then
    local ok, value = pcall(json.decode, text)
    if ok and is_string_list(value) then return value end
    return nil, (label or "override") .. " bridge_command is not a JSON list of strings: " .. text
  end
  return { text }
end

-- config: the decoded pop2piano-bridge.json (nil when missing/unreadable);
-- ext: the DAW's overrides by key, as strings ("" or nil when unset); label: what the producer
-- calls them ("ExtState" in REAPER).
-- Returns the settings and a list of problems worth a console line.
function core.settings(config, ext, label)
  ext = ext or {}
  label = label or "override"
  local problems = {}
  local s = { command = core.DEFAULT_COMMAND, command_from = "default", host = core.DEFAULT_HOST,
    port = core.DEFAULT_PORT, secret = "", composer = "", output = "file" }  -- composer "": the bridge's default
  if type(config) == "table" then
    if config.command ~= nil then
      if is_string_list(config.command) then
        s.command, s.command_from = config.command, core.CONFIG_NAME
      else
        problems[#problems + 1] = core.CONFIG_NAME .. ": \"command\" is not a list of strings; using "
          .. s.command[1]
      end
    end
    if type(config.host) == "string" and config.host ~= "" then s.host = config.host end
    if config.port ~= nil then
      s.port = valid_port(config.port) or s.port
      if not valid_port(config.port) then problems[#problems + 1] = core.CONFIG_NAME .. ": bad \"port\"" end
    end
    if type(config.secret) == "string" then s.secret = config.secret end
  end
  if ext.bridge_command and ext.bridge_command ~= "" then
    local command, why = core.parse_command(ext.bridge_command, label)
    if command then
      s.command, s.command_from = command, label .. " bridge_command"
    else
      problems[#problems + 1] = why
    end
  end
  if ext.port and ext.port ~= "" then
    if valid_port(ext.port) then s.port = valid_port(ext.port)
    else problems[#problems + 1] = label .. " port is not a UDP port: " .. ext.port end
  end
  if ext.secret and ext.secret ~= "" then s.secret = ext.secret end
  if ext.composer and ext.composer ~= "" then s.composer = ext.composer end
  if ext.output and ext.output ~= "" then s.output = ext.output end
  return s, problems
end

function core.is_loopback(host)
  return host == "127.0.0.1" or host == "localhost" or host == "::1" or (host or ""):match("^127%.") ~= nil
end

---------------------------------------------------------------------------------------------------
-- Commands and the request file.

-- How a command is shown to the producer (one line, every element quoted).
function core.command_text(argv)
  local parts = {}
  for i, arg in ipairs(argv) do parts[i] = arg:find("[%s'\"]") and ('"' .. arg .. '"') or arg end
  return table.concat(parts, " ")
end

function core.concat(...)
  local out = {}
  for _, list in ipairs({ ... }) do
    for _, v in ipairs(list) do out[#out + 1] = v end
  end
  return out
end

-- The argv that runs `send` for one request file.
function core.send_argv(command, request_path)
  return core.concat(command, { "send", "--request", request_path })
end

-- The argv that starts a bridge in the background (contract §5). The secret is not put on the
-- command line (it would show in `ps`): a bridge on loopback needs none and ignores one sent.
function core.serve_argv(command, log_path, port)
  local argv = core.concat(command, { "serve", "--log-file", log_path })
  if port and port ~= core.DEFAULT_PORT then
    argv[#argv + 1] = "--port"
    argv[#argv + 1] = tostring(port)
  end
  return argv
end

-- The request file `send --request` reads (contract §2), as JSON text.
function core.request_json(address, args, settings, out_path)
  return json.encode({ address = address, args = json.array(args or {}), host = settings.host,
    port = settings.port, secret = settings.secret or "", out = out_path })
end

---------------------------------------------------------------------------------------------------
-- `send`'s output: one JSON array per line, "\n"-terminated, flushed after every line.

-- The complete lines of `text`, decoded. A last line without "\n" is being written: skipped.
-- A line that is not a JSON array becomes {"#unreadable", text} (it still counts as news).
function core.output_lines(text)
  local lines = {}
  for line in (text or ""):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    if line ~= "" then
      local ok, value = pcall(json.decode, line)
      if ok and type(value) == "table" and type(value[1]) == "string" then
        lines[#lines + 1] = value
      else
        lines[#lines + 1] = { "#unreadable", line }
      end
    end
  end
  return lines
end

-- What the lines say about a request.
function core.job_state(lines)
  local s = { started = false, fraction = 0, stage = "starting", replies = {}, styles = {}, count = #lines }
  for _, line in ipairs(lines) do
    local tag = line[1]
    if tag == "#started" then
      s.started, s.version = true, line[2]
    elseif tag == "#alive" then
      s.stage = tostring(line[2] or s.stage)
      s.fraction = tonumber(line[3]) or s.fraction
    elseif tag == "#error" then
      s.client_error = { code = tostring(line[2]), message = tostring(line[3] or "") }
    elseif tag == "#exit" then
      s.exit = tonumber(line[2]) or -1
    elseif tag == "/pop2piano/accepted" then
      s.accepted, s.stage = true, "queued"
    elseif tag == "/pop2piano/progress" then
      s.fraction = tonumber(line[3]) or s.fraction
      s.stage = tostring(line[4] or s.stage)
    elseif tag == "/pop2piano/done_style" then -- one style of an audition (docs/protocol.md, "Auditions")
      s.styles[#s.styles + 1] = { composer = tostring(line[3] or ""), midi = line[4], notes = line[5],
        count = tonumber(line[6]) or 0 }
    elseif tag == "/pop2piano/done" then
      s.done = { midi = line[3], notes = line[4], count = tonumber(line[5]) or 0 }
      s.fraction, s.stage = 1, "done"
    elseif tag == "/pop2piano/error" then
      s.error = { code = tostring(line[3] or "internal"), message = tostring(line[4] or "") }
    elseif tag == "/pop2piano/cancelled" then
      s.cancelled = true
    elseif tag:sub(1, 1) == "/" then
      s.replies[#s.replies + 1] = line
    end
  end
  s.finished = s.exit ~= nil
  s.not_running = s.client_error ~= nil and s.client_error.code == "not_running"
  return s
end

-- The first reply with this address, or nil.
function core.reply(state, address)
  for _, line in ipairs(state.replies) do
    if line[1] == address then return line end
  end
  return nil
end

-- job: {out_path, offset, lines}. Appends the lines `send` completed since the last look to
-- job.lines (a last line without "\n" is still being written: it is read next time).
-- Returns true when there was news.
function core.read_new_lines(job)
  local handle = io.open(job.out_path, "rb")
  if not handle then return false end
  handle:seek("set", job.offset or 0)
  local text = handle:read("a") or ""
  handle:close()
  local complete = text:match("^.*\n")
  if not complete then return false end
  job.offset = (job.offset or 0) + #complete
  for _, line in ipairs(core.output_lines(complete)) do job.lines[#job.lines + 1] = line end
  return true
end

-- Which deadline a running request missed (contract §2), given when it started and when `send`
-- last wrote a line: "not_started" (no "#started" within STARTED_WITHIN s), "silent" (no line for
-- SILENT_FOR s), or nil.
function core.missed_deadline(state, started_at, heard_at, now)
  if state.finished then return nil end
  if not state.started and now - started_at > core.STARTED_WITHIN then return "not_started" end
  if state.started and now - heard_at > core.SILENT_FOR then return "silent" end
  return nil
end

function core.read_file(path)
  local handle = io.open(path, "rb")
  if not handle then return nil end
  local text = handle:read("a")
  handle:close()
  return text
end

function core.write_file(path, text)
  local handle, err = io.open(path, "wb")
  if not handle then return nil, err end
  local ok, werr = handle:write(text)
  handle:close()
  if not ok then return nil, werr end
  return true
end

---------------------------------------------------------------------------------------------------
-- Items: which part of which file a take plays, and where the notes of that part land.

-- Semitones the producer hears the take transposed by: the take's pitch (D_PITCH) plus, when
-- "preserve pitch" (B_PPITCH) is off, the rate's own shift (12·log2(rate), as on a tape).
function core.heard_semitones(pitch, playrate, preserve_pitch)
  local semitones = pitch or 0
  if not preserve_pitch and playrate and playrate > 0 then
    semitones = semitones + 12 * math.log(playrate, 2)
  end
  return semitones
end

-- Nearest whole semitone (halves away from zero: +0.5 → +1, −0.5 → −1).
function core.round_semitones(x)
  if x >= 0 then return math.floor(x + 0.5) end
  return -math.floor(-x + 0.5)
end

-- item: {position, length, startoffs, playrate, pitch, preserve_pitch, source_path, source_length,
--        section_offset, reversed, stretch_markers = {{pos, srcpos, slope}…}, tempo}
--   startoffs is in the take source's seconds and may be negative (the item starts with silence);
--   source_length and section_offset describe the take's source after walking its parents.
-- Returns the request {path, start, duration, playrate, tempo} (start/duration in seconds of the
-- file) plus the placement {shift, transpose, semitones} of the notes, or nil and why.
function core.request_for_item(item)
  if not item.source_path or item.source_path == "" then return nil, "the item has no source file" end
  if item.reversed then
    return nil, "the take plays its source reversed; Pop2Piano converts audio as recorded. Glue the "
      .. "item first (Item: Glue items) to convert what you hear."
  end
  local s = item.startoffs or 0
  for _, m in ipairs(item.stretch_markers or {}) do
    -- A marker where it was put (source position = offset + position) stretches nothing.
    if math.abs(m.srcpos - (s + m.pos)) > core.EPSILON or math.abs(m.slope or 0) > core.EPSILON then
      return nil, "the take has stretch markers that change its timing; Pop2Piano converts at one "
        .. "rate. Glue the item first (Item: Glue items), or remove the stretch markers."
    end
  end
  local rate = item.playrate or 1.0
  if rate <= 0 then return nil, "the take's playback rate is not positive" end
  local first = math.max(s, 0)                     -- first source second heard
  local last = s + item.length * rate              -- source second at the item's end
  if item.source_length and item.source_length > 0 then last = math.min(last, item.source_length) end
  if item.source_length and item.source_length > 0 and first >= item.source_length - core.EPSILON then
    return nil, "the item starts past the end of its source (a looped item?)"
  end
  if last - first <= core.EPSILON then
    return nil, "the item holds only the silence before its source starts"
  end
  local semitones = core.heard_semitones(item.pitch, rate, item.preserve_pitch)
  return {
    path = item.source_path,
    start = (item.section_offset or 0) + first,
    duration = last - first,
    playrate = rate,
    tempo = item.tempo,
    -- Source second `first` plays this long after the item starts (the silence before a
    -- negative start offset, played at the take's rate).
    shift = (first - s) / rate,
    semitones = semitones,
    transpose = core.round_semitones(semitones),
  }
end

local function float(x)
  return x + 0.0 -- a JSON number with a fraction: the protocol types these slots as floats anyway
end

-- The arguments of /pop2piano/convert (JSON values: strings stay strings, numbers are numbers).
function core.convert_args(job_id, request, options)
  local args = { job_id, request.path }
  if options.composer and options.composer ~= "" then -- else the bridge's default style (its first)
    args[#args + 1] = "composer"
    args[#args + 1] = options.composer
  end
  for _, pair in ipairs({ { "start", float(request.start) }, { "duration", float(request.duration) },
      { "playrate", float(request.playrate) }, { "output", options.output or "file" } }) do
    args[#args + 1] = pair[1]
    args[#args + 1] = pair[2]
  end
  if request.tempo and request.tempo > 0 then
    args[#args + 1] = "tempo"
    args[#args + 1] = float(request.tempo)
  end
  if options.out_dir then
    args[#args + 1] = "out_dir"
    args[#args + 1] = options.out_dir
  end
  if options.beats_file then -- the DAW's own grid (docs/protocol.md, "The session's grid")
    args[#args + 1] = "beats_file"
    args[#args + 1] = options.beats_file
  end
  return args
end

-- The session's beats (session seconds) as the source seconds of a clip that starts at
-- `position` in the session and plays its source from `start` at `playrate`: what a beats file
-- holds (docs/protocol.md: "beat times in source seconds").
function core.source_beats(session_times, position, start, playrate)
  local out = {}
  for i, t in ipairs(session_times) do out[i] = float(start + (t - position) * (playrate or 1)) end
  return out
end

-- The quarter notes of a tempo map over `t0`..`t1` (session seconds), one beyond each end and none
-- before the session's start: the DAW's grid as the bridge's beats. to_qn/to_time convert a
-- session time to quarter notes and back through the DAW's tempo map (tempo changes and ramps
-- are the DAW's business).
function core.quarter_note_times(to_qn, to_time, t0, t1)
  local first = math.max(math.floor(to_qn(t0) + core.EPSILON) - 1, 0)
  local last = math.ceil(to_qn(t1) - core.EPSILON) + 1
  local times = {}
  for q = first, last do times[#times + 1] = to_time(q) end
  return times
end

-- A grid's beats (seconds, increasing) in the producer's words: "17 beats, 97-140 BPM".
function core.beats_summary(times)
  local slow, fast = math.huge, 0
  for i = 2, #times do
    local bpm = 60 / (times[i] - times[i - 1])
    slow, fast = math.min(slow, bpm), math.max(fast, bpm)
  end
  if #times < 2 then return string.format("%d beats", #times) end
  if fast - slow < 0.05 then return string.format("%d beats, %.1f BPM", #times, slow) end
  return string.format("%d beats, %.1f-%.1f BPM", #times, slow, fast)
end

-- Write a beats file (a JSON array of source seconds, docs/protocol.md "The session's grid").
function core.write_beats_file(path, beats)
  return core.write_file(path, json.encode(json.array(beats)))
end

-- Project times of the notes of a notes document (times in seconds from the converted range's
-- start, at the take's rate). placement: {position, length, shift, transpose}.
-- Each note → {pitch, t0, t1, velocity}: moved by `shift` and transposed, cut at the item's end,
-- dropped when it starts at or after the end or leaves MIDI's 0..127 once transposed.
-- Returns the notes and how many were dropped for their pitch.
function core.note_times(document, placement)
  local result, out_of_range = {}, 0
  local shift, transpose, length = placement.shift or 0, placement.transpose or 0, placement.length
  for _, n in ipairs(document.notes or {}) do
    local s, e = n.start + shift, n["end"] + shift
    local pitch = math.floor(n.pitch) + transpose
    if s < length and e > s then
      if pitch < 0 or pitch > 127 then
        out_of_range = out_of_range + 1
      else
        result[#result + 1] = { pitch = pitch, t0 = placement.position + s,
          t1 = placement.position + math.min(e, length), velocity = math.floor(n.velocity) }
      end
    end
  end
  return result, out_of_range
end

---------------------------------------------------------------------------------------------------
-- Composers, ids, names.

-- The composer the producer typed: a number 1..#composers or one of the names; nil otherwise.
function core.composer_choice(text, composers)
  text = tostring(text or ""):match("^%s*(.-)%s*$")
  local n = tonumber(text)
  if n then
    if n == math.floor(n) and n >= 1 and n <= #composers then return composers[math.tointeger(n)] end
    return nil
  end
  for _, name in ipairs(composers) do
    if name:lower() == text:lower() then return name end
  end
  return nil
end

-- The bridge's composers as the entries of a dropdown that sorts its labels as text (Ardour's
-- LuaDialog does): "01  composer1" … so that composer10 follows composer9. Label → name.
function core.composer_labels(composers)
  local labels = {}
  for i, name in ipairs(composers) do labels[core.composer_label(name, composers, i)] = name end
  return labels
end

function core.composer_label(name, composers, index)
  if not index then
    for i, c in ipairs(composers) do
      if c == name then index = i end
    end
  end
  if not index then return nil end
  return string.format("%02d  %s", index, name)
end

-- How a composer is offered back in the dialog: its number when it is in the list.
function core.composer_number(name, composers)
  for i, c in ipairs(composers) do
    if c == name then return tostring(i) end
  end
  return "1"
end

-- The styles of an audition the producer typed: "all" (or nothing) for every style, else numbers
-- or names separated by commas ("3, 7, composer11"), each checked against the bridge's list; a
-- style named twice counts once. Returns the bridge's `composer` value ("all" or "composer3,composer7")
-- and the names (every composer for "all"), or nil and why.
function core.audition_styles(text, composers)
  text = tostring(text or ""):match("^%s*(.-)%s*$")
  if text == "" or text:lower() == "all" then return "all", { table.unpack(composers) } end
  local names, seen = {}, {}
  for part in text:gmatch("[^,;]+") do
    local name = core.composer_choice(part, composers)
    if not name then
      return nil, string.format("\"%s\" is not one of the bridge's styles (1 to %d, or a name)",
        part:match("^%s*(.-)%s*$"), #composers)
    end
    if not seen[name] then names[#names + 1], seen[name] = name, true end
  end
  if #names == 0 then return nil, "no style given" end
  return table.concat(names, ","), names
end

-- A job id the bridge accepts (letters, digits and . _ : -), unique enough for file names too.
function core.job_id(prefix, now, counter, salt)
  return string.format("%s-%d-%d-%04d", prefix, math.floor(now * 1000) % 1000000000, counter, (salt or 0) % 10000)
end

-- The name of the new track: "<item name> - composerN (piano)".
function core.track_name(item_name, composer)
  local name = (item_name and item_name ~= "") and item_name or "Audio"
  return string.format("%s - %s (piano)", name, composer)
end

---------------------------------------------------------------------------------------------------
-- What the producer reads when something goes wrong (docs/reaper.md, docs/ardour.md).
-- `daw` describes the host in the producer's words:
--   { title = "REAPER", install = "reaper", overrides = "ExtState",
--     log_hint = "Data/Pop2Piano/bridge.log in REAPER's resource folder" }

function core.install_hint(daw)
  return "Install the " .. daw.title .. " scripts from the bridge, so they know where it is:\n"
    .. "    pop2piano-bridge install " .. daw.install .. "\n"
    .. "(or put the bridge's full path in \"command\" in " .. core.CONFIG_NAME .. " beside the Pop2Piano actions)."
end

function core.not_started_message(daw, argv, detail)
  return "The bridge command could not be started:\n    " .. core.command_text(argv) .. "\n"
    .. (detail and detail ~= "" and (detail .. "\n") or "") .. "\n" .. core.install_hint(daw)
end

function core.silent_message(daw, what)
  return string.format("The bridge stopped responding while %s (no news for %d s). "
    .. "Is it still running? Its log: %s (if %s started it).", what, core.SILENT_FOR, daw.log_hint, daw.title)
end

function core.not_running_message(daw, host, port, log_path, started)
  local text = string.format("The Pop2Piano bridge is not answering at %s:%d.\n\n", host, port)
  if started then
    return text .. string.format("%s started it, but it did not answer within %d s. Its log:\n    %s",
      daw.title, core.START_WAIT, log_path)
  end
  return text .. "Start it in a terminal with\n    pop2piano-bridge serve\n(check the port in "
    .. core.CONFIG_NAME .. " or " .. daw.overrides .. " \"port\"), then run this action again."
end

function core.model_unavailable_message(message)
  return "The bridge is running but has no Pop2Piano model yet:\n\n" .. message
    .. "\n\nThen run this action again (the bridge retries loading the model on every request)."
end

-- The composers a /pop2piano/composers request's state lists: the list, or nil and what to tell the
-- producer (the client's failure, a bridge error, or a reply without composers).
function core.composers_from(state, failure)
  local text = failure
  if not text and state.error then
    text = state.error.code == "model_unavailable" and core.model_unavailable_message(state.error.message)
      or ("The bridge could not list its composers: " .. state.error.message)
  end
  local reply = state and core.reply(state, "/pop2piano/composers")
  if not text and (not reply or #reply < 2) then
    text = "The bridge did not list its composers"
      .. (state and state.client_error and (": " .. state.client_error.message) or ".")
  end
  if text then return nil, text end
  return { table.unpack(reply, 2) }
end

return core
