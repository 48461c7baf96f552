ardour { ["type"] = "EditorAction", name = "Pop2Piano - Convert selected regions to piano",
  license = "MIT", author = "Pop2Piano Bridge",
  description = [[
Sends each selected audio region to the Pop2Piano bridge and puts the piano arrangement on a new
MIDI track under it: one MIDI region at the audio region's position and length, the notes where you
hear them. Install with `pop2piano-bridge install ardour`; the bridge is started in the background
when needed.]] }

-- A thin loader. The action slot keeps a copy of this file (gtk2_ardour/luainstance.cc), so the
-- logic is in pop2piano/ardour.lua beside it, found through "x-script-origin": the path Ardour
-- loaded this file from (luainstance.cc, LuaInstance::interactive_add). Nothing may escape an
-- action: an error makes Ardour drop it from its slot until restart.
function factory (params) return function ()
  local ok, err = pcall (function ()
    local dir = ((params or {})["x-script-origin"] or ""):match ("^(.*[/\\])") or ""
    local ardour = assert (loadfile (dir .. "pop2piano/ardour.lua")) (dir .. "pop2piano/")
    ardour.run_action ({ choose = false })
  end)
  if not ok then
    print ("Pop2Piano: " .. tostring (err))
    LuaDialog.Message ("Pop2Piano", "The Pop2Piano scripts could not be loaded:\n" .. tostring (err)
      .. "\n\nInstall them again with\n    pop2piano-bridge install ardour",
      LuaDialog.MessageType.Error, LuaDialog.ButtonType.Close):run ()
  end
end end

-- The toolbar button (as Ardour's own scripts draw theirs, e.g. vamp_audio_to_midi.lua).
function icon (_params) return function (ctx, width, height, fg)
  local txt = Cairo.PangoLayout (ctx, "ArdourMono " .. math.ceil (math.min (width, height) * .45) .. "px")
  txt:set_text ("P2P")
  local tw, th = txt:get_pixel_size ()
  ctx:set_source_rgba (ARDOUR.LuaAPI.color_to_rgba (fg))
  ctx:move_to (.5 * (width - tw), .5 * (height - th))
  txt:show_in_cairo_context (ctx)
end end
