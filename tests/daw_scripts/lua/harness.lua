-- The few assertions the plain-Lua test files share (tests/daw_scripts/lua/test_core.lua, the shared
-- core; tests/daw_scripts/reaper/test_core.lua, REAPER's library on the fake host). No host, no
-- library: runs under Lua 5.3 (Ardour's) and 5.4 (REAPER's).
local harness = { failures = 0, count = 0 }

-- Run one test; a failure is printed and counted, the next test still runs.
function harness.test(name, fn)
  harness.count = harness.count + 1
  local ok, err = pcall(fn)
  if not ok then
    harness.failures = harness.failures + 1
    print("FAIL " .. name .. ": " .. tostring(err))
  end
end

function harness.eq(a, b, msg)
  if a ~= b then error((msg or "") .. " expected " .. tostring(b) .. ", got " .. tostring(a), 2) end
end

function harness.near(a, b, tol, msg)
  if math.abs(a - b) > (tol or 1e-9) then error((msg or "") .. " expected " .. b .. ", got " .. a, 2) end
end

function harness.same_list(a, b, msg)
  harness.eq(#a, #b, (msg or "") .. " length")
  for i = 1, #b do harness.eq(a[i], b[i], (msg or "") .. " [" .. i .. "]") end
end

-- Print the summary (after `prefix`) and exit non-zero when any test failed.
function harness.finish(prefix)
  print(string.format("%s%d tests, %d failures", prefix or "", harness.count, harness.failures))
  os.exit(harness.failures == 0 and 0 or 1)
end

return harness
