"""The OSC API v1: message types and their (pure) translation to and from OSC arguments."""
