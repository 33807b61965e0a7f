"""Runs a command and reports, as one JSON line on stdout: its wall time, its peak RSS
(the child's maximum resident set, from getrusage), and the seconds until the first line of
its stderr that contains MARKER (e.g. the line a command prints once its first batch is
done: time to first batch). The command's stdout is written to OUT_FILE.

Usage: python measure.py MARKER OUT_FILE -- COMMAND...
"""

import json
import resource
import subprocess
import sys
import time

marker, out_file = sys.argv[1], sys.argv[2]
command = sys.argv[sys.argv.index("--") + 1:]
started = time.monotonic()
first = None
with open(out_file, "wb") as out:
    child = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE)
    for line in child.stderr:
        if first is None and marker.encode() in line:
            first = time.monotonic() - started
        sys.stderr.buffer.write(line)
    code = child.wait()
wall = time.monotonic() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"command": command[1] if len(command) > 1 else command[0], "exit": code,
                  "wall_seconds": round(wall, 2), "first_marker_seconds": first and round(first, 2),
                  "peak_rss_bytes": peak}))
sys.exit(code)
