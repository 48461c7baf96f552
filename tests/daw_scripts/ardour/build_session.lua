-- ardour7-lua tests/daw_scripts/ardour/build_session.lua DIR NAME
-- A new, empty Ardour session for the GUI test, built headless (ardour7-lua uses the Dummy backend
-- when none is set up): 48 kHz, 120 BPM for the first 8 quarter notes (4.0 s), then 90 BPM, so a
-- region from 3 s to 7 s spans a tempo change. The GUI test embeds the audio itself.
-- (The GUI asks about the audio setup for a new session; for an existing one it starts the engine
-- it was told to: hence built here, opened there.)
local dir, name = arg[1], arg[2]
assert(dir and name, "usage: build_session.lua DIR NAME")
assert(create_session(dir, name, 48000), "create_session failed")
local tm = Temporal.TempoMap.fetch_writable()
tm:set_tempo(Temporal.Tempo(120, 120, 4), Temporal.timepos_t(0))
tm:set_tempo(Temporal.Tempo(90, 90, 4), Temporal.timepos_t.from_ticks(Temporal.ticks_per_beat * 8))
Temporal.TempoMap.update(tm)
Session:save_state("", false, false, false, false, false)
close_session()
print("built " .. dir)
