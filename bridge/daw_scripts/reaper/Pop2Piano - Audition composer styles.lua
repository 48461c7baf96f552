-- @description Pop2Piano: Audition composer styles
-- @about Converts the first selected audio item in every composer style (or the ones you list) in one
--   request, and puts each style on one new MIDI item under it as a take named after the style, as
--   soon as the bridge finishes it. Switch takes to compare them.
local dir = ({ reaper.get_action_context() })[2]:match("^(.*[/\\])")
package.path = dir .. "pop2piano/?.lua;" .. package.path
local bridge = require("bridge")
local core = require("core")

local items = bridge.selected_or_warn("an audio item")
if not items then return end
if #items > 1 then bridge.log("auditioning the first selected item only (" .. items[1].name .. ")") end
local settings = bridge.settings()
bridge.composers(settings, function(composers)
  if not composers then return end
  local ok, answer = reaper.GetUserInputs("Pop2Piano audition", 1,
    string.format("Styles (all or 1-%d / names: 3;7;11),extrawidth=120", #composers), settings.audition)
  if not ok then return end
  local value, names = core.audition_styles(answer, composers)
  if not value then
    reaper.ShowMessageBox("The styles must be \"all\" or numbers 1 to " .. #composers .. " (or names: "
      .. table.concat(composers, ", ") .. ") separated by \";\": " .. names, "Pop2Piano", 0)
    return
  end
  bridge.save_setting("audition", answer)
  bridge.audition(items[1], { composer = value, names = names })
end)
