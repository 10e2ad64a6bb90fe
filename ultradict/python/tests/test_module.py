"""Tests of the UltraDict module over libultradict: the mapping protocol, canonical keys, the
read cache across processes, the lock and its exceptions, nested dicts, fork and spawn, and
the lifecycle. Run with the module installed: python -m unittest -v test_module"""
import gc
import multiprocessing
import os
import pickle
import signal
import time
import unittest
import uuid

from UltraDict import UltraDict, Exceptions


class Text(str):
    """A str subclass: pickled as itself, not as a plain str."""


def fresh_name():
    return 'pyt_' + uuid.uuid4().hex[:16]


def shm_entries(name):
    return sorted(e for e in os.listdir('/dev/shm') if e == name or e.startswith(name + '.'))


def own_fds():
    return len(os.listdir('/proc/self/fd'))


# Children of the multi-process tests (module level, so spawn can import them).
def add_under_lock(name, n):
    d = UltraDict(name=name, create=False)
    for _ in range(n):
        with d.lock:
            d['counter'] += 1


def set_and_exit(name, key, value):
    d = UltraDict(name=name, create=False)
    d[key] = value


def hold_lock_forever(name, ready):
    d = UltraDict(name=name, create=False)
    d.lock.acquire()
    ready.set()
    time.sleep(60)


class Mapping(unittest.TestCase):
    def setUp(self):
        self.d = UltraDict(name=fresh_name())
        self.other = UltraDict(name=self.d.name)

    def tearDown(self):
        self.other.close()
        self.d.close()

    def test_protocol(self):
        d, o = self.d, self.other
        d['a'] = [1, 2]
        d[b'raw'] = None
        d[(1, 'x')] = {'plain': 'dict'}
        self.assertEqual(o['a'], [1, 2])
        self.assertIsNone(o[b'raw'])
        self.assertEqual(o[(1, 'x')], {'plain': 'dict'})
        self.assertEqual(len(o), 3)
        self.assertIn('a', o)
        self.assertNotIn('b', o)
        self.assertEqual(o.keys(), ['a', b'raw', (1, 'x')])
        self.assertEqual(list(o), o.keys())
        self.assertEqual(o.values(), [[1, 2], None, {'plain': 'dict'}])
        self.assertEqual(o.get('missing'), None)
        self.assertEqual(o.get('missing', 7), 7)
        with self.assertRaises(KeyError):
            o['missing']
        del o['a']
        with self.assertRaises(KeyError):
            del d['a']
        self.assertEqual(d.pop(b'raw'), None)
        self.assertEqual(d.pop('gone', 'dflt'), 'dflt')
        with self.assertRaises(KeyError):
            d.pop('gone')
        self.assertEqual(o.setdefault('s', 5), 5)
        self.assertEqual(o.setdefault('s', 6), 5)
        self.assertEqual(d.popitem(), ('s', 5))
        d.update({'u': 1}, v=2)
        d.update([('w', 3)])
        self.assertEqual(o.data, {(1, 'x'): {'plain': 'dict'}, 'u': 1, 'v': 2, 'w': 3})
        self.assertEqual(o, d)
        self.assertEqual(o, {(1, 'x'): {'plain': 'dict'}, 'u': 1, 'v': 2, 'w': 3})
        self.assertNotEqual(o, {})
        o.clear()
        self.assertEqual(len(d), 0)
        with self.assertRaises(KeyError):
            d.popitem()
        with self.assertRaises(TypeError):
            d[[1]] = 1  # unhashable, as in a dict

    def test_dict_operators(self):
        d = self.d
        d.update(a=1, b=2)
        self.assertEqual(list(reversed(d)), ['b', 'a'])
        self.assertEqual(d | {'c': 3}, {'a': 1, 'b': 2, 'c': 3})
        self.assertEqual({'c': 3} | d, {'c': 3, 'a': 1, 'b': 2})
        d |= {'c': 3}
        self.assertEqual(self.other['c'], 3)
        self.assertEqual(dict(self.other), {'a': 1, 'b': 2, 'c': 3})
        self.assertEqual({**self.other}, {'a': 1, 'b': 2, 'c': 3})
        f = UltraDict.fromkeys(['x', 'y'], 0)
        self.assertEqual(f, {'x': 0, 'y': 0})
        f.close()

    def test_canonical_keys(self):
        d, o = self.d, self.other
        d[1] = 'one'
        self.assertEqual(o[1.0], 'one')
        self.assertEqual(o[True], 'one')
        o[1.0] = 'uno'
        self.assertEqual(len(d), 1)
        self.assertEqual(d[1], 'uno')
        d[0.5] = 'half'
        d[2 ** 100] = 'big'
        d[(1, (2.0, 'x'))] = 't'
        self.assertEqual(o[0.5], 'half')
        self.assertEqual(o[float(2 ** 100)], 'big')
        self.assertEqual(o[(1.0, (2, 'x'))], 't')
        d['1'] = 'string one'
        d[b'1'] = 'bytes one'
        self.assertEqual(len(o), 6)
        self.assertEqual(o['1'], 'string one')
        self.assertEqual(set(map(type, o.keys())), {int, float, tuple, str, bytes})

    def test_values_round_trip(self):
        d, o = self.d, self.other
        vals = [0, -5, 2 ** 80, 1.5, 'text', b'\x00bytes', None, True, [1, {'a': (2,)}],
                frozenset({1}), 'x' * 200_000]
        for i, v in enumerate(vals):
            d[i] = v
        for i, v in enumerate(vals):
            self.assertEqual(o[i], v)
            self.assertIs(type(o[i]), type(v))

    def test_incr(self):
        d, o = self.d, self.other
        d['n'] = 41
        self.assertEqual(o.incr('n'), 42)
        self.assertEqual(d['n'], 42)
        self.assertEqual(d.incr('fresh', 5), 5)
        d['s'] = 'text'
        with self.assertRaises(TypeError):
            d.incr('s')

    def test_cache_sees_other_handle_writes(self):
        d, o = self.d, self.other
        d['k'] = 1
        self.assertEqual(o['k'], 1)
        self.assertEqual(o['k'], 1)  # served from the cache
        pos = o.change_position()
        d['k'] = 2
        self.assertGreater(o.change_position(), pos)
        self.assertEqual(o['k'], 2)
        del d['k']
        self.assertNotIn('k', o)

    def test_write_after_another_handle_keeps_no_stale_cache(self):
        d, o = self.d, self.other
        d['a'] = 1
        self.assertEqual(d['a'], 1)  # the cache is valid now
        o['a'] = 2
        d['b'] = 3  # not the only change since the cache was filled
        self.assertEqual(d['a'], 2)
        self.assertEqual(d['b'], 3)
        d['b'] = 4  # the only change: the cache keeps the written value
        self.assertEqual(d['b'], 4)
        self.assertEqual(o['b'], 4)

    def test_mutable_value_is_a_copy_until_written(self):
        self.d['l'] = [1]
        self.d['l'].append(2)  # as in the original: changes the local copy only
        self.assertEqual(self.other['l'], [1])


    def test_str_and_bytes_values_are_written_as_pickle_writes_them(self):
        class Raw:
            dumps = staticmethod(lambda v: v)
            loads = staticmethod(lambda b: b)

        raw = UltraDict(name=self.d.name, serializer=Raw)
        values = ['', '1', 'é', '\U0001f600' * 70, b'', b'\x00' * 255, b'y' * 256, b'q' * 65000,
                  '\ud800', 'x' * 70000, b'z' * 70000, Text('sub')]
        values += ['a' * n for n in (254, 255, 256, 257, 1000, 65000, 65001)]
        for v in values:
            self.d['v'] = v
            self.assertEqual(raw['v'], pickle.dumps(v), repr(v)[:40])
            got = self.other['v']
            self.assertEqual(got, v)
            self.assertIs(type(got), type(v))
        # Bytes that only look like a pickled str at first are not the codec's own encoding:
        # they come back whole, as bytes, never as the str they imitate.
        forged = pickle.dumps('abc')[:-1] + b'!'
        raw['w'] = forged
        self.assertEqual(self.d['w'], forged)
        self.assertIs(type(self.d['w']), bytes)
        del raw['w']
        raw.close()

    def test_popitem_newest_first(self):
        d = self.d
        d.update([('a', 1), ('b', 'two'), ('c', b'3')])
        self.assertEqual(d.popitem(), ('c', b'3'))
        self.assertEqual(self.other.popitem(), ('b', 'two'))
        self.assertEqual(dict(d.items()), {'a': 1})
        d.popitem()
        with self.assertRaises(KeyError):
            d.popitem()

    def test_cache_kept_across_own_write_under_lock(self):
        d, o = self.d, self.other
        with d.lock:
            d['n'] = 0
            for _ in range(100):
                d['n'] += 1
            self.assertEqual(d['n'], 100)
        self.assertEqual(o['n'], 100)
        with d.lock:
            self.assertEqual(d['n'], 100)
            o['n'] = 7  # another handle writes inside the section
            d['m'] = 1  # so this write is not the only change: the cache must go
            self.assertEqual(d['n'], 7)
        d['l'] = [1]
        with d.lock:
            d['l'] = lst = [2]  # a mutable value is never the cached object itself
            lst.append(3)
            self.assertEqual(d['l'], [2])


class Serializer(unittest.TestCase):
    def test_custom_serializer(self):
        import json

        class JSON:
            @staticmethod
            def dumps(v):
                return json.dumps(v).encode()

            @staticmethod
            def loads(b):
                return json.loads(b)

        d = UltraDict(serializer=JSON)
        o = UltraDict(name=d.name, serializer=JSON)
        d['a'] = {'x': [1, 2]}
        d['n'] = 3
        self.assertEqual(o['a'], {'x': [1, 2]})
        self.assertEqual(o['n'], 3)
        with self.assertRaises(TypeError):
            d.incr('n')
        o.close()
        d.close()


class Lifecycle(unittest.TestCase):
    def test_create_attach_errors(self):
        name = fresh_name()
        with self.assertRaises(Exceptions.CannotAttachSharedMemory):
            UltraDict(name=name, create=False)
        d = UltraDict(name=name, create=True)
        with self.assertRaises(Exceptions.AlreadyExists):
            UltraDict(name=name, create=True)
        with self.assertRaises(ValueError):
            UltraDict(name='bad/name')
        d.close()

    def test_creator_options_win(self):
        d = UltraDict(name=fresh_name(), buffer_size=100, shared_lock=True, full_dump_size=50_000)
        o = UltraDict(name=d.name, buffer_size=1 << 20, shared_lock=False)
        self.assertEqual(d.buffer_size, 4096)  # rounded up
        self.assertEqual(o.buffer_size, 4096)
        self.assertEqual(o.full_dump_size, 50_000)
        self.assertIsInstance(o.lock, UltraDict.SharedLock)
        o.close()
        d.close()

    def test_close_returns_data_and_unlinks(self):
        d = UltraDict(name=fresh_name())
        name = d.name
        o = UltraDict(name=name)
        d['a'] = 1
        self.assertEqual(shm_entries(name), [name, name + '.dump0', name + '.dump1',
                                             name + '.stream'])
        self.assertEqual(o.close(), {'a': 1})
        with self.assertRaises(Exceptions.AlreadyClosed):
            o['a']
        self.assertEqual(d.close(), {'a': 1})
        self.assertEqual(shm_entries(name), [])
        self.assertEqual(d.close(), {})

    def test_unlink_by_name(self):
        d = UltraDict(name=fresh_name(), auto_unlink=False)
        name = d.name
        d.close()
        self.assertTrue(shm_entries(name))
        self.assertTrue(UltraDict.unlink_by_name(name))
        self.assertEqual(shm_entries(name), [])
        with self.assertRaises(Exceptions.CannotAttachSharedMemory):
            UltraDict.unlink_by_name(name)
        self.assertFalse(UltraDict.unlink_by_name(name, ignore_errors=True))

    def test_del_releases_descriptors(self):
        gc.collect()
        before = own_fds()
        d = UltraDict({'n': {1: 1}}, recurse=True)
        d['n'][1]  # opens the child
        self.assertEqual(own_fds(), before + 8)
        del d
        self.assertEqual(own_fds(), before)

    def test_status(self):
        d = UltraDict(name=fresh_name())
        d['a'] = 1
        st = d.status()
        self.assertEqual(st['name'], d.name)
        self.assertTrue(st['creator'])
        self.assertEqual(st['len'], 1)
        self.assertEqual(d.full_dump_counter, 0)
        d.dump()
        self.assertEqual(d.full_dump_counter, 1)
        d.load(force=True)
        d.apply_update()
        self.assertEqual(d['a'], 1)
        d.close()


class Nested(unittest.TestCase):
    def test_nested_dicts(self):
        d = UltraDict(name=fresh_name(), recurse=True)
        o = UltraDict(name=d.name)
        d['n'] = {'deep': {0: 1}, 'x': 'y'}
        self.assertIsInstance(o['n'], UltraDict)
        self.assertIs(o['n'], o['n'])  # one handle per child, not reopened
        o['n']['deep'][0] += 1
        self.assertEqual(d['n']['deep'][0], 2)
        self.assertEqual(repr(d), "{'n': {'deep': {0: 2}, 'x': 'y'}}")
        self.assertEqual(o, d)
        # pop, popitem, setdefault, update of nested values
        self.assertEqual(d.setdefault('s', {'a': 1})['a'], 1)
        self.assertIsInstance(o['s'], UltraDict)
        d.update({'u': {'b': 2}}, v={'c': 3})
        self.assertEqual(o['u']['b'], 2)
        self.assertEqual(o['v']['c'], 3)
        self.assertEqual(d.popitem(), ('v', {'c': 3}))
        self.assertEqual(d.pop('n'), {'deep': {0: 2}, 'x': 'y'})
        self.assertNotIn('n', o)
        names = [e for e in os.listdir('/dev/shm') if e.startswith(d.name + '.c')]
        self.assertEqual(len(names), 8)  # s and u: four segments each
        name = d.name
        o.close()
        d.close()
        self.assertEqual(shm_entries(name), [])

    def test_child_never_seen_empty(self):
        d = UltraDict(name=fresh_name(), recurse=True)
        o = UltraDict(name=d.name)
        for i in range(50):
            d['n'] = {'a': i, 'b': {'c': i}}
            self.assertEqual(o['n']['b']['c'], i)
        o.close()
        d.close()


class Locks(unittest.TestCase):
    def counted_dict(self):
        """A fresh dict, and the number of descriptors this process had open before it."""
        gc.collect()
        before = own_fds()
        return UltraDict(name=fresh_name()), before

    def assert_gone(self, name, before):
        """The dict `name` let go of everything: its descriptors and its shared memory."""
        self.assertEqual(own_fds(), before)
        self.assertEqual(shm_entries(name), [])

    def test_two_handles_one_thread(self):
        d = UltraDict(name=fresh_name())
        o = UltraDict(name=d.name)
        with d.lock:
            o['x'] = 1  # must not deadlock or fail
            with o.lock:
                o['x'] += 1
        self.assertEqual(d['x'], 2)
        o.close()
        d.close()

    def test_one_lock_object_per_dict(self):
        for shared in (False, True):
            d = UltraDict(name=fresh_name(), shared_lock=shared)
            self.assertIs(d.lock, d.lock)
            self.assertIsInstance(d.lock, UltraDict.SharedLock if shared else UltraDict.RLock)
            with d.lock(timeout=1) as lk:  # with arguments: an object of its own
                self.assertIsNot(lk, d.lock)
                d['x'] = 1
            self.assertIs(d.lock._ud, d)
            d.close()

    def test_lock_object_without_its_dict(self):
        d, before = self.counted_dict()
        name = d.name
        d.lock  # made and dropped: the dict is not kept open by it
        del d
        self.assert_gone(name, before)
        # A lock object kept beyond its dict keeps the dict usable, then lets it go.
        lk = UltraDict(name=name).lock
        self.assertEqual(own_fds(), before + 4)
        with lk:
            self.assertEqual(lk._ud._lock_holder(), os.getpid())
            lk._ud['k'] = 'v'
        self.assertEqual(lk._ud['k'], 'v')
        with lk._ud.lock:  # the dict's own lock object now is another one
            pass
        del lk
        self.assert_gone(name, before)

    def test_lock_object_in_a_garbage_cycle(self):
        d, before = self.counted_dict()
        name = d.name
        box = [d.lock]
        box.append(box)  # the lock object kept only by a cycle
        del d, box
        gc.collect()
        self.assert_gone(name, before)

    def test_lock_methods_bound_once(self):
        import contextlib
        d, before = self.counted_dict()
        name = d.name
        lk = d.lock
        self.assertIs(lk.__enter__, lk.__enter__)
        self.assertIs(lk.__exit__, lk.__exit__)
        with d.lock(timeout=1) as other:  # not the dict's own object: bound as usual
            self.assertIsNot(other.__exit__, other.__exit__)
        del other
        with contextlib.ExitStack() as stack:  # calls type(cm).__enter__(cm)
            stack.enter_context(lk)
            self.assertEqual(d._lock_holder(), os.getpid())
        self.assertEqual(d._lock_holder(), 0)
        del lk
        with d.lock:
            d['n'] = 1
        del d  # the bound methods the dict keeps do not keep it open
        self.assert_gone(name, before)
        # The dict deleted inside its own `with`: it stays open until the section ends.
        d = UltraDict(name=name)
        with d.lock:
            o = d.lock._ud
            del d
            o['n'] = 2
            del o
            self.assertEqual(own_fds(), before + 4)
        self.assert_gone(name, before)

    def test_blocking_pid_and_timeout(self):
        for shared in (False, True):
            d = UltraDict(name=fresh_name(), shared_lock=shared)
            ctx = multiprocessing.get_context('fork')
            ready = ctx.Event()
            p = ctx.Process(target=hold_lock_forever, args=(d.name, ready))
            p.start()
            self.assertTrue(ready.wait(10))
            with self.assertRaises(Exceptions.CannotAcquireLock) as cm:
                with d.lock(block=False):
                    pass
            self.assertEqual(cm.exception.blocking_pid, p.pid)
            t0 = time.monotonic()
            with self.assertRaises(Exceptions.CannotAcquireLockTimeout):
                d.lock.acquire(timeout=0.2, steal_after_timeout=True)  # live holder: kept
            self.assertGreaterEqual(time.monotonic() - t0, 0.15)
            self.assertFalse(d.lock.steal_from_dead(from_pid=p.pid))
            os.kill(p.pid, signal.SIGKILL)
            p.join()
            # The dead holder's lock is recovered.
            with d.lock(timeout=5):
                d['after'] = 1
            d.close()

    def test_counter_fork_and_spawn(self):
        for method, shared in (('fork', False), ('fork', True), ('spawn', False)):
            d = UltraDict(name=fresh_name(), shared_lock=shared, buffer_size=10_000)
            d['counter'] = 0
            ctx = multiprocessing.get_context(method)
            ps = [ctx.Process(target=add_under_lock, args=(d.name, 2000)) for _ in range(2)]
            for p in ps:
                p.start()
            for p in ps:
                p.join()
            self.assertEqual([p.exitcode for p in ps], [0, 0])
            self.assertEqual(d['counter'], 4000, f'{method} shared_lock={shared}')
            d.close()

    def test_pickled_handle_reattaches(self):
        d = UltraDict(name=fresh_name())
        d['k'] = 'v'
        ctx = multiprocessing.get_context('spawn')
        p = ctx.Process(target=set_and_exit, args=(d.name, 'child', 'wrote'))
        p.start()
        p.join()
        self.assertEqual(d['child'], 'wrote')
        o = pickle.loads(pickle.dumps(d))
        self.assertEqual(o['k'], 'v')
        o.close()
        d.close()


if __name__ == '__main__':
    unittest.main()
