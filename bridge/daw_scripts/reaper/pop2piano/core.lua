-- Pure logic of the REAPER scripts: requests from item data, the bridge's replies, note times.
-- No reaper.* calls here, so it runs (and is tested) under plain Lua 5.4.
local core = {}

core.DEFAULT_PORT = 9310
core.COMPOSERS = 21
-- DAW item lengths are rounded; the bridge accepts ranges up to 50 ms past the file end.
core.RANGE_SLACK = 0.04

-- The convert request for one audio item.
-- item: {position, length, startoffs, playrate, source_path, source_length, tempo}
-- Returns {start, duration, playrate, tempo, path} in the bridge's terms:
-- start and duration are seconds of the source file; notes come back in item seconds.
function core.request_for_item(item)
  assert(item.source_path and item.source_path ~= "", "the item has no source file")
  local rate = item.playrate or 1.0
  if rate <= 0 then rate = 1.0 end
  local start = math.max(0, item.startoffs or 0)
  local duration = item.length * rate
  if item.source_length and item.source_length > 0 then
    if start >= item.source_length then
      return nil, "the item starts past the end of its source file (looped item?)"
    end
    -- a looped or extended item plays past its source: convert what the source holds
    duration = math.min(duration, item.source_length - start)
  end
  return {
    path = item.source_path,
    start = start,
    duration = duration,
    playrate = rate,
    tempo = item.tempo,
  }
end

-- Quote one argument for the shell that runs it ("posix" or "windows").
function core.quote(arg, shell)
  arg = tostring(arg)
  if shell == "windows" then
    return '"' .. arg:gsub('"', '""') .. '"'
  end
  return "'" .. arg:gsub("'", "'\\''") .. "'"
end

local function number_arg(x)
  return string.format("%.6f", x)
end

-- The argument list of `pop2piano-bridge send /pop2piano/convert ...`.
function core.convert_args(job_id, request, options)
  local args = { "/pop2piano/convert", job_id, request.path,
    "composer", options.composer or "composer1",
    "start", number_arg(request.start),
    "duration", number_arg(request.duration),
    "playrate", number_arg(request.playrate),
    "output", options.output or "file" }
  if request.tempo and request.tempo > 0 then
    args[#args + 1] = "tempo"
    args[#args + 1] = number_arg(request.tempo)
  end
  if options.out_dir then
    args[#args + 1] = "out_dir"
    args[#args + 1] = options.out_dir
  end
  return args
end

-- One shell command line that runs `send`, writes its output to out_file and ends with an
-- "__EXIT__ <status>" line, so a poller knows the command finished and how.
function core.command_line(bridge_command, port, args, out_file, shell, secret)
  local parts = { bridge_command, "send", "--port", tostring(port or core.DEFAULT_PORT) }
  if secret and secret ~= "" then
    parts[#parts + 1] = "--secret"
    parts[#parts + 1] = core.quote(secret, shell)
  end
  for _, a in ipairs(args) do parts[#parts + 1] = core.quote(a, shell) end
  local send = table.concat(parts, " ")
  if shell == "windows" then
    local out = core.quote(out_file, shell)
    return 'cmd.exe /V:ON /C "' .. send .. ' > ' .. out .. ' 2>&1 & echo __EXIT__ !ERRORLEVEL! >> ' .. out .. '"'
  end
  local script = send .. " > " .. core.quote(out_file, shell) .. " 2>&1; echo \"__EXIT__ $?\" >> "
    .. core.quote(out_file, shell)
  return "/bin/sh -c " .. core.quote(script, shell)
end

-- Parse the output `send` wrote so far. Returns a state table:
-- {accepted, fraction, stage, done={midi, notes, count}, error={code, message}, cancelled, exit, not_running}
function core.parse_output(text)
  local state = { fraction = 0, stage = "starting" }
  for line in (text or ""):gmatch("[^\r\n]+") do
    local fields = {}
    for field in (line .. "\t"):gmatch("([^\t]*)\t") do fields[#fields + 1] = field end
    local address = fields[1]
    if address == "/pop2piano/accepted" then
      state.accepted = true
      state.stage = "queued"
    elseif address == "/pop2piano/progress" then
      state.fraction = tonumber(fields[3]) or state.fraction
      state.stage = fields[4] or state.stage
    elseif address == "/pop2piano/done" then
      state.done = { midi = fields[3], notes = fields[4], count = tonumber(fields[5]) or 0 }
      state.fraction, state.stage = 1, "done"
    elseif address == "/pop2piano/error" then
      state.error = { code = fields[3] or "internal", message = fields[4] or line }
    elseif address == "/pop2piano/cancelled" then
      state.cancelled = true
    elseif line:match("^__EXIT__") then
      state.exit = tonumber(line:match("^__EXIT__%s+(%-?%d+)")) or -1
    elseif line:match("no reply") then
      state.not_running = true
    elseif line:match("^pop2piano%-bridge: error:") then
      state.error = state.error or { code = "client", message = line:gsub("^pop2piano%-bridge: error: ", "") }
    end
  end
  if state.exit and not (state.done or state.error or state.cancelled or state.not_running) then
    -- the command itself failed (not installed, not on PATH, ...)
    state.error = { code = "client", message = "the bridge command failed (exit " .. state.exit .. "): "
      .. ((text or ""):match("^([^\r\n]*)") or "") }
  end
  state.finished = state.exit ~= nil
  return state
end

-- Project times of the notes of a notes document for an item at `position`.
-- Each note: {pitch, start, end, velocity} in item seconds → {pitch, t0, t1, velocity}.
-- Notes are cut at the item's end (`length`), dropped when they start at or after it.
function core.note_times(document, position, length)
  local result = {}
  for _, n in ipairs(document.notes or {}) do
    local s, e = n.start, n["end"]
    if s < length and e > s then
      result[#result + 1] = { pitch = math.floor(n.pitch), t0 = position + s,
        t1 = position + math.min(e, length), velocity = math.floor(n.velocity) }
    end
  end
  return result
end

-- "composer7" from "7", "composer7" or 7; nil when out of range.
function core.composer_name(value)
  local n = tonumber(tostring(value):match("^%s*composer(%d+)%s*$") or tostring(value):match("^%s*(%d+)%s*$"))
  if n and n >= 1 and n <= core.COMPOSERS and n == math.floor(n) then return "composer" .. n end
  return nil
end

-- A job id the bridge accepts: letters, digits and . _ : -
function core.job_id(prefix, now, counter)
  return string.format("%s-%d-%d", prefix, math.floor(now * 1000) % 1000000000, counter)
end

-- The name of the new track: "<item name> - composerN (piano)".
function core.track_name(item_name, composer)
  local name = (item_name and item_name ~= "") and item_name or "Audio"
  return string.format("%s - %s (piano)", name, composer)
end

return core
