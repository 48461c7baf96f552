"""The real bridge CLI for the REAPER auto-start tests: ``serve`` runs with a given model, no MIDI port.

    python bridge_with_model.py MODEL_DIR <pop2piano-bridge arguments…>

The scripts append ``serve --log-file …`` (or ``send --request …``) to the installed command; a
test installs ``[python, this file, MODEL_DIR]`` as that command, so a bridge REAPER starts loads
the tiny test model (or a missing one) instead of looking for the real weights.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))  # the checkout

from bridge.cli import main  # noqa: E402

if __name__ == "__main__":
    model, args = sys.argv[1], sys.argv[2:]
    if args[:1] == ["serve"]:
        args = ["serve", "--model", model, "--no-live", *args[1:]]
    sys.exit(main(args))
