-- @description Pop2Piano: Convert selected items to piano
-- @about Sends each selected audio item to the Pop2Piano bridge and puts the piano arrangement
--   on a new MIDI track under it, aligned with the audio. Needs `pop2piano-bridge serve` running.
local dir = ({ reaper.get_action_context() })[2]:match("^(.*[/\\])")
package.path = dir .. "pop2piano/?.lua;" .. package.path
local bridge = require("bridge")

local items, skipped = bridge.selected_audio_items()
if #items == 0 then
  reaper.ShowMessageBox("Select one or more audio items first." ..
    (#skipped > 0 and ("\n(skipped: " .. table.concat(skipped, ", ") .. ")") or ""), "Pop2Piano", 0)
  return
end
local settings = bridge.settings()
bridge.convert_items(items, { composer = settings.composer, output = "file" })
