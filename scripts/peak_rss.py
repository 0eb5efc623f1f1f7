"""The peak resident memory of one command, for the benchmarks: the command runs in a fresh
Python process that waits for it and reads getrusage of its one child, so the figure is that
process's own (model loading included), whatever else the benchmark ran before.

    from peak_rss import run_with_peak_rss
    info = run_with_peak_rss(["retune", "predict", ...])   # {'rc', 'stderr', 'peak_rss_mb'}
"""
import json, subprocess, sys

_WRAPPER = ("import json, resource, subprocess, sys; "
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True); "
            "print(json.dumps({'rc': r.returncode, 'stderr': r.stderr[-2000:], "
            "'peak_rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))")


def run_with_peak_rss(cmd, cwd=None, env=None):
    """Runs cmd (its stdout discarded); returns its exit code, the tail of its stderr and its
    peak RSS in MB."""
    res = subprocess.run([sys.executable, "-c", _WRAPPER] + list(cmd), cwd=cwd, env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])
