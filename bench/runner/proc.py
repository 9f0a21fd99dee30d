# SPDX-License-Identifier: MIT
# Process handling for the bench runner: start a server fresh for one measurement, read its
# `ready <port>` line with a deadline, run the client with a timeout and parse its one JSON line,
# stop the server (SIGTERM, then SIGKILL after a grace period).
#
# Why this shape: every measurement must be independent (a fresh server, a kernel-chosen port)
# and no run may hang the whole pass, so every wait has a deadline, and every process we start is
# registered so that Ctrl-C or an exception kills what is left (by its own pid, nothing broader).
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time

_live = []  # Popen objects still running (servers, perf, strace)


class RunError(Exception):
    """A run that failed: no ready line, non-zero exit, timeout or bad JSON."""


def pinned(cpu, argv):
    """argv under `taskset -c cpu` (taskset execs, so the pid stays the program's)."""
    if cpu is None or shutil.which("taskset") is None:
        return list(argv)
    return ["taskset", "-c", str(cpu)] + list(argv)


def register(proc):
    _live.append(proc)
    return proc


def unregister(proc):
    if proc in _live:
        _live.remove(proc)


def kill_all():
    """Kill every process this runner started that is still alive (Ctrl-C, exception)."""
    for proc in list(_live):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                try:
                    proc.kill()
                except ProcessLookupError:
                    pass
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        unregister(proc)


def _tail(fileobj, limit=600):
    try:
        fileobj.seek(0)
        data = fileobj.read().decode(errors="replace").strip()
    except (OSError, ValueError):
        return ""
    return data[-limit:]


def _ready_port(line):
    """`ready <port>` (bench servers), or the echo sample's `echo_server: listening on
    <host>:<port> (<backend> backend)`."""
    words = line.split()
    if len(words) == 2 and words[0] == "ready" and words[1].isdigit():
        return int(words[1])
    if len(words) >= 4 and words[:3] == ["echo_server:", "listening", "on"]:
        port = words[3].rpartition(":")[2]
        if port.isdigit():
            return int(port)
    return None


class Server:
    """One server process, started by start() and stopped by stop()."""

    def __init__(self, argv, cpu=0, ready_timeout=10.0, grace=3.0):
        self.argv = pinned(cpu, argv)
        self.ready_timeout = ready_timeout
        self.grace = grace
        self.proc = None
        self.port = None
        self.exit_code = None
        self._err = tempfile.TemporaryFile()

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        try:
            self.proc = register(subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._err,
                start_new_session=True))
        except OSError as e:
            raise RunError(f"server could not start: {e}")
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + self.ready_timeout
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RunError(f"no ready line within {self.ready_timeout:g} s" + self.stderr())
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                code = self.proc.wait(timeout=5)
                raise RunError(f"server exited ({code}) before its ready line" + self.stderr())
            buf += chunk
        self.port = _ready_port(buf.split(b"\n", 1)[0].decode(errors="replace"))
        if self.port is None:
            raise RunError(f"bad ready line {buf[:80]!r}" + self.stderr())
        # Keep draining stdout so a chatty server can never block on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self):
        try:
            while self.proc.stdout.read(4096):
                pass
        except (OSError, ValueError):
            pass

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr(self):
        text = _tail(self._err)
        return f"; server stderr: {text}" if text else ""

    def stop(self):
        """SIGTERM, wait `grace` seconds, then SIGKILL. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:  # already exited (and reaped): never signal its pid
            unregister(self.proc)
            self.exit_code = self.proc.returncode
            return self.exit_code
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: only it
            self.exit_code = self.proc.wait(timeout=self.grace)
        except ProcessLookupError:  # already gone
            self.exit_code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
            self.exit_code = "killed"
        unregister(self.proc)
        return self.exit_code

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def proc_status_kb(pid, field):
    """VmRSS / VmHWM of a process in KiB, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def run_json(argv, timeout, what="client"):
    """Run argv, require exit 0 and a JSON object on the last non-empty stdout line."""
    try:
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RunError(f"{what} timed out after {timeout:g} s")
    except OSError as e:
        raise RunError(f"{what} could not start: {e}")
    out = res.stdout.decode(errors="replace").strip()
    err = res.stderr.decode(errors="replace").strip()[-400:]
    if res.returncode != 0:
        raise RunError(f"{what} exit {res.returncode}: {err}")
    return parse_json_output(out, what, err)


def parse_json_output(out, what="client", err=""):
    try:
        obj = json.loads(out)  # a whole-stdout JSON document (Google Benchmark)
    except ValueError:
        lines = [l for l in out.splitlines() if l.strip()]
        try:
            obj = json.loads(lines[-1]) if lines else None
        except ValueError:
            obj = None
    if not isinstance(obj, dict):
        raise RunError(f"{what} printed no JSON object: {out[-200:]!r} {err}")
    return obj


def spawn_tool(argv):
    """Start a helper (perf/strace) in its own session; stopped with stop_tool()."""
    return register(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True))


def stop_tool(proc, sig=signal.SIGINT, timeout=10):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
    unregister(proc)
    return proc.stderr.read().decode(errors="replace") if proc.stderr else ""
