"""Tests of the UltraDict module's codec: ints of any size, keys and values written by other
programs (the `ultradict` CLI, standing in for any C program), and nesting under long names.
Run with the module installed and UD_CLI naming the `ultradict` tool:
    UD_CLI=build/bin/ultradict python -m unittest -v test_codec"""
import os
import pickle
import random
import subprocess
import sys
import unittest
import uuid

from UltraDict import UltraDict

CLI = os.environ.get('UD_CLI', '')
MARK = b'\xc1\xfe'


def fresh_name(n=16):
    return 'pyc_' + uuid.uuid4().hex[:n]


def shm_entries(name):
    return sorted(e for e in os.listdir('/dev/shm') if e == name or e.startswith(name + '.'))


def cli(*args, stdin=None):
    """Runs the CLI; returns its standard output (bytes); fails the test on a non-zero exit."""
    r = subprocess.run([CLI, *args], input=stdin, capture_output=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f'ultradict {args!r}: exit {r.returncode}: {r.stderr!r}')
    return r.stdout


class TwoHandles(unittest.TestCase):
    """A fresh dict and a second handle of it, which has nothing cached."""
    def setUp(self):
        self.d = UltraDict(name=fresh_name())
        self.other = UltraDict(name=self.d.name, create=False)

    def tearDown(self):
        self.other.close()
        self.d.close()


class BigInts(TwoHandles):

    def test_any_int_round_trips(self):
        values = [0, 1, -1, 2**63 - 1, -2**63, 2**63, -2**63 - 1, 10**18, 10**19, 10**38,
                  10**39, -10**38, -10**39, 2**200, -(2**200), 10**639, 10**640 - 1, 10**640,
                  -(10**640), 2**2200, 10**5000, -(7**9000), True, False]
        for i, v in enumerate(values):
            self.d[i] = v
        # Read back by another handle (nothing cached there) and as a whole.
        for i, v in enumerate(values):
            got = self.other[i]
            self.assertEqual(got, v)
            self.assertIs(type(got), type(v) if not isinstance(v, bool) else bool)
        self.assertEqual(self.other.values(), values)
        self.assertEqual(dict(self.other.items()), dict(enumerate(values)))
        self.assertEqual(self.other.copy(), dict(enumerate(values)))

    def test_big_int_is_decimal_for_the_cli(self):
        if not CLI:
            self.skipTest('UD_CLI is not set')
        self.d[b'big'] = 10**39
        self.assertEqual(cli('get', self.d.name, 'big'), b'1' + b'0' * 39)
        self.d[b'huge'] = 10**700  # past PYUD_DECIMAL_MAX digits: pickled
        self.assertTrue(cli('get', self.d.name, 'huge').startswith(b'\x80'))
        self.assertEqual(self.other[b'huge'], 10**700)

    def test_big_int_keys(self):
        keys = [10**39, -10**38, 2**200, 10**700, 2.0**80, -2.0**200]
        for k in keys:
            self.d[k] = repr(k)
        self.assertEqual(len(self.other), len(keys))
        for k in keys:
            self.assertEqual(self.other[k], repr(k))
            self.assertEqual(self.other[int(k)], repr(k))
        self.assertEqual(sorted(self.other.keys()), sorted(int(k) for k in keys))

    def test_incr_on_a_written_int(self):
        self.d['n'] = 41
        self.assertEqual(self.d.incr('n', 1), 42)
        self.assertEqual(self.other['n'], 42)


@unittest.skipUnless(CLI, 'UD_CLI is not set')
class ForeignEntries(unittest.TestCase):
    def setUp(self):
        self.name = fresh_name()
        cli('create', self.name)
        self.d = UltraDict(name=self.name, create=False)

    def tearDown(self):
        self.d.close()
        UltraDict.unlink_by_name(self.name, ignore_errors=True)

    def test_cli_keys_come_back_as_bytes(self):
        entries = {'name': '1', 'null': 'x', 'sfoo': 'y', 'bar': 'z', 'index': 'i',
                   'plain': 'p', 'i42': '007', 'n': '-0', 't': '1.5', 'p': 'hello'}
        for k, v in entries.items():
            cli('set', self.name, k, v)
        want = {b'name': 1, b'null': b'x', b'sfoo': b'y', b'bar': b'z', b'index': b'i',
                b'plain': b'p', b'i42': b'007', b'n': b'-0', b't': b'1.5', b'p': b'hello'}
        self.assertEqual(self.d.keys(), list(want))
        self.assertEqual(dict(self.d.items()), want)
        self.assertEqual(list(self.d), list(want))
        self.assertEqual(self.d.copy(), want)
        for k, v in want.items():
            self.assertEqual(self.d[k], v)
            self.assertIn(k, self.d)
        self.assertNotIn('name', self.d)
        self.assertNotIn(None, self.d)

    def test_python_bytes_keys_are_raw_for_the_cli(self):
        self.d[b'counter'] = 5
        self.assertEqual(cli('get', self.name, 'counter'), b'5')
        self.assertEqual(cli('incr', self.name, 'counter'), b'6\n')
        self.assertEqual(self.d[b'counter'], 6)
        # str keys are the module's own: the CLI does not see them under the plain text.
        self.d['text'] = 1
        self.assertEqual(cli('keys', self.name).split(b'\n')[:1], [b'counter'])

    def test_arbitrary_foreign_bytes(self):
        """Any bytes (argv cannot carry NUL; fuzz_pycodec covers it) read back whole, and the
        key read back finds the entry again."""
        rng = random.Random(20)
        heads = [b'', MARK, MARK + b's', MARK + b'i', MARK + b'b', MARK + b'b' + MARK,
                 MARK + b't', MARK + b'p', MARK + b'f', MARK + b'n', b'\xc1', b'\x80\x04']
        self.fixed_foreign = {MARK + b'i007', MARK + b'i-0', MARK + b's\xff', MARK + b'n!', MARK + b't\x01',
                MARK + b'p\x80\x04garbage', MARK + b'p\x80\x04K\x01', MARK + b'f\x01',
                MARK + b'b', MARK + b'bx', MARK + b'b' + MARK + b'bx', MARK + b's\xed\xa0\x80'}
        keys = set(self.fixed_foreign)
        while len(keys) < 80:
            body = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(0, 12)))
            k = rng.choice(heads) + body
            if k and not k.startswith(b'-'):
                keys.add(k)
        values = {}
        for k in sorted(keys):
            v = bytes(rng.randrange(0, 256) for _ in range(rng.randrange(0, 8)))
            if v[:1].isdigit() or v[:1] in (b'-', b'\x80'):
                v = b'x' + v
            cli('set', self.name, k, '-', stdin=v)
            values[k] = v
        self.assertEqual(len(self.d), len(keys))
        # Random bytes after the mark may happen to be an own encoding (a str, say): whatever
        # each key reads back as must find its entry again, and nothing may raise.
        items = self.d.items()
        self.assertEqual(sorted(v for _, v in items), sorted(values.values()))
        for k, v in items:
            self.assertEqual(self.d[k], v)
        self.assertEqual(len(self.d.copy()), len(keys))
        for k, v in values.items():
            if not k.startswith(MARK) or k in self.fixed_foreign:
                self.assertIn(k, self.d)
                self.assertEqual(self.d[k], v)

    def test_own_encodings_of_a_cli_key(self):
        """Bytes that are the module's own encoding decode as such (the CLI can write them too)."""
        cli('set', self.name, MARK + b'sname', 'v')
        cli('set', self.name, MARK + b'i-12', 'w')
        cli('set', self.name, MARK + b'n', 'x')
        self.assertEqual(self.d['name'], b'v')
        self.assertEqual(self.d[-12], b'w')
        self.assertEqual(self.d[None], b'x')


class PythonKeys(TwoHandles):

    def test_bytes_that_look_like_own_encodings(self):
        keys = [MARK + b'sfoo', MARK + b'b' + MARK + b'n', MARK, MARK + b'b', MARK + b'i1',
                MARK + b'i01', b'', b'sfoo', b'\x00\xff', MARK + b'p\x80\x04K\x01.']
        for i, k in enumerate(keys):
            self.d[k] = i
        self.d['foo'] = 'str'
        self.d[1] = 'int'
        self.d[None] = 'none'
        self.assertEqual(len(self.other), len(keys) + 3)
        for i, k in enumerate(keys):
            self.assertEqual(self.other[k], i)
        self.assertEqual(self.other['foo'], 'str')
        self.assertEqual(self.other[True], 'int')
        self.assertEqual(set(self.other.keys()), set(keys) | {'foo', 1, None})

    def test_every_key_type(self):
        keys = [1, -5, 'a', '', 'é\u20ac\U0001f600', b'raw', None, 1.5, -0.25, float('inf'),
                float('-inf'), (), (1, 'a', (b'x', None, ())), frozenset({1, 2}), 2**70]
        for k in keys:
            self.d[k] = repr(k)
        for k in self.other.keys():
            self.assertEqual(self.other[k], repr(k))
        self.assertEqual(len(self.other.keys()), len(keys))
        self.d[1.0] = 'one'
        self.assertEqual(self.other[1], 'one')
        self.assertEqual(self.other[True], 'one')

    def test_unloadable_pickled_key_does_not_break_the_dict(self):
        """A key pickled from a class this process cannot import reads back as its bytes."""
        code = ('import sys\nfrom UltraDict import UltraDict\n'
                'class Local:\n    def __hash__(self): return 1\n'
                '    def __eq__(self, o): return isinstance(o, Local)\n'
                'd = UltraDict(name=sys.argv[1], create=False)\nd[Local()] = 1\nd.close()\n')
        subprocess.run([sys.executable, '-c', code, self.d.name], check=True, timeout=60)
        self.d['other'] = 2
        keys = self.other.keys()
        self.assertEqual(len(keys), 2)
        raw = [k for k in keys if k != 'other'][0]
        self.assertIs(type(raw), bytes)
        self.assertTrue(raw.startswith(MARK + b'p'))
        self.assertEqual(self.other[raw], 1)
        self.assertEqual(dict(self.other.items())['other'], 2)


class LongNames(unittest.TestCase):
    def test_nesting_under_a_200_character_name(self):
        name = 'n' * 196 + uuid.uuid4().hex[:4]
        d = UltraDict(name=name, recurse=True)
        try:
            d['fits'] = {'b': {'c': 1}}
            self.assertEqual(d['fits']['b']['c'], 1)
            before = shm_entries(name)
            with self.assertRaises(OSError) as cm:
                d['deep'] = {'b': {'c': {'d': 1}}}
            self.assertIn('UD_ENAMETOOLONG', str(cm.exception))
            self.assertIn('at most 2 levels', str(cm.exception))
            self.assertNotIn('UD_ETOOBIG', str(cm.exception))
            self.assertEqual(shm_entries(name), before)  # no half-made children
            self.assertNotIn('deep', d)
            # A dict that contains itself is refused the same way, at once.
            loop = {}
            loop['x'] = loop
            with self.assertRaises(OSError):
                d['loop'] = loop
            self.assertEqual(shm_entries(name), before)
        finally:
            d.close()
        self.assertEqual(shm_entries(name), [])

    def test_failed_nested_value_leaves_nothing(self):
        """A value that cannot be encoded deep inside a nested dict leaves no children."""
        d = UltraDict(name=fresh_name(), recurse=True)
        try:
            before = shm_entries(d.name)
            with self.assertRaises(Exception):
                d['x'] = {'a': {'b': {'c': lambda: 0}}}
            self.assertEqual(shm_entries(d.name), before)
        finally:
            d.close()


if __name__ == '__main__':
    unittest.main()
