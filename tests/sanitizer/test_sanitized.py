"""tests/sanitized must fail a test when a process the test started reports
a sanitizer finding, even when the test never looks at that process's exit
code (as with a daemon stopped at teardown)."""
import os
import subprocess

WRAPPER = os.environ["SANITIZED"]
BAD = os.environ["SANITIZER_BAD"]
# The test itself may run under the wrapper: what it started must not
# report into the outer wrapper's directory.
ENV = {k: v for k, v in os.environ.items() if k not in ("ASAN_OPTIONS", "UBSAN_OPTIONS")}
ENV["ASAN_OPTIONS"] = "detect_leaks=1"
ENV["UBSAN_OPTIONS"] = "halt_on_error=1"


def run_under_wrapper(what):
    """The wrapper running a shell that runs BAD and ignores its exit code."""
    return subprocess.run([WRAPPER, "sh", "-c", f'"{BAD}" {what}; exit 0'],
                          capture_output=True, text=True, env=ENV, timeout=60)


def test_sanitized_fails_test_on_leak_in_unchecked_child():
    r = run_under_wrapper("leak")
    assert r.returncode != 0, r.stderr
    assert "LeakSanitizer" in r.stderr


def test_sanitized_fails_test_on_overflow_in_unchecked_child():
    r = run_under_wrapper("overflow")
    assert r.returncode != 0, r.stderr
    assert "signed integer overflow" in r.stderr


def test_sanitized_passes_clean_child_and_its_exit_code():
    r = run_under_wrapper("none")
    assert r.returncode == 0, r.stderr
    r = subprocess.run([WRAPPER, "sh", "-c", "exit 3"], env=ENV, timeout=60)
    assert r.returncode == 3
