"""Instructions per operation of the Python module (and of mpdict, when it can be imported),
counted by valgrind's cachegrind: each case runs in its own process twice, with N and with 2N
operations, and the difference divided by N is the cost of one operation, start-up and set-up
cancelled out. Instruction counts do not depend on the load of the machine, so two builds or two
peers compare at a few percent where timings cannot.

    python instr_per_op.py [--n 20000] [--peers DIR] [--original DIR] [--case NAME ...]
                           [--flat SMALL LARGE]

--peers DIR: a folder holding an importable mpdict (its built extension), as seed_ranking.py
takes it. --original DIR: the original UltraDict's folder (the one holding UltraDict.py), for
the orig-* cases, which run only with it. Prints one line per case: `CASE  INSTR/OP`.
--flat SMALL LARGE: runs those two cases and fails (exit 1) if LARGE costs more than 1.5x SMALL
per operation (popitem-1k against popitem-32k shows that popitem does not grow with the dict).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile


# name -> (kind, set-up, loop body over `d` and `n`): the set-up does not depend on n, the body
# runs n times. popitem's dict holds SIZE entries more than the 2n it loses in the longer run.
CASES = {
    'ud-write-int': ('ud', '', 'for _ in range(n): d[1] = 1'),
    'ud-write-str': ('ud', '', "for _ in range(n): d['1'] = '1'"),
    'ud-write-tuple-bytes': ('ud', '', "for _ in range(n): d[(1, 'a')] = b'1'"),
    # The same write while the thread holds 40 other dicts' locks (finding that it does not
    # hold d's must not scan them).
    'ud-write-int-40held': ('ud', 'held = [type(d)() for _ in range(40)]\n'
                            'for h in held: h.lock.acquire()', 'for _ in range(n): d[1] = 1'),
    'ud-read-int': ('ud', 'd[1] = 1', 'for _ in range(n): x = d[1]'),
    'ud-read-str': ('ud', "d['1'] = '1'", "for _ in range(n): x = d['1']"),
    'ud-counter-locked': ('ud', "d['c'] = 0",
                          "for _ in range(n):\n    with d.lock:\n        d['c'] += 1"),
    # Two handles of one dict taking turns: each increment finds the other's write, as with
    # two processes (one operation = one increment by each).
    'ud-counter-2handles': ('ud', "d['c'] = 0\ne = type(d)(name=d.name)",
                            "for _ in range(n):\n    with d.lock:\n        d['c'] += 1\n"
                            "    with e.lock:\n        e['c'] += 1"),
    'ud-popitem-1k': ('ud', 'd.update((i, i) for i in range(1000 + 2 * N))',
                      'for _ in range(n): d.popitem()'),
    'ud-popitem-32k': ('ud', 'd.update((i, i) for i in range(32000 + 2 * N))',
                       'for _ in range(n): d.popitem()'),
    'mpdict-write-str': ('mpdict', '', "for _ in range(n): d['1'] = '1'"),
    'mpdict-read-str': ('mpdict', "d['1'] = '1'", "for _ in range(n): x = d['1']"),
    'dict-write-int': ('dict', '', 'for _ in range(n): d[1] = 1'),
    # The original UltraDict (--original DIR), as seed_ranking.py opens it: default arguments.
    'orig-write-int': ('original', '', 'for _ in range(n): d[1] = 1'),
    'orig-write-str': ('original', '', "for _ in range(n): d['1'] = '1'"),
    'orig-read-int': ('original', 'd[1] = 1', 'for _ in range(n): x = d[1]'),
    'orig-read-str': ('original', "d['1'] = '1'", "for _ in range(n): x = d['1']"),
}


def child(name, n, base, peers, original):
    kind, setup, body = CASES[name]
    if kind == 'original':
        sys.path.insert(0, os.path.dirname(os.path.abspath(original)))
        from UltraDict import UltraDict
        d = UltraDict()
    elif kind == 'ud':
        from UltraDict import UltraDict
        # A stream long enough for every case: a full dump (its cost grows with the dict) in
        # one run and not in the other would be counted as the operations' cost.
        d = UltraDict(buffer_size=64 << 20)
    elif kind == 'mpdict':
        if peers:
            sys.path.insert(0, peers)
        import mpdict
        d = mpdict.MPDict(f'ipo{os.getpid()}', 1 << 20)
    else:
        d = {}
    env = {'d': d, 'n': n, 'N': base}
    exec(setup, env)
    # The loop runs in a function, so that its names are fast locals as in real code.
    exec('def run(d, n):\n' + ''.join(f'    {line}\n' for line in body.splitlines()), env)
    env['run'](d, n)
    if hasattr(d, 'close'):
        d.close()


def count(name, n, base, peers, original):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'cg.out')
        cmd = ['valgrind', '--tool=cachegrind', '--cache-sim=no', f'--cachegrind-out-file={out}',
               sys.executable, os.path.abspath(__file__), '--child', name, '--n', str(n),
               '--base', str(base)]
        if peers:
            cmd += ['--peers', peers]
        if original:
            cmd += ['--original', original]
        # A fixed hash seed: with a random one, dict probing differs from run to run by tens
        # of instructions per operation.
        env = dict(os.environ, PYTHONHASHSEED='0')
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env)
        m = re.search(r'I\s+refs:\s+([\d,]+)', r.stderr)
        if r.returncode != 0 or not m:
            tail = r.stderr.strip().splitlines()[-1:]
            raise RuntimeError(f'{name}: {tail}')
        return int(m.group(1).replace(',', ''))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=20000)
    ap.add_argument('--peers', help='a folder with an importable mpdict')
    ap.add_argument('--original', help='the original UltraDict\'s folder (for the orig-* cases)')
    ap.add_argument('--case', action='append', help='a case to run (repeatable; default all)')
    ap.add_argument('--flat', nargs=2, metavar=('SMALL', 'LARGE'),
                    help='exit 1 unless case LARGE costs at most 1.5x case SMALL per operation')
    ap.add_argument('--child', help=argparse.SUPPRESS)
    ap.add_argument('--base', type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.n, args.base, args.peers, args.original)
    if args.n < 1:
        ap.error('--n must be at least 1')
    if not shutil.which('valgrind'):
        print('instr_per_op: valgrind is not installed', file=sys.stderr)
        return 77
    names = args.case or [c for c in CASES if args.original or CASES[c][0] != 'original']
    if args.flat:
        names = list(args.flat)
    for name in names:
        if name not in CASES:
            ap.error(f'unknown case {name} (known: {", ".join(CASES)})')
    status = 0
    per_op = {}
    for name in names:
        try:
            a = count(name, args.n, args.n, args.peers, args.original)
            b = count(name, 2 * args.n, args.n, args.peers, args.original)
        except RuntimeError as e:
            print(f'{name:24s} n/a ({e})')
            status = 1 if not name.startswith('mpdict') else status
            continue
        per_op[name] = (b - a) / args.n
        print(f'{name:24s} {per_op[name]:10.0f}')
        sys.stdout.flush()
    if args.flat and status == 0:
        small, large = (per_op[c] for c in args.flat)
        flat = large <= 1.5 * small
        print(f'{args.flat[1]} / {args.flat[0]}: {large / small:.2f} per operation '
              f'({"flat" if flat else "GROWS with the size"})')
        status = 0 if flat else 1
    return status


if __name__ == '__main__':
    sys.exit(main())
