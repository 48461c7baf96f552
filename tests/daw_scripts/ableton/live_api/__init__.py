"""Live's real per-version API (``members.json``, extracted from public dumps) for the fake host."""
