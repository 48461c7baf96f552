-- @description Pop2Piano: Stop live preview
-- @about Silences the bridge's live MIDI port at once (note-offs for every sounding note).
local dir = ({ reaper.get_action_context() })[2]:match("^(.*[/\\])")
package.path = dir .. "pop2piano/?.lua;" .. package.path
local bridge = require("bridge")

bridge.send_simple("/pop2piano/stop")
