-- @description Pop2Piano: Preview selected item live
-- @about Streams the arrangement of the first selected audio item to the bridge's virtual MIDI
--   port ("Pop2Piano Bridge") while it is generated. Route that port to a piano track to hear it.
local dir = ({ reaper.get_action_context() })[2]:match("^(.*[/\\])")
package.path = dir .. "pop2piano/?.lua;" .. package.path
local bridge = require("bridge")

local items = bridge.selected_or_warn("an audio item")
if items then
  bridge.convert_items({ items[1] }, { composer = bridge.settings().composer, output = "live" })
end
