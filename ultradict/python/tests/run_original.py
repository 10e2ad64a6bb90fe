"""Runs the original UltraDict's own tests (tests/tests.py) and every example in examples/,
unmodified, against this module, from a scratch copy (nothing is written next to the original).

    python run_original.py --peers ../shared/peers/UltraDict

Exit 0 when everything passes except the deliberate differences listed in KNOWN (each must
still fail exactly as described, so that a change is noticed), 77 when the original is absent
(CTest reports a skip), 1 otherwise.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# Tests of the original that this module fails on purpose, with the assertion they stop at.
KNOWN = {
    'test_huge_value': (
        'AssertionError: 0 != 1',
        'a value larger than the buffer grows the stream instead of forcing a full dump'),
    'test_cleanup': (
        'AssertionError: 4 != 12 : nested file handle count should be 12',
        'a dict takes 4 descriptors and a nested child is opened only when it is used, '
        'so one nested dict costs 4 (8 once the child is read), not 12'),
    'test_example_recover_from_stale_lock': (
        "AssertionError: b'Counter: 9 == 100' != b'Counter: 100 == 100'",
        'writes inside a lock section are published at its end, so a holder killed inside it '
        'leaves nothing: every process that takes over finds 9, writes 10 and kills itself'),
}

# Examples that tests.py does not run, and the last line each must print.
FINITE = {
    'fork.py': b'Counter:  100000  ==  100000',
    'oop.py': b'some value  ==  some value',
    'recover_from_stale_lock_manual.py': b'Counter: 100 == 100',
}
# Of those, the ones that end differently on purpose: the last line they print instead, and why.
KNOWN_FINITE = {
    'recover_from_stale_lock_manual.py': (
        b'Counter: 9 == 100',
        'as test_example_recover_from_stale_lock: the increment of a holder killed inside its '
        'section is lost with it, so every process finds 9, writes 10 and kills itself'),
}
# Examples that never end: run for a while, then checked and stopped.
ENDLESS = {
    'mccoydj1.py': re.compile(rb"\{'P1': ([0-9.e-]+), 'P2': '([a-z]*)'\}"),
    'mccoydj1_nested.py': re.compile(rb"^MA \{'banned': \{(.*)\}\}$", re.M),
}
ENDLESS_SECONDS = 4.0


def run_tests(work, failures):
    ret = subprocess.run([sys.executable, 'tests/tests.py', '-v'], cwd=work,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=500)
    out = ret.stdout.decode(errors='replace')
    results = dict(re.findall(r'^(test_\w+) \(.*?\) \.\.\. (ok|FAIL|ERROR|skipped.*)$', out, re.M))
    if not results:
        failures.append('tests.py printed no results:\n' + out)
        return
    for name, verdict in sorted(results.items()):
        if name in KNOWN:
            expected, why = KNOWN[name]
            block = re.search(r'^(FAIL|ERROR): %s .*?(?=^={10,}|^-{10,}\nRan )' % name, out,
                              re.M | re.S)
            if verdict == 'ok':
                failures.append(f'{name} passes now: remove it from KNOWN and the README')
            elif not block or expected not in block.group(0):
                failures.append(f'{name} fails differently than documented:\n'
                                + (block.group(0) if block else out))
            else:
                print(f'known difference  {name}: {why}')
        elif verdict != 'ok':
            failures.append(f'{name}: {verdict}\n{out}')
        else:
            print(f'ok                {name}')


def run_finite(work, failures):
    for name, last in FINITE.items():
        ret = subprocess.run([sys.executable, name], cwd=os.path.join(work, 'examples'),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        lines = ret.stdout.replace(b'\r\n', b'\n').splitlines()
        if name in KNOWN_FINITE and ret.returncode == 0 and lines and lines[-1] == last:
            failures.append(f'examples/{name} ends as the original now: remove it from '
                            'KNOWN_FINITE and the README')
            continue
        if name in KNOWN_FINITE:
            last, why = KNOWN_FINITE[name]
            if ret.returncode == 0 and lines and lines[-1] == last:
                print(f'known difference  examples/{name}: {why}')
                continue
        if ret.returncode != 0 or not lines or lines[-1] != last:
            failures.append(f'examples/{name}: exit {ret.returncode}, output:\n'
                            + ret.stdout.decode(errors='replace')[-3000:])
        else:
            print(f'ok                examples/{name}: {last.decode()}')


def run_endless(work, failures):
    for name, pattern in ENDLESS.items():
        log = os.path.join(work, name + '.out')
        with open(log, 'wb') as f:
            p = subprocess.Popen([sys.executable, name], cwd=os.path.join(work, 'examples'),
                                 stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
            time.sleep(ENDLESS_SECONDS)
            alive = p.poll() is None
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        with open(log, 'rb') as f:
            out = f.read()
        seen = set(pattern.findall(out))
        problems = []
        if not alive:
            problems.append(f'ended early with exit {p.returncode}')
        if b'Traceback' in out:
            problems.append('raised an exception')
        # The main process must see the other processes' writes: many distinct states.
        if len(seen) < 10:
            problems.append(f'only {len(seen)} distinct states printed')
        if problems:
            failures.append(f'examples/{name}: ' + '; '.join(problems) + '\n'
                            + out.decode(errors='replace')[-3000:])
        else:
            print(f'ok                examples/{name}: ran {ENDLESS_SECONDS:g} s, '
                  f'{len(seen)} distinct states seen, stopped')
    # Killed on purpose, so their dict is left behind (each example unlinks it at start).
    from UltraDict import UltraDict
    UltraDict.unlink_by_name('ultra6', ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--peers', required=True, help="the original's folder (…/peers/UltraDict)")
    args = ap.parse_args()
    src = os.path.abspath(args.peers)
    if not os.path.isfile(os.path.join(src, 'tests', 'tests.py')):
        print(f'skipped: the original UltraDict is not at {src}')
        return 77
    import UltraDict
    print(f'module under test: {os.path.dirname(UltraDict.__file__)}')
    with tempfile.TemporaryDirectory(prefix='ud-original-') as tmp:
        # The copy's folder is not called UltraDict, so the tests' sys.path.insert(0, '..')
        # cannot pick up anything but the installed module.
        work = os.path.join(tmp, 'original')
        os.mkdir(work)
        for part in ('tests', 'examples'):
            shutil.copytree(os.path.join(src, part), os.path.join(work, part))
        failures = []
        run_tests(work, failures)
        run_finite(work, failures)
        run_endless(work, failures)
    for f in failures:
        print('FAIL', f)
    print(f'{len(failures)} failure(s)')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
