-- How REAPER starts programs (pure logic, no reaper.* calls): the command line for
-- reaper.ExecProcess and what its result says about a command that did not start.
-- The host-neutral logic is in core.lua, shared with the Ardour scripts.
local launch = {}

-- The one blocking call the scripts make: `<command> --version`, only to explain a command that
-- did not start.
launch.DIAGNOSE_MS = 5000

-- REAPER's GetOS(): "Win32"/"Win64" on Windows; "OSX32", "OSX64", "macOS-arm64", "Other" (and
-- Linux builds' own strings) elsewhere. Only Windows parses command lines differently.
function launch.is_windows(os_name)
  return (os_name or ""):match("^Win") ~= nil
end

-- The command line for reaper.ExecProcess. REAPER runs no shell: on macOS/Linux it splits the line
-- on spaces, groups with ' " or ` (removed) and keeps every other character, backslashes included;
-- on Windows the line goes to CreateProcess and the program splits it by CommandLineToArgvW's
-- rules. Wrapping every element in double quotes works for both, as long as no element contains
-- a double quote (no way to escape one on macOS/Linux) and, on Windows, backslashes right before
-- the closing quote are doubled (2n backslashes + quote = n backslashes, then the quote ends).
function launch.command_line(argv, windows)
  local parts = {}
  for i, arg in ipairs(argv) do
    if arg == "" then return nil, "an empty argument cannot be passed to the bridge command" end
    if arg:find('"', 1, true) then
      return nil, "REAPER cannot pass a double quote (\") to a program, and this contains one:\n    " .. arg
    end
    -- The program name (first element) is read up to the next quote, backslashes and all.
    if windows and i > 1 then arg = arg:gsub("(\\+)$", "%1%1") end
    parts[i] = '"' .. arg .. '"'
  end
  return table.concat(parts, " ")
end

-- What `<command> --version` run through ExecProcess(…, DIAGNOSE_MS) says about a command whose
-- `send` wrote nothing. `result` is ExecProcess's return: nil, or "<exit code>\n<output>".
function launch.diagnosis(result)
  if result == nil then
    return "REAPER could not run it (not found, or not a program)."
  end
  local code, output = tostring(result):match("^(%-?%d+)\n?(.*)$")
  output = (output or ""):match("^%s*([^\r\n]*)") or ""
  if code == nil then return "REAPER could not run it." end
  if tonumber(code) == 0 and output:find("pop2piano", 1, true) then
    return "It runs (" .. output .. ") but did not answer `send --request`: it may be older than these "
      .. "scripts; update the bridge, then install the scripts again."
  end
  if tonumber(code) == 0 then
    -- REAPER on Linux forks and execvp()s; when that fails the child exits 0 without a word.
    return "REAPER could not run it (it printed nothing; a program that cannot be found looks like this)."
  end
  return "It ran but failed (exit status " .. code .. (output ~= "" and (": " .. output) or "") .. ")."
end

return launch
