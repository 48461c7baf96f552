"""Output sinks: what becomes of an arrangement. Files (``files``: a MIDI file and its notes JSON,
named by ``naming`` and owned per ``manifest``) and live playback (``live`` on a ``ports.MidiPort``)."""
