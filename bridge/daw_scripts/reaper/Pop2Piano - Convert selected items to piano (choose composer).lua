-- @description Pop2Piano: Convert selected items to piano (choose composer, output and grid)
-- @about Asks the bridge which composer styles its model has, asks for one of them, the output
--   (file, live or both) and the grid the notes follow (beats the bridge tracks, or the project's
--   tempo map), remembers them, then converts like "Convert selected items to piano".
local dir = ({ reaper.get_action_context() })[2]:match("^(.*[/\\])")
package.path = dir .. "pop2piano/?.lua;" .. package.path
local bridge = require("bridge")
local core = require("core")

local items = bridge.selected_or_warn("one or more audio items")
if not items then return end
local settings = bridge.settings()
bridge.composers(settings, function(composers)
  if not composers then return end
  local ok, answer = reaper.GetUserInputs("Pop2Piano", 3,
    string.format("Composer (1-%d or name),Output (file/live/both),Grid (tracked/project)", #composers),
    core.composer_number(settings.composer, composers) .. "," .. settings.output .. "," .. settings.grid)
  if not ok then return end
  local composer_text, output, grid = answer:match("^([^,]*),([^,]*),([^,]*)$")
  local composer = core.composer_choice(composer_text, composers)
  output = (output or ""):lower():gsub("%s", "")
  grid = (grid or ""):lower():gsub("%s", "")
  if not composer or not (output == "file" or output == "live" or output == "both")
      or not (grid == bridge.GRID_TRACKED or grid == bridge.GRID_PROJECT) then
    reaper.ShowMessageBox(string.format("The composer must be 1 to %d (or one of: %s), the output one of "
      .. "file, live, both, and the grid tracked (beats the bridge finds in the audio) or project (the "
      .. "project's tempo map).", #composers, table.concat(composers, ", ")), "Pop2Piano", 0)
    return
  end
  bridge.save_setting("composer", composer)
  bridge.save_setting("output", output)
  bridge.save_setting("grid", grid)
  bridge.log("notes " .. (grid == bridge.GRID_PROJECT and "on the project grid (its tempo map)"
    or "on beats tracked by the bridge") .. "; remembered for the other actions")
  bridge.convert_items(items, { composer = composer, output = output, grid = grid })
end)
