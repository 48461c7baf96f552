ardour { ["type"] = "EditorAction", name = "Pop2Piano test harness",
  license = "MIT", author = "Pop2Piano Bridge tests",
  description = [[Test only (tests/daw_scripts/ardour/test_ardour.py). Its slot's arguments say what to do:
mode=setup: embed the WAV `wav` as a new track so that a region starts at `position` s in the session,
plays the file from `start` s for `length` s, and select that region; mode=inspect: write the session's
tracks, regions and notes to `out` as JSON. Each run appends "<mode> done" or "<mode> ERROR ..." to `log`.]] }

function factory (params) return function ()
  local p = params or {}
  local function log (text)
    local handle = io.open (p.log, "ab")
    if handle then handle:write (p.mode .. " " .. text .. "\n") handle:close () end
  end
  local ok, err = pcall (function ()
    local dir = p["x-script-origin"]:match ("^(.*/)")
    if p.mode == "setup" then
      local rate = Session:sample_rate ()
      local pos = math.floor (tonumber (p.position) * rate + 0.5)
      local start = math.floor (tonumber (p.start) * rate + 0.5)
      local len = math.floor (tonumber (p.length) * rate + 0.5)
      local function find ()
        for route in Session:get_tracks ():iter () do
          for r in route:to_track ():playlist ():region_list ():iter () do
            local file = r:source (0):to_filesource ()
            if not file:isnil () and file:path () == p.wav then return r end
          end
        end
      end
      -- Idempotent: the test sends this until it reports done (the editor may not be ready yet).
      local region = find ()
      if not region then
        local files = C.StringVector ()
        files:push_back (p.wav)
        -- as Import → "Embed", new track (Editor::do_embed, gtk2_ardour/editor_audio_import.cc; bound in
        -- luainstance.cc): the region plays the file where it is. The whole file starts at pos - start.
        Editor:do_embed (files, Editing.ImportDistinctFiles, Editing.ImportAsTrack, Temporal.timepos_t (pos - start),
          ARDOUR.PluginInfo (), ARDOUR.Track ())
        region = assert (find (), "the embedded region is not in any playlist")
        region:trim_front (Temporal.timepos_t (pos)) -- cut `start` off its front: it now starts at pos
        region:set_length (Temporal.timecnt_t (len))
      end
      local view = Editor:regionview_from_region (region)
      assert (view, "the region has no view in the editor yet")
      local selection = ArdourUI.SelectionList ()
      selection:push_back (view)
      Editor:set_selection (selection, ArdourUI.SelectionOp.Set)
      log (string.format ("region %s at %d, start %d, length %d, selected %d", region:name (),
        region:position ():samples (), region:start ():samples (), region:length ():samples (),
        Editor:get_selection ().regions:regionlist ():size ()))
    elseif p.mode == "inspect" then
      local json = assert (loadfile (p.json)) ()
      local dump = assert (loadfile (dir .. "dump.lua")) ()
      local handle = assert (io.open (p.out, "wb"))
      handle:write (json.encode (dump ()))
      handle:close ()
    else
      error ("unknown mode " .. tostring (p.mode))
    end
  end)
  log (ok and "done" or ("ERROR " .. tostring (err)))
end end
