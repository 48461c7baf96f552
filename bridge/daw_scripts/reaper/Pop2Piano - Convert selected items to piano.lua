-- @description Pop2Piano: Convert selected items to piano
-- @about Sends each selected audio item to the Pop2Piano bridge and puts the piano arrangement
--   on a new MIDI track under it, aligned with the audio. Install with
--   `pop2piano-bridge install reaper`; the bridge is started in the background when needed.
local dir = ({ reaper.get_action_context() })[2]:match("^(.*[/\\])")
package.path = dir .. "pop2piano/?.lua;" .. package.path
local bridge = require("bridge")

local items = bridge.selected_or_warn("one or more audio items")
if items then
  bridge.convert_items(items, { composer = bridge.settings().composer, output = "file" })
end
