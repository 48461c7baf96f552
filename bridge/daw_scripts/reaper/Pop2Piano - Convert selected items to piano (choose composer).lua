-- @description Pop2Piano: Convert selected items to piano (choose composer and output)
-- @about Asks for the composer style (1-21) and the output (file, live or both), remembers them,
--   then converts like "Convert selected items to piano".
local dir = ({ reaper.get_action_context() })[2]:match("^(.*[/\\])")
package.path = dir .. "pop2piano/?.lua;" .. package.path
local bridge = require("bridge")
local core = require("core")

local items = bridge.selected_or_warn("one or more audio items")
if not items then return end
local settings = bridge.settings()
local ok, answer = reaper.GetUserInputs("Pop2Piano", 2, "Composer (1-21),Output (file/live/both)",
  settings.composer:gsub("composer", "") .. "," .. settings.output)
if not ok then return end
local composer_text, output = answer:match("^([^,]*),([^,]*)$")
local composer = core.composer_name(composer_text or "")
output = (output or ""):lower():gsub("%s", "")
if not composer or not (output == "file" or output == "live" or output == "both") then
  reaper.ShowMessageBox("Composer must be 1 to 21 and output one of file, live, both.", "Pop2Piano", 0)
  return
end
bridge.save_setting("composer", composer)
bridge.save_setting("output", output)
bridge.convert_items(items, { composer = composer, output = output })
