"""A stand-in for the ``pop2piano-bridge`` CLI in the REAPER script tests (no model, no sockets).

    python bridge_double.py SCENARIO.json send --request FILE | serve … | --version

It behaves as the scenario file says, so the scripts' deadlines, auto-start and placement can be
tested in seconds: ``send`` reads the request (and deletes it, as the real one does), logs what it
got, and writes the JSON lines the scenario gives for that address; ``serve`` logs its argv and
marks the bridge as up after a delay (or fails). Every invocation is appended to the scenario's
``log`` file as one JSON line: ``{"argv": [...], "request": {...}}``, plus ``"beats"``: what the
request's beats file held when ``send`` ran (the script removes it once the job ended).

send behaviours, by request address (``"*"`` for any):
  {"kind": "silent"}                 never writes a line (a command that does not start)
  {"kind": "hang"}                   writes "#started", then nothing
  {"kind": "lines", "lines": [...], "every": s, "notes": {...}}
                                     "#started", then each line (every s seconds); a line may use
                                     "$JOB" (the convert job id) and "$NOTES" (a notes document
                                     written from "notes" into the request's out_dir), or
                                     "$NOTES:<composer>" (an audition's style: a notes document of
                                     that composer from "styles": {composer: [notes…]})
  {"kind": "needs_serve", "served": {...}}
                                     "#error not_running" until ``serve`` ran, then the "served"
                                     behaviour
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> int:
    scenario_path, argv = sys.argv[1], sys.argv[2:]
    with open(scenario_path, encoding="utf-8") as handle:
        scenario = json.load(handle)

    def log(entry: dict) -> None:
        with open(scenario["log"], "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    if argv[:1] == ["--version"]:
        log({"argv": argv})
        print(scenario.get("version_output", "pop2piano-bridge 0.1.0 (double)"))
        return int(scenario.get("version_status", 0))
    if argv[:1] == ["serve"]:
        log({"argv": argv})
        if scenario.get("serve") == "fail":
            return 1
        time.sleep(float(scenario.get("serve_delay", 0)))
        open(scenario["served_flag"], "w").close()
        time.sleep(600)  # a daemon: the test's fake REAPER ends it
        return 0
    if argv[:2] != ["send", "--request"] or len(argv) != 3:
        log({"argv": argv, "error": "unexpected arguments"})
        return 3
    with open(argv[2], encoding="utf-8") as handle:
        request = json.load(handle)
    os.remove(argv[2])
    entry = {"argv": argv, "request": request}
    args = request.get("args", [])
    if "beats_file" in args:
        with open(args[args.index("beats_file") + 1], encoding="utf-8") as handle:
            entry["beats"] = json.load(handle)
    log(entry)
    behaviour = scenario["send"].get(request["address"], scenario["send"].get("*"))
    if behaviour["kind"] == "needs_serve":
        if os.path.exists(scenario["served_flag"]):
            behaviour = behaviour["served"]
        else:
            behaviour = {"kind": "lines", "lines": [["#error", "not_running", "no reply (double)"], ["#exit", 2]]}
    if behaviour["kind"] == "silent":
        time.sleep(600)
        return 0
    with open(request["out"], "w", encoding="utf-8", newline="\n") as out:
        def emit(line: list) -> None:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            out.flush()

        emit(["#started", "double"])
        if behaviour["kind"] == "hang":
            time.sleep(600)
            return 0
        job = request["args"][0] if request["args"] else ""
        notes_path = ""
        if "notes" in behaviour:
            args = request["args"]
            out_dir = args[args.index("out_dir") + 1]
            notes_path = os.path.join(out_dir, f"{job}.notes.json")
            # As the real bridge writes it (docs/notes-json.md): the composer it used is always named,
            # the requested one or its model's first style, and where the beats came from.
            chosen = args[args.index("composer") + 1] if "composer" in args else "composer1"
            with open(notes_path, "w", encoding="utf-8") as handle:
                source = "beats_file" if "beats_file" in args else "tracked"
                json.dump({"composer": chosen, "beat_source": source, **behaviour["notes"]}, handle)
        def style_notes(composer: str) -> str:
            args = request["args"]
            path = os.path.join(args[args.index("out_dir") + 1], f"{job}-{composer}.notes.json")
            source = "beats_file" if "beats_file" in args else "tracked"
            with open(path, "w", encoding="utf-8") as handle:
                json.dump({"composer": composer, "beat_source": source, "notes": behaviour["styles"][composer]}, handle)
            return path

        def value(v):
            if v == "$NOTES":
                return notes_path
            if v == "$JOB":
                return job
            if isinstance(v, str) and v.startswith("$NOTES:"):
                return style_notes(v[len("$NOTES:"):])
            return v

        for line in behaviour["lines"]:
            time.sleep(float(behaviour.get("every", 0)))
            emit([value(v) for v in line])
    return 0


if __name__ == "__main__":
    sys.exit(main())
