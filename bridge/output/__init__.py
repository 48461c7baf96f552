"""Output sinks: what becomes of an arrangement (files now, a live MIDI port later)."""
