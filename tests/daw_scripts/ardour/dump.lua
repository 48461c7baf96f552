-- The tracks, regions and notes of the open session, as plain tables (for JSON), with the tempo
-- map's view of each note: loaded by the CI action (in the GUI) and by read_session.lua (headless).
-- Calls: libs/ardour/luabindings.cc (7.3); note_list and the note accessors as Ardour's own
-- scripts/s_... examples use them.
return function()
  local tm = Temporal.TempoMap.read()
  local tpb = Temporal.ticks_per_beat
  -- Temporal::Beats prints as "<beats>:<ticks>"; Lua gets no integer accessor in 7.3.
  local function ticks(beats)
    local b, t = tostring(beats):match("^(%-?%d+):(%d+)$")
    return tonumber(b) * tpb + tonumber(t)
  end
  local function q_ticks(samples) return ticks(tm:quarters_at(Temporal.timepos_t(samples))) end
  local out = { rate = Session:sample_rate(), nominal_rate = Session:nominal_sample_rate(), path = Session:path(),
    tracks = {} }
  for route in Session:get_tracks():iter() do
    local track = route:to_track()
    local t = { name = track:name(), order = track:presentation_info_ptr():order(), regions = {} }
    local instrument = track:the_instrument()
    if not instrument:isnil() then t.instrument = instrument:name() end
    for region in track:playlist():region_list():iter() do
      local r = { name = region:name(), position = region:position():samples(), start = region:start():samples(),
        length = region:length():samples(), position_ticks = q_ticks(region:position():samples()) }
      local file = region:source(0):to_filesource()
      if not file:isnil() then r.source = file:path() end
      local midi = region:to_midiregion()
      if midi:isnil() then
        r.kind = "audio"
      else
        r.kind = "midi"
        r.start_ticks = ticks(region:start():beats())
        r.notes = {}
        for n in ARDOUR.LuaAPI.note_list(midi:model()):iter() do
          -- a note's time counts from the start of the region's source, in beats
          local on = r.position_ticks + ticks(n:time()) - r.start_ticks
          local off = on + ticks(n:length())
          r.notes[#r.notes + 1] = { pitch = n:note(), velocity = n:velocity(), channel = n:channel(),
            on_ticks = on, off_ticks = off,
            on_sample = tm:sample_at_beats(Temporal.Beats(on // tpb, on % tpb)),
            off_sample = tm:sample_at_beats(Temporal.Beats(off // tpb, off % tpb)) }
        end
      end
      t.regions[#t.regions + 1] = r
    end
    out.tracks[#out.tracks + 1] = t
  end
  if Editor then -- in the GUI: what is selected
    out.selected = {}
    for region in Editor:get_selection().regions:regionlist():iter() do out.selected[#out.selected + 1] = region:name() end
  end
  return out
end
