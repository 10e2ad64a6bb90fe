"""The seed's ranking, reproduced: the original UltraDict's performance.py operations (one key,
N writes then N reads) and a 2-process locked counter, for a Python dict, the original
UltraDict, this module (robust mutex and spin lock), multiprocessing.Manager().dict() and Redis
through redis-py, in one run with interleaved rounds. Writes a udbench/1 results document that
`build/bin/udbench report` ranks like any other.

    python seed_ranking.py --out results/python.json [--rounds 5] [--redis 127.0.0.1:6379]
                           [--original ../shared/peers/UltraDict]

Each (round, backend) runs in a fresh worker process (so the original and this module, both
called UltraDict, never meet in one interpreter); the order of the backends rotates from round
to round. Only the loops are timed, never the set-up.
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
    'py+manager-dict:': ('manager-dict', 20_000, 2_000),
    'py+redis:': ('redis-py', 20_000, 2_000),
}


# ---------------------------------------------------------------- worker side

def open_backend(uri, args):
    """Returns (d, lock_factory, cleanup) for the backend; d supports d[k] = v and d[k]."""
    if uri == 'py+dict:':
        return {}, None, lambda: None
    if uri.startswith('py+ultradict'):
        if uri == 'py+ultradict-original:':
            sys.path.insert(0, os.path.dirname(os.path.abspath(args.original)))
        from UltraDict import UltraDict
        shared = uri.endswith('lock=spin')
        d = UltraDict(shared_lock=True) if shared else UltraDict()
        return d, (lambda: d.lock), lambda: d.close() if hasattr(d, 'close') else None
    if uri == 'py+manager-dict:':
        import multiprocessing
        m = multiprocessing.Manager()
        d = m.dict()
        lk = m.Lock()
        return d, (lambda: lk), m.shutdown
    if uri.startswith('py+redis:'):
        import redis
        host, port = args.redis.rsplit(':', 1)
        r = redis.Redis(host=host, port=int(port))
        r.ping()

        class RedisMap:
            """r.set / r.get under the mapping syntax the loops use."""
            def __init__(self, conn):
                self.r = conn

            def __setitem__(self, k, v):
                self.r.set(k, v)

            def __getitem__(self, k):
                return int(self.r.get(k))

        return RedisMap(r), 'redis', lambda: r.delete('counter', 1, 'counter-lock')
    raise SystemExit(f'unknown backend {uri}')


def single_key(d, n):
    """performance.py's loops: n writes of one key, then n reads of it."""
    t0 = time.perf_counter()
    for i in range(n):
        d[1] = 1
    t1 = time.perf_counter()
    for i in range(n):
        x = d[1]
    t2 = time.perf_counter()
    assert x == 1 or x == b'1'
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
    d['counter'] = 0
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
    d, lock_factory, cleanup = open_backend(uri, args)
    out = {'single': single_key(d, n)}
    if k:
        out['counter'] = counter(uri, args, d, lock_factory, k)
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', help='the results document to write')
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--redis', default=None, help='HOST:PORT of a redis server')
    ap.add_argument('--original', default=os.path.join(HERE, '../../../../shared/peers/UltraDict'),
                    help="the original UltraDict's folder")
    ap.add_argument('--worker', help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if not args.out:
        ap.error('--out is required')
    if args.rounds < 1:
        ap.error('--rounds must be at least 1')

    threshold = 0.25
    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    backends, skipped = [], {}
    for uri in BACKENDS:
        if uri == 'py+ultradict-original:' and not os.path.isfile(
                os.path.join(args.original, 'UltraDict.py')):
            skipped[uri] = f'the original UltraDict is not at {args.original}'
        elif uri == 'py+redis:' and not args.redis:
            skipped[uri] = 'no redis server given (--redis HOST:PORT)'
        backends.append(uri)

    runs = {uri: [] for uri in backends}
    errors = {}
    live = [u for u in backends if u not in skipped]
    for rnd in range(args.rounds):
        order = live[rnd % len(live):] + live[:rnd % len(live)]
        for uri in order:
            if uri in errors:
                continue
            cmd = [sys.executable, os.path.abspath(__file__), '--worker', uri,
                   '--original', args.original] + (['--redis', args.redis] if args.redis else [])
            ret = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
            if ret.returncode != 0:
                errors[uri] = ret.stderr.decode(errors='replace').strip().splitlines()[-1:]
                print(f'round {rnd + 1}: {uri} failed: {errors[uri]}', file=sys.stderr)
                continue
            runs[uri].append(json.loads(ret.stdout))
            r = runs[uri][-1]['single']
            print(f'round {rnd + 1}: {uri:28s} write {r["write"][0] / r["write"][1]:>12,.0f}/s'
                  f'  read {r["read"][0] / r["read"][1]:>12,.0f}/s', file=sys.stderr)

    suffix = args.redis or ''
    def real_uri(uri):
        return f'py+redis://{suffix}' if uri == 'py+redis:' else uri

    doc_backends, results = [], []
    for uri in backends:
        name = BACKENDS[uri][0]
        reason = skipped.get(uri) or (' '.join(errors[uri]) if uri in errors else None)
        doc_backends.append({'uri': real_uri(uri), 'name': name, 'version': None,
                             'caps': 'cross_process' if uri != 'py+dict:' else None,
                             'local_runtime': False, 'reachable': uri not in skipped,
                             'error': skipped.get(uri)})
        n, k = BACKENDS[uri][1], BACKENDS[uri][2]
        base = {'procs': '1', 'keys': '1', 'value_size': '1',
                'repeat': str(args.rounds), 'seed': '0'}
        cell = {'scenario': 'seed', 'backend': real_uri(uri), 'backend_name': name,
                'params': base, 'correctness': None}
        if reason or not runs[uri]:
            cell.update(status='n/a' if uri in skipped else 'error',
                        reason=reason or 'no round finished', metrics=[])
        else:
            cell.update(status='ok', reason=None, metrics=[
                metric(op, [rep(*r['single'][op]) for r in runs[uri]], threshold)
                for op in ('write', 'read')])
        results.append(cell)

    for uri in backends:
        name, n, k = BACKENDS[uri]
        params = {'procs': '2', 'keys': '1', 'value_size': '1',
                  'primitive': 'lock', 'repeat': str(args.rounds), 'seed': '0'}
        cell = {'scenario': 'lock', 'backend': real_uri(uri), 'backend_name': name,
                'params': params}
        if not k:
            cell.update(status='n/a', reason='a Python dict is not shared between processes',
                        metrics=[], correctness=None)
        elif uri in skipped or uri in errors or not runs[uri]:
            cell.update(status='n/a' if uri in skipped else 'error',
                        reason=skipped.get(uri) or ' '.join(errors.get(uri, ['no round'])),
                        metrics=[], correctness=None)
        else:
            cs = [r['counter'] for r in runs[uri]]
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
        results.append(cell)

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
                   'tool_version': 'seed_ranking.py 1.0', 'git_commit': commit,
                   'build_type': None, 'suite': None, 'argv': sys.argv, 'seed': 0,
                   'timer_overhead_ns': overhead, 'noise_threshold': threshold,
                   'machine': machine(load_before)},
           'backends': doc_backends, 'results': results}
    tmp = f'{args.out}.tmp.{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(doc, f, indent=2)
        f.write('\n')
    os.replace(tmp, args.out)
    # The targets, as ratios against the original: the median of the per-round ratios (each
    # round measures both within seconds of each other), and the ratio of the medians.
    cells = {(c['scenario'], c['backend'], m['op']): m
             for c in results if c['status'] == 'ok' for m in c['metrics']}
    orig = 'py+ultradict-original:'
    for uri in ('py+ultradict:?lock=mutex', 'py+ultradict:?lock=spin'):
        for sc, op, target in (('seed', 'read', 10), ('seed', 'write', 5), ('lock', 'incr', 5)):
            a, b = cells.get((sc, uri, op)), cells.get((sc, orig, op))
            if not a or not b:
                continue
            paired = [x['ops_per_sec'] / y['ops_per_sec']
                      for x, y in zip(a['reps'], b['reps']) if y['ops_per_sec'] > 0]
            pm = median(paired)
            print(f'{uri:26s} {sc} {op:5s}: {pm:5.1f}x the original (median of {len(paired)} '
                  f'paired rounds, range {min(paired):.1f}-{max(paired):.1f}; ratio of medians '
                  f'{a["median"] / b["median"]:.1f}x) target {target}x: '
                  f'{"met" if pm >= target else "MISSED"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
