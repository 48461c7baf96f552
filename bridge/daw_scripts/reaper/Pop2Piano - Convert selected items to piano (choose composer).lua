-- @description Pop2Piano: Convert selected items to piano (choose composer and output)
-- @about Asks the bridge which composer styles its model has, asks for one of them and the output
--   (file, live or both), remembers them, then converts like "Convert selected items to piano".
local dir = ({ reaper.get_action_context() })[2]:match("^(.*[/\\])")
package.path = dir .. "pop2piano/?.lua;" .. package.path
local bridge = require("bridge")
local core = require("core")

local items = bridge.selected_or_warn("one or more audio items")
if not items then return end
local settings = bridge.settings()
bridge.composers(settings, function(composers)
  if not composers then return end
  local ok, answer = reaper.GetUserInputs("Pop2Piano", 2,
    string.format("Composer (1-%d or name),Output (file/live/both)", #composers),
    core.composer_number(settings.composer, composers) .. "," .. settings.output)
  if not ok then return end
  local composer_text, output = answer:match("^([^,]*),([^,]*)$")
  local composer = core.composer_choice(composer_text, composers)
  output = (output or ""):lower():gsub("%s", "")
  if not composer or not (output == "file" or output == "live" or output == "both") then
    reaper.ShowMessageBox(string.format("The composer must be 1 to %d (or one of: %s) and the output one of "
      .. "file, live, both.", #composers, table.concat(composers, ", ")), "Pop2Piano", 0)
    return
  end
  bridge.save_setting("composer", composer)
  bridge.save_setting("output", output)
  bridge.convert_items(items, { composer = composer, output = output })
end)
