"""Faults: the daemon killed mid-job, the inference process killed, many clients at once."""

from __future__ import annotations

import os
import signal
import threading
import time

from processes import Daemon, Peer, answers_ping


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry))
    return kids


def _status(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def test_sigkill_mid_job_leaves_no_partial_files_and_a_restart_serves(model_dir, long_song_path, tmp_path):
    server = Daemon(model_dir, "--no-live").start()
    peer = Peer(server.port)
    try:
        children = _children(server.proc.pid)
        peer.send("/pop2piano/convert", "k1", long_song_path, "out_dir", str(tmp_path))
        peer.until_generating("k1")
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
        assert os.listdir(tmp_path) == []  # nothing visible, not even a temporary file
        deadline = time.monotonic() + 60  # the orphaned inference process notices and exits
        while any(os.path.exists(f"/proc/{c}") for c in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [c for c in children if os.path.exists(f"/proc/{c}")]
    finally:
        peer.close()
        server.stop()
    again = Daemon(model_dir, "--no-live").start()
    try:
        assert answers_ping(again.port)
    finally:
        assert again.stop() == 0


def test_a_killed_inference_process_fails_its_job_and_the_next_job_works(model_dir, long_song_path, song_path,
                                                                          tmp_path):
    server = Daemon(model_dir, "--no-live").start()
    peer = Peer(server.port)
    try:
        peer.send("/pop2piano/convert", "w1", long_song_path, "out_dir", str(tmp_path))
        peer.until_generating("w1")
        (worker,) = [c for c in _children(server.proc.pid) if "resource_tracker" not in _cmdline(c)]
        os.kill(worker, signal.SIGKILL)
        address, args = peer.until_final("w1")[-1]
        assert address == "/pop2piano/error" and args[1] == "internal" and "died" in args[2]
        peer.send("/pop2piano/convert", "w2", song_path, "duration", 5.0, "out_dir", str(tmp_path))
        assert peer.until_final("w2", timeout=180)[-1][0] == "/pop2piano/done"
    finally:
        peer.close()
        assert server.stop() == 0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\x00", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_many_clients_every_request_gets_exactly_one_final_reply(model_dir, song_path, tmp_path):
    server = Daemon(model_dir, "--no-live", "--queue", "4").start()
    pid = server.proc.pid
    try:
        warm = Peer(server.port)
        warm.send("/pop2piano/convert", "warm", song_path, "duration", 4.0, "out_dir", str(tmp_path))
        warm.until_final("warm", timeout=120)
        warm.close()
        rss_before, threads_before = _status(pid, "VmRSS"), _status(pid, "Threads")
        results: dict[str, list] = {}
        errors: list[str] = []

        def client(n: int) -> None:
            peer = Peer(server.port)
            control = Peer(server.port)  # cancels and status from another socket: their replies go there
            expected: dict[str, int] = {}
            finals: dict[str, int] = {}
            try:
                for i in range(60):
                    kind = i % 4
                    if kind == 0:
                        job = f"c{n}-{i}"
                        expected[job] = 1
                        peer.send("/pop2piano/convert", job, song_path, "composer", f"composer{1 + i % 21}",
                                  "duration", 3.0, "out_dir", str(tmp_path))
                    elif kind == 1:
                        peer.send("/pop2piano/ping")
                        expected[f"ping{n}-{i}"] = 1
                    elif kind == 2:
                        control.send("/pop2piano/cancel", f"c{n}-{i - 2}")
                    else:
                        control.send("/pop2piano/status", f"c{n}-{i - 3}")
                pongs = 0
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline:
                    try:
                        address, args = peer.receive(5)
                    except (TimeoutError, OSError):
                        if all(finals.get(j, 0) >= 1 for j in expected if j.startswith("c")):
                            break
                        continue
                    if address == "/pop2piano/pong":
                        pongs += 1
                    elif address in ("/pop2piano/done", "/pop2piano/cancelled", "/pop2piano/error"):
                        finals[args[0]] = finals.get(args[0], 0) + 1
                results[f"client{n}"] = [expected, finals, pongs]
            except Exception as exc:  # reported below
                errors.append(repr(exc))
            finally:
                peer.close()
                control.close()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(400)
        assert not errors, errors
        for name, (expected, finals, pongs) in results.items():
            jobs = [j for j in expected if j.startswith("c")]
            assert pongs == 15, (name, pongs)
            # exactly one final reply per convert: done, error (busy included) or cancelled
            assert {j: finals.get(j, 0) for j in jobs} == {j: 1 for j in jobs}, (name, finals)
        time.sleep(1.0)
        threads_after, rss_after = _status(pid, "Threads"), _status(pid, "VmRSS")
        assert threads_after <= threads_before + 2, (threads_before, threads_after)
        assert rss_after - rss_before < 200_000, (rss_before, rss_after)  # kB
        assert answers_ping(server.port)
    finally:
        assert server.stop() == 0
