/*
 * boost_ipc.cc - the `boost-ipc:[NAME]` adapter: a hash map in a Boost.Interprocess managed
 * shared-memory segment (the engine under the mpdict Python extension), the store a C or C++
 * user would otherwise pick to share a map between processes. C++ behind the C method table;
 * no exception leaves this file.
 *
 * Parameters: size=SIZE (the segment's bytes when this connection creates it; 256M by default),
 * create=any|only|attach, unlink=default|on|off (default: the creator removes the name at
 * close). Without a NAME the segment gets a random name that only this connection knows.
 *
 * One boost::unordered_map of binary-safe strings (keys and values allocated in the segment)
 * and one interprocess_mutex beside it, each found or built by name. Every
 * operation takes the mutex; kv_lock() holds it until kv_unlock(), and operations in between
 * run under that hold. Caveat, measured in the contract tests' terms: Boost.Interprocess 1.74
 * has no robust mutex on POSIX, so a process killed while it holds the mutex (or while it is in
 * the middle of an operation) leaves the store locked for good; kv_lock() with a timeout then
 * gives KV_ETIMEDOUT and every other operation waits. The map itself is not crash-safe either:
 * a writer killed during an insert can leave it inconsistent. Lookups take the key as it is
 * (a view, hashed in place): no allocation in the segment for a read.
 */
extern "C" {
#include "kv_internal.h"
}

#include <boost/date_time/posix_time/posix_time_types.hpp>
#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/containers/string.hpp>
#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>
#include <boost/unordered_map.hpp>
#include <boost/version.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <string>
#include <string_view>

namespace {

namespace bip = boost::interprocess;

using Segment = bip::managed_shared_memory;
using SegmentManager = Segment::segment_manager;
using CharAlloc = bip::allocator<char, SegmentManager>;
using ShmString = bip::basic_string<char, std::char_traits<char>, CharAlloc>;

/* One hash for stored keys and for the caller's bytes, so that a lookup needs no copy. */
struct KeyHash {
    size_t operator()(const ShmString &s) const {
        return std::hash<std::string_view>()(std::string_view(s.data(), s.size()));
    }
    size_t operator()(std::string_view s) const {
        return std::hash<std::string_view>()(s);
    }
};

struct KeyEq {
    static bool same(std::string_view a, std::string_view b) {
        return a == b;
    }
    bool operator()(const ShmString &a, const ShmString &b) const {
        return same({a.data(), a.size()}, {b.data(), b.size()});
    }
    bool operator()(std::string_view a, const ShmString &b) const {
        return same(a, {b.data(), b.size()});
    }
    bool operator()(const ShmString &a, std::string_view b) const {
        return same({a.data(), a.size()}, b);
    }
};

using Entry = std::pair<const ShmString, ShmString>;
using Map = boost::unordered_map<ShmString, ShmString, KeyHash, KeyEq,
                                 bip::allocator<Entry, SegmentManager>>;

/* The segment's two named objects, each found or built atomically by the segment manager. */
constexpr const char *MUTEX_NAME = "kv-boost-ipc-mutex";
constexpr const char *MAP_NAME = "kv-boost-ipc-map";
constexpr uint64_t DEFAULT_SIZE = 256ull << 20;

struct BipConn {
    kv_conn base;
    Segment *seg;
    bip::interprocess_mutex *mutex;
    Map *map;
    std::string *name;
    bool unlink_at_close;
    bool locked; /* kv_lock() holds the mutex */
};

BipConn *conn_of(kv_conn *c) {
    return reinterpret_cast<BipConn *>(c);
}

/* Takes the mutex for one operation, unless kv_lock() already holds it. */
class Hold {
  public:
    explicit Hold(BipConn *bc) : bc_(bc) {
        if (!bc_->locked)
            bc_->mutex->lock();
    }
    ~Hold() {
        if (!bc_->locked)
            bc_->mutex->unlock();
    }
    Hold(const Hold &) = delete;
    Hold &operator=(const Hold &) = delete;

  private:
    BipConn *bc_;
};

std::string_view view(const void *p, size_t n) {
    return {static_cast<const char *>(n ? p : ""), n};
}

/* Runs fn (which returns a kv code) and turns every exception into a code with a detail. */
template <class F> int guarded(BipConn *bc, const char *what, F fn) {
    try {
        return fn();
    } catch (const bip::bad_alloc &) {
        return kv__error(&bc->base, KV_EFULL,
                         "boost-ipc %s: the segment '%s' is full; open it with a larger ?size=",
                         what, bc->name->c_str());
    } catch (const std::bad_alloc &) {
        return -ENOMEM;
    } catch (const std::exception &e) {
        return kv__error(&bc->base, KV_EBACKEND, "boost-ipc %s: %s", what, e.what());
    }
}

int bip_get(kv_conn *c, const void *key, size_t klen, kv_buf *val) {
    BipConn *bc = conn_of(c);
    return guarded(bc, "get", [&] {
        Hold h(bc);
        auto it = bc->map->find(view(key, klen), KeyHash(), KeyEq());
        if (it == bc->map->end())
            return static_cast<int>(KV_ENOTFOUND);
        return kv__buf_set(val, it->second.data(), it->second.size());
    });
}

/* Inserts or replaces, the mutex held. A replaced value reuses its memory when it fits. */
void put(BipConn *bc, std::string_view k, std::string_view v) {
    Map &m = *bc->map;
    auto it = m.find(k, KeyHash(), KeyEq());
    if (it != m.end()) {
        it->second.assign(v.data(), v.size());
        return;
    }
    CharAlloc a(bc->seg->get_segment_manager());
    m.emplace(ShmString(k.data(), k.size(), a), ShmString(v.data(), v.size(), a));
}

int bip_set(kv_conn *c, const void *key, size_t klen, const void *val, size_t vlen) {
    BipConn *bc = conn_of(c);
    return guarded(bc, "set", [&] {
        Hold h(bc);
        put(bc, view(key, klen), view(val, vlen));
        return 0;
    });
}

int bip_set_many(kv_conn *c, const kv_item *items, size_t n) {
    BipConn *bc = conn_of(c);
    return guarded(bc, "set_many", [&] {
        Hold h(bc);
        for (size_t i = 0; i < n; i++)
            put(bc, view(items[i].key, items[i].klen), view(items[i].val, items[i].vlen));
        return 0;
    });
}

int bip_del(kv_conn *c, const void *key, size_t klen) {
    BipConn *bc = conn_of(c);
    return guarded(bc, "del", [&] {
        Hold h(bc);
        auto it = bc->map->find(view(key, klen), KeyHash(), KeyEq());
        if (it == bc->map->end())
            return static_cast<int>(KV_ENOTFOUND);
        bc->map->erase(it);
        return 0;
    });
}

int bip_incr(kv_conn *c, const void *key, size_t klen, int64_t by, int64_t *result) {
    BipConn *bc = conn_of(c);
    return guarded(bc, "incr", [&] {
        Hold h(bc);
        Map &m = *bc->map;
        auto it = m.find(view(key, klen), KeyHash(), KeyEq());
        int64_t cur = 0;
        int rc = it == m.end() ? 0 : kv__parse_i64(it->second.data(), it->second.size(), &cur);
        if (rc < 0)
            return kv__error(c, rc, "boost-ipc: the value is %s",
                             rc == KV_ENOTNUM ? "not a decimal integer" : "out of range");
        if (kv__add_i64(cur, by, &cur) < 0)
            return kv__error(c, KV_EOVERFLOW, "boost-ipc: %lld + %lld overflows",
                             static_cast<long long>(cur), static_cast<long long>(by));
        char num[24];
        size_t n = kv__format_i64(cur, num);
        if (it != m.end())
            it->second.assign(num, n);
        else
            put(bc, view(key, klen), std::string_view(num, n));
        *result = cur;
        return 0;
    });
}

int bip_lock(kv_conn *c, double timeout) {
    BipConn *bc = conn_of(c);
    if (bc->locked)
        return KV_ELOCKED;
    return guarded(bc, "lock", [&] {
        bip::interprocess_mutex &mx = *bc->mutex;
        bool taken;
        if (timeout == 0) {
            taken = mx.try_lock();
        } else if (timeout < 0) {
            mx.lock();
            taken = true;
        } else {
            auto until = boost::posix_time::microsec_clock::universal_time() +
                         boost::posix_time::microseconds(static_cast<int64_t>(timeout * 1e6));
            taken = mx.timed_lock(until);
        }
        if (!taken)
            return timeout == 0 ? static_cast<int>(KV_EBUSY) : static_cast<int>(KV_ETIMEDOUT);
        bc->locked = true;
        return 0;
    });
}

int bip_unlock(kv_conn *c) {
    BipConn *bc = conn_of(c);
    if (!bc->locked)
        return KV_ENOTLOCKED;
    bc->locked = false;
    return guarded(bc, "unlock", [&] {
        bc->mutex->unlock();
        return 0;
    });
}

int bip_count(kv_conn *c, uint64_t *n) {
    BipConn *bc = conn_of(c);
    return guarded(bc, "count", [&] {
        Hold h(bc);
        *n = bc->map->size();
        return 0;
    });
}

int bip_clear(kv_conn *c) {
    BipConn *bc = conn_of(c);
    return guarded(bc, "clear", [&] {
        Hold h(bc);
        bc->map->clear();
        return 0;
    });
}

/* The walk holds the mutex throughout: one consistent view, and fn must not use this store. */
int bip_export(kv_conn *c, kv_entry_fn fn, void *ctx) {
    BipConn *bc = conn_of(c);
    return guarded(bc, "export", [&] {
        Hold h(bc);
        for (const Entry &e : *bc->map) {
            int rc = fn(ctx, e.first.data(), e.first.size(), e.second.data(), e.second.size());
            if (rc)
                return rc;
        }
        return 0;
    });
}

const char *bip_version(kv_conn *c) {
    (void)c;
    return "Boost.Interprocess " BOOST_LIB_VERSION;
}

int bip_close(kv_conn *c) {
    BipConn *bc = conn_of(c);
    if (bc->locked)
        bc->mutex->unlock();
    delete bc->seg;
    if (bc->unlink_at_close)
        bip::shared_memory_object::remove(bc->name->c_str());
    delete bc->name;
    delete bc;
    return 0;
}

const kv_methods bip_methods = {
    /* .version = */ KV_METHODS_VERSION,
    /* .name = */ "boost-ipc",
    /* .close = */ bip_close,
    /* .backend_version = */ bip_version,
    /* .get = */ bip_get,
    /* .set = */ bip_set,
    /* .del = */ bip_del,
    /* .incr = */ bip_incr,
    /* .lock = */ bip_lock,
    /* .unlock = */ bip_unlock,
    /* .count = */ bip_count,
    /* .clear = */ bip_clear,
    /* .export_all = */ bip_export,
    /* .get_many = */ nullptr, /* reads are local memory: the core's loop is as fast */
    /* .set_many = */ bip_set_many,
    /* .dump_native = */ nullptr,
    /* .load_native = */ nullptr,
    /* .del_many = */ nullptr, /* local memory: the core's loop of single deletes is as fast */
};

/* Opens (create: 0 any, 1 only, 2 attach) the segment `name`; *created says who made it. */
Segment *open_segment(const std::string &name, int create, uint64_t size, bool *created) {
    if (create != 2) {
        try {
            Segment *s = new Segment(bip::create_only, name.c_str(), size);
            *created = true;
            return s;
        } catch (const bip::interprocess_exception &e) {
            if (create == 1 || e.get_error_code() != bip::already_exists_error)
                throw;
        }
    }
    *created = false;
    return new Segment(bip::open_only, name.c_str());
}

int open_conn(kv__uri *u, const std::string &name, int create, int unlink, uint64_t size,
              kv_conn **out, char *err, size_t errlen) {
    bool created = false;
    Segment *seg = nullptr;
    try {
        seg = open_segment(name, create, size, &created);
        auto *mutex = seg->find_or_construct<bip::interprocess_mutex>(MUTEX_NAME)();
        auto *map = seg->find_or_construct<Map>(MAP_NAME)(
            64, KeyHash(), KeyEq(),
            bip::allocator<Entry, SegmentManager>(seg->get_segment_manager()));
        BipConn *bc = new BipConn();
        bc->base.methods = &bip_methods;
        bc->base.caps = KV_CAP_ATOMIC_INCR | KV_CAP_LOCK | KV_CAP_ENUMERATE | KV_CAP_SNAPSHOT |
                        KV_CAP_CROSS_PROCESS | KV_CAP_BATCH | KV_CAP_COUNT;
        bc->seg = seg;
        bc->mutex = mutex;
        bc->map = map;
        bc->name = new std::string(name);
        bc->unlink_at_close = unlink == 1 || (unlink == 0 && created);
        *out = &bc->base;
        return 0;
    } catch (const bip::interprocess_exception &e) {
        delete seg;
        if (created)
            bip::shared_memory_object::remove(name.c_str());
        int rc = e.get_error_code() == bip::already_exists_error ? -EEXIST
                 : e.get_error_code() == bip::not_found_error    ? -ENOENT
                                                                 : KV_EBACKEND;
        return kv__errbuf(err, errlen, rc, "boost-ipc: cannot open '%s': %s", u->text, e.what());
    } catch (const std::exception &e) {
        delete seg;
        if (created)
            bip::shared_memory_object::remove(name.c_str());
        return kv__errbuf(err, errlen, KV_EBACKEND, "boost-ipc: cannot open '%s': %s", u->text,
                          e.what());
    }
}

} // namespace

extern "C" int kv__boost_ipc_open(kv__uri *u, kv_conn **out, char *err, size_t errlen) {
    static const char *const creates[] = {"any", "only", "attach", nullptr};
    static const char *const unlinks[] = {"default", "on", "off", nullptr};
    uint64_t size;
    int create, unlink, rc;
    if ((rc = kv__uri_size(u, "size", DEFAULT_SIZE, &size, err, errlen)) < 0 ||
        (rc = kv__uri_choice(u, "create", creates, 0, &create, err, errlen)) < 0 ||
        (rc = kv__uri_choice(u, "unlink", unlinks, 0, &unlink, err, errlen)) < 0 ||
        (rc = kv__uri_check_unused(u, err, errlen)) < 0)
        return rc;
    if (size < 64ull * 1024)
        return kv__errbuf(err, errlen, KV_EURI, "'%s': size must be at least 64K", u->text);
    const char *body = u->body;
    if (std::strncmp(body, "//", 2) == 0)
        body += 2;
    if (std::strchr(body, '/') || std::strlen(body) > 200)
        return kv__errbuf(err, errlen, KV_EURI,
                          "'%s': the name is at most 200 bytes without '/' (boost-ipc:NAME)",
                          u->text);
    std::string name;
    try {
        if (body[0]) {
            name = body;
        } else {
            char hex[17];
            if ((rc = kv__random_hex(hex, 8)) < 0)
                return rc;
            name = std::string("kv-boost-ipc-") + hex;
            create = 1; /* a random name is this connection's alone */
        }
    } catch (const std::bad_alloc &) {
        return -ENOMEM;
    }
    return open_conn(u, name, create, unlink, size, out, err, errlen);
}

/* A segment in this host's shared memory; without a name it is this connection's alone. */
extern "C" void kv__boost_ipc_describe(kv__uri *u, kv_desc *d) {
    const char *body = u->body;
    if (std::strncmp(body, "//", 2) == 0)
        body += 2;
    d->on_host = true;
    d->unnamed = body[0] == '\0';
}
