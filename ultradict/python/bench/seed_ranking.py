"""The seed's ranking, reproduced, with every peer the original names: the original UltraDict's
performance.py operations (one key, N writes then N reads; with an int key and value, as
performance.py does, and with a str key and value) and a 2-process locked counter, for a
Python dict, the original UltraDict, this module (robust mutex and spin lock),
multiprocessing.Manager().dict(), Redis through redis-py, memcached through pymemcache,
shared-memory-dict and mpdict, in one run with interleaved rounds. Writes a udbench/1 results
document that `build/bin/udbench report` ranks like any other.

    python seed_ranking.py --out results/python.json [--rounds 5] [--redis 127.0.0.1:6379]
                           [--memcached 127.0.0.1:11211] [--peers DIR] [--original DIR]
                           [--mpdict DIR] [--only NAME ...]

Peers come from an installed package first (`import shared_memory_dict`, `import mpdict`), else
from --peers DIR: DIR/UltraDict (the original, a folder named UltraDict), DIR/shared-memory-dict
(its source folder) and DIR/mpdict (a folder holding the built extension; --mpdict DIR names
another one). A peer that cannot be had gets a row saying why.

Each (round, backend) runs in a fresh worker process (so the original and this module, both
called UltraDict, never meet in one interpreter); the order of the backends rotates from round
to round, and the int and str loops take turns going first. Only the loops are timed, never
the set-up. Peers without a lock of their own (shared-memory-dict, mpdict) count under a
multiprocessing.Lock, the idiom their users have; memcached counts with its atomic `incr`.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# backend uri -> (name, ops for the single-key loops, increments per counter process)
BACKENDS = {
    'py+dict:': ('python-dict', 100_000, 0),
    'py+ultradict-original:': ('ultradict-original', 100_000, 20_000),
    'py+ultradict:?lock=mutex': ('ultradict-python', 100_000, 20_000),
    'py+ultradict:?lock=spin': ('ultradict-python', 100_000, 20_000),
    'py+mpdict:': ('mpdict', 100_000, 20_000),
    'py+shared-memory-dict:': ('shared-memory-dict', 5_000, 1_000),
    'py+manager-dict:': ('manager-dict', 20_000, 2_000),
    'py+redis:': ('redis-py', 20_000, 2_000),
    'py+memcached:': ('memcached-pymemcache', 20_000, 2_000),
}
KEY_TYPES = ('int', 'str')


class Unavailable(Exception):
    """A peer that cannot be had here: its row says why."""


# ---------------------------------------------------------------- worker side

def import_peer(module, folder):
    """The installed module, else the one in `folder`; Unavailable if neither imports."""
    try:
        return __import__(module)
    except ImportError:
        pass
    if folder and os.path.isdir(folder):
        sys.path.insert(0, folder)
        try:
            return __import__(module)
        except ImportError as e:
            raise Unavailable(f'{module} does not import from {folder}: {e}') from None
    raise Unavailable(f'{module} is not installed and not in {folder or "(no --peers)"}')


class ServerMap:
    """get/set of a server client under the mapping syntax the loops use."""
    def __init__(self, conn):
        self.c = conn

    def __setitem__(self, k, v):
        self.c.set(str(k), v)

    def __getitem__(self, k):
        v = self.c.get(str(k))
        return v if v is None else v.decode()


def open_backend(uri, args):
    """Returns (d, lock_factory, cleanup) for the backend; d supports d[k] = v and d[k].
    lock_factory is a callable giving a context manager, or a string naming a special counter
    ('redis', 'memcached'). Raises Unavailable for a peer that cannot be had."""
    if uri == 'py+dict:':
        return {}, None, lambda: None
    if uri.startswith('py+ultradict'):
        if uri == 'py+ultradict-original:':
            if not os.path.isfile(os.path.join(args.original, 'UltraDict.py')):
                raise Unavailable(f'the original UltraDict is not at {args.original}')
            sys.path.insert(0, os.path.dirname(os.path.abspath(args.original)))
        from UltraDict import UltraDict
        shared = uri.endswith('lock=spin')
        d = UltraDict(shared_lock=True) if shared else UltraDict()
        return d, (lambda: d.lock), lambda: d.close() if hasattr(d, 'close') else None
    if uri == 'py+mpdict:':
        mp = import_peer('mpdict', args.mpdict)
        import multiprocessing
        # A file name of its own: mpdict removes and recreates the named segment.
        d = mp.MPDict('seed', 16 << 20, f'ud-seed-mpdict-{os.getpid()}')
        lk = multiprocessing.get_context('fork').Lock()
        return d, (lambda: lk), lambda: None
    if uri == 'py+shared-memory-dict:':
        smd = import_peer('shared_memory_dict', args.smd)
        import multiprocessing
        d = smd.SharedMemoryDict(name=f'ud-seed-smd-{os.getpid()}', size=1 << 16)
        lk = multiprocessing.get_context('fork').Lock()

        def cleanup():
            d.shm.close()
            d.shm.unlink()
        return d, (lambda: lk), cleanup
    if uri == 'py+manager-dict:':
        import multiprocessing
        m = multiprocessing.Manager()
        d = m.dict()
        lk = m.Lock()
        return d, (lambda: lk), m.shutdown
    if uri == 'py+redis:':
        if not args.redis:
            raise Unavailable('no redis server given (--redis HOST:PORT)')
        import redis
        host, port = args.redis.rsplit(':', 1)
        r = redis.Redis(host=host, port=int(port))
        r.ping()
        return ServerMap(r), 'redis', lambda: r.delete('counter', '1', 'counter-lock')
    if uri == 'py+memcached:':
        if not args.memcached:
            raise Unavailable('no memcached server given (--memcached HOST:PORT)')
        try:
            from pymemcache.client.base import Client
        except ImportError:
            raise Unavailable('pymemcache is not installed (Debian: python3-pymemcache)') from None
        host, port = args.memcached.rsplit(':', 1)
        # Every write waits for its reply, as with the other backends (pymemcache's default
        # sends sets without waiting).
        c = Client((host, int(port)), default_noreply=False)
        c.version()
        return ServerMap(c), 'memcached', lambda: c.delete_many(['counter', '1'])
    raise SystemExit(f'unknown backend {uri}')


# Backends that take str keys and values only. mpdict reports an int key with an exception
# that surfaces one statement late (its setter returns success with the error set), so it is
# not asked at all.
STR_ONLY = {'py+mpdict:': 'mpdict takes str keys and str values only'}


def single_key(uri, d, n, key_type):
    """performance.py's loops: n writes of one key, then n reads of it; key and value are
    the int 1 (as in performance.py) or the str '1'."""
    k = v = 1 if key_type == 'int' else '1'
    if key_type != 'str' and uri in STR_ONLY:
        return {'error': STR_ONLY[uri]}
    d[k] = v
    t0 = time.perf_counter()
    for i in range(n):
        d[k] = v
    t1 = time.perf_counter()
    for i in range(n):
        x = d[k]
    t2 = time.perf_counter()
    assert x == v or x == str(v), x
    return {'write': (n, t1 - t0), 'read': (n, t2 - t1)}


def counter_child(uri, args, d, lock_factory, k, go, starts, ends, i):
    if lock_factory == 'redis':
        import redis
        host, port = args.redis.rsplit(':', 1)
        r = redis.Redis(host=host, port=int(port))
        lk = r.lock('counter-lock', sleep=0.0001)
        go.wait()
        t0 = time.perf_counter()
        for _ in range(k):
            with lk:
                r.set('counter', int(r.get('counter')) + 1)
    elif lock_factory == 'memcached':
        from pymemcache.client.base import Client
        host, port = args.memcached.rsplit(':', 1)
        c = Client((host, int(port)), default_noreply=False)
        go.wait()
        t0 = time.perf_counter()
        for _ in range(k):
            c.incr('counter', 1)
    elif uri == 'py+mpdict:':
        go.wait()  # mpdict keeps str values only
        t0 = time.perf_counter()
        for _ in range(k):
            with lock_factory():
                d['counter'] = str(int(d['counter']) + 1)
    else:
        go.wait()
        t0 = time.perf_counter()
        for _ in range(k):
            with lock_factory():
                d['counter'] += 1
    ends[i] = time.perf_counter()
    starts[i] = t0


def counter(uri, args, d, lock_factory, k):
    import multiprocessing
    ctx = multiprocessing.get_context('fork')
    d['counter'] = '0' if uri in ('py+mpdict:', 'py+memcached:') else 0
    go = ctx.Event()
    starts = ctx.Array('d', 2)
    ends = ctx.Array('d', 2)
    ps = [ctx.Process(target=counter_child, args=(uri, args, d, lock_factory, k, go, starts, ends, i))
          for i in range(2)]
    for p in ps:
        p.start()
    time.sleep(0.2)  # both children are waiting on the event
    go.set()
    for p in ps:
        p.join()
    if any(p.exitcode != 0 for p in ps):
        raise RuntimeError(f'a counter process failed: {[p.exitcode for p in ps]}')
    observed = int(d['counter'])
    seconds = max(ends) - min(starts)
    rates = [k / (ends[i] - starts[i]) for i in range(2)]
    return {'ops': 2 * k, 'seconds': seconds, 'observed': observed, 'rates': rates}


def worker(args):
    uri = args.worker
    name, n, k = BACKENDS[uri]
    try:
        d, lock_factory, cleanup = open_backend(uri, args)
    except Unavailable as e:
        print(json.dumps({'unavailable': str(e)}))
        return
    try:
        # The key types take turns going first: a worker's first loop can run a few percent
        # slower than its second (this module's did, by 5-8%), which a fixed order would charge
        # to the int key's ratio every round.
        kinds = KEY_TYPES if args.round % 2 == 0 else KEY_TYPES[::-1]
        out = {'single': {t: single_key(uri, d, n, t) for t in kinds}}
        if k:
            out['counter'] = counter(uri, args, d, lock_factory, k)
    finally:
        cleanup()
    print(json.dumps(out))


# ---------------------------------------------------------------- orchestrator side

def median(xs):
    return statistics.median(xs)


def metric(op, reps, threshold, fairness=0.0, bytes_per_op=1.0):
    rates = [r['ops_per_sec'] for r in reps]
    med = median(rates)
    lo, hi = min(rates), max(rates)
    if med > 0:
        spread = (hi - lo) / med
    else:
        mean = sum(rates) / len(rates)
        spread = (hi - lo) / mean if mean > 0 else 0.0
    return {'op': op, 'reps': reps, 'median': med, 'min': lo, 'max': hi, 'spread': spread,
            'noisy': spread > threshold, 'fairness': fairness, 'bytes_per_op': bytes_per_op,
            'latency': None, 'hist_scheme': None, 'buckets': []}


def rep(ops, seconds):
    return {'ops': ops, 'seconds': seconds, 'ops_per_sec': ops / seconds if seconds > 0 else 0.0,
            'errors': 0}


def machine(load_before):
    cpu = None
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
    u = os.uname()
    return {'cpu': cpu, 'cores': os.cpu_count() or 0,
            'kernel': f'{u.sysname} {u.release} {u.machine}', 'memory_bytes': mem,
            'compiler': f'CPython {platform.python_version()}',
            'load_before': list(load_before), 'load_after': list(os.getloadavg())}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', help='the results document to write')
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--redis', default=None, help='HOST:PORT of a redis server')
    ap.add_argument('--memcached', default=None, help='HOST:PORT of a memcached server')
    ap.add_argument('--peers', default=os.path.join(HERE, '../../../../shared/peers'),
                    help='the folder of the peers (UltraDict/, shared-memory-dict/, mpdict/)')
    ap.add_argument('--original', default=None,
                    help="the original UltraDict's folder (default: PEERS/UltraDict)")
    ap.add_argument('--mpdict', default=None,
                    help='a folder holding the built mpdict extension (default: PEERS/mpdict)')
    ap.add_argument('--only', action='append', metavar='NAME',
                    help='run only these backends (a name such as mpdict; repeatable)')
    ap.add_argument('--worker', help=argparse.SUPPRESS)
    ap.add_argument('--round', type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument('--smd', help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.original = args.original or os.path.join(args.peers, 'UltraDict')
    args.mpdict = args.mpdict or os.path.join(args.peers, 'mpdict')
    args.smd = args.smd or os.path.join(args.peers, 'shared-memory-dict')
    return ap, args


def worker_cmd(uri, args, rnd):
    cmd = [sys.executable, os.path.abspath(__file__), '--worker', uri, '--round', str(rnd),
           '--original', args.original,
           '--mpdict', args.mpdict, '--smd', args.smd, '--peers', args.peers]
    for opt in ('redis', 'memcached'):
        if getattr(args, opt):
            cmd += [f'--{opt}', getattr(args, opt)]
    return cmd


def run_rounds(backends, args):
    """Runs every backend once per round, in an order rotated per round. Returns (runs, errors,
    unavailable): runs[uri] the workers' outputs."""
    runs = {uri: [] for uri in backends}
    errors, unavailable = {}, {}
    for rnd in range(args.rounds):
        live = [u for u in backends if u not in errors and u not in unavailable]
        if not live:
            break
        order = live[rnd % len(live):] + live[:rnd % len(live)]
        for uri in order:
            ret = subprocess.run(worker_cmd(uri, args, rnd), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, timeout=900)
            if ret.returncode != 0:
                errors[uri] = ret.stderr.decode(errors='replace').strip().splitlines()[-1:]
                print(f'round {rnd + 1}: {uri} failed: {errors[uri]}', file=sys.stderr)
                continue
            out = json.loads(ret.stdout)
            if 'unavailable' in out:
                unavailable[uri] = out['unavailable']
                print(f'{uri}: {out["unavailable"]}', file=sys.stderr)
                continue
            runs[uri].append(out)
            line = []
            for t, r in ((t, out['single'][t]) for t in KEY_TYPES):
                if 'error' in r:
                    line.append(f'{t}: n/a')
                else:
                    line.append(f'{t} write {r["write"][0] / r["write"][1]:>11,.0f}/s'
                                f' read {r["read"][0] / r["read"][1]:>12,.0f}/s')
            print(f'round {rnd + 1}: {uri:28s} ' + '  '.join(line), file=sys.stderr)
    return runs, errors, unavailable


def seed_cells(uri, real, runs, reason, status, threshold, args):
    name = BACKENDS[uri][0]
    cells = []
    for t in KEY_TYPES:
        params = {'procs': '1', 'keys': '1', 'value_size': '1', 'key_type': t,
                  'repeat': str(args.rounds), 'seed': '0'}
        cell = {'scenario': 'seed', 'backend': real, 'backend_name': name, 'params': params,
                'correctness': None}
        singles = [r['single'][t] for r in runs]
        bad = next((x['error'] for x in singles if 'error' in x), None)
        if reason or not runs:
            cell.update(status=status, reason=reason or 'no round finished', metrics=[])
        elif bad:
            cell.update(status='n/a', reason=bad, metrics=[])
        else:
            cell.update(status='ok', reason=None, metrics=[
                metric(op, [rep(*x[op]) for x in singles], threshold) for op in ('write', 'read')])
        cells.append(cell)
    return cells


def lock_cell(uri, real, runs, reason, status, threshold, args):
    name, n, k = BACKENDS[uri]
    params = {'procs': '2', 'keys': '1', 'value_size': '1',
              'primitive': 'incr' if uri == 'py+memcached:' else 'lock',
              'repeat': str(args.rounds), 'seed': '0'}
    cell = {'scenario': 'lock', 'backend': real, 'backend_name': name, 'params': params}
    if not k:
        cell.update(status='n/a', reason='a Python dict is not shared between processes',
                    metrics=[], correctness=None)
    elif reason or not runs:
        cell.update(status=status, reason=reason or 'no round finished', metrics=[],
                    correctness=None)
    else:
        cs = [r['counter'] for r in runs]
        fair = []
        for c in cs:
            a, b = c['rates']
            fair.append((a + b) ** 2 / (2 * (a * a + b * b)))
        expected = sum(c['ops'] for c in cs)
        observed = sum(c['observed'] for c in cs)
        cell.update(status='ok', reason=None,
                    metrics=[metric('incr', [rep(c['ops'], c['seconds']) for c in cs],
                                    threshold, fairness=median(fair))],
                    correctness={'expected': expected, 'observed': observed,
                                 'lost_updates': expected - observed, 'torn_reads': 0})
    return cell


def paired(a, b):
    """The median of the per-round ratios a/b, their range, and the ratio of the medians."""
    rs = [x['ops_per_sec'] / y['ops_per_sec'] for x, y in zip(a['reps'], b['reps'])
          if y['ops_per_sec'] > 0]
    return median(rs), min(rs), max(rs), a['median'] / b['median']


def print_ratios(results):
    """The targets, as ratios: against the original (the median of the per-round ratios, each
    round measuring both within seconds of each other, and the ratio of the medians), and
    against mpdict, the fastest peer."""
    cells = {(c['scenario'], c['backend'], c['params'].get('key_type'), m['op']): m
             for c in results if c['status'] == 'ok' for m in c['metrics']}
    orig, mpd = 'py+ultradict-original:', 'py+mpdict:'
    goals = ((orig, 'seed', 'int', 'read', 10), (orig, 'seed', 'int', 'write', 20),
             (orig, 'seed', 'str', 'read', 10), (orig, 'seed', 'str', 'write', 20),
             (orig, 'lock', None, 'incr', 8),
             (mpd, 'seed', 'str', 'read', 1), (mpd, 'seed', 'str', 'write', 1),
             (mpd, 'lock', None, 'incr', 1))
    for uri in ('py+ultradict:?lock=mutex', 'py+ultradict:?lock=spin'):
        for base, sc, kt, op, target in goals:
            a, b = cells.get((sc, uri, kt, op)), cells.get((sc, base, kt, op))
            if not a or not b:
                continue
            pm, lo, hi, rm = paired(a, b)
            what = f'{sc} {op}' + (f' ({kt} key)' if kt else '')
            print(f'{uri:26s} {what:22s}: {pm:6.2f}x {BACKENDS[base][0]} (median of paired '
                  f'rounds, range {lo:.2f}-{hi:.2f}; ratio of medians {rm:.2f}x) target '
                  f'{target}x: {"met" if pm >= target else "MISSED"}')


def main():
    ap, args = parse_args()
    if args.worker:
        return worker(args)
    if not args.out:
        ap.error('--out is required')
    if args.rounds < 1:
        ap.error('--rounds must be at least 1')
    names = {v[0] for v in BACKENDS.values()}
    for o in args.only or []:
        if o not in names:
            ap.error(f'--only {o}: not a backend name ({", ".join(sorted(names))})')

    threshold = 0.25
    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    backends = [u for u in BACKENDS if not args.only or BACKENDS[u][0] in args.only]
    runs, errors, unavailable = run_rounds(backends, args)

    def real_uri(uri):
        if uri == 'py+redis:' and args.redis:
            return f'py+redis://{args.redis}'
        if uri == 'py+memcached:' and args.memcached:
            return f'py+memcached://{args.memcached}'
        return uri

    doc_backends, results = [], []
    for uri in backends:
        name = BACKENDS[uri][0]
        doc_backends.append({'uri': real_uri(uri), 'name': name, 'version': None,
                             'caps': 'cross_process' if uri != 'py+dict:' else None,
                             'local_runtime': False, 'reachable': uri not in unavailable,
                             'error': unavailable.get(uri)})
    for uri in backends:
        reason = unavailable.get(uri) or (' '.join(errors[uri]) if uri in errors else None)
        status = 'n/a' if uri in unavailable else 'error'
        results += seed_cells(uri, real_uri(uri), runs[uri], reason, status, threshold, args)
    for uri in backends:
        reason = unavailable.get(uri) or (' '.join(errors[uri]) if uri in errors else None)
        status = 'n/a' if uri in unavailable else 'error'
        results.append(lock_cell(uri, real_uri(uri), runs[uri], reason, status, threshold, args))

    try:
        commit = subprocess.run(['git', '-C', HERE, 'rev-parse', '--short=12', 'HEAD'],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True).stdout.strip() or None
    except OSError:
        commit = None
    t = time.perf_counter_ns
    s = t()
    for _ in range(10000):
        t()
    overhead = (t() - s) / 10001
    doc = {'schema': 'udbench/1',
           'run': {'started': started,
                   'finished': datetime.datetime.now(datetime.timezone.utc).strftime(
                       '%Y-%m-%dT%H:%M:%SZ'),
                   'tool_version': 'seed_ranking.py 1.1', 'git_commit': commit,
                   'build_type': None, 'suite': None, 'argv': sys.argv, 'seed': 0,
                   'timer_overhead_ns': overhead, 'noise_threshold': threshold,
                   'machine': machine(load_before)},
           'backends': doc_backends, 'results': results}
    tmp = f'{args.out}.tmp.{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(doc, f, indent=2)
        f.write('\n')
    os.replace(tmp, args.out)
    print_ratios(results)
    return 0


if __name__ == '__main__':
    sys.exit(main())
