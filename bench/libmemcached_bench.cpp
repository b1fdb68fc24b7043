// libmemcached_bench: the named scenarios (bench/common.hpp) with libmemcached in its best
// setup: a thread with its own memcached_st per concurrent caller, TCP_NODELAY, multi-gets
// with memcached_mget + memcached_fetch_result into a reused result, single gets the same way
// (--get-api get: memcached_get), and set_pipe100 as one thread sending batches of 100
// buffered requests (MEMCACHED_BEHAVIOR_BUFFER_REQUESTS) in one write. Blocking I/O: NO_BLOCK
// (--no-block) makes the same syscalls here and costs a few percent more instructions.
// libmemcached's default distribution (modula, one-at-a-time hash; --ketama: weighted ketama
// with MD5, as memcoro's default ring). The data is preloaded through this client itself, so
// its placement is the one it reads from.

#include "common.hpp"

#include <libmemcached/memcached.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace bench;

/// A memcached_st on the first `nservers` servers with a result to fetch into.
class handle {
public:
    handle(const options& o, unsigned nservers, bool buffered)
        : m_(memcached_create(nullptr))
    {
        if (!m_)
            throw std::bad_alloc();
        for (unsigned i = 0; i < nservers; ++i)
            memcached_server_add(m_, o.servers[i].host.c_str(),
                                 static_cast<in_port_t>(o.servers[i].port));
        memcached_behavior_set(m_, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
        if (o.lm_no_block)
            memcached_behavior_set(m_, MEMCACHED_BEHAVIOR_NO_BLOCK, 1);
        if (o.lm_ketama)
            memcached_behavior_set(m_, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
        if (buffered)
            memcached_behavior_set(m_, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1);
        memcached_result_create(m_, &result_);
    }
    ~handle()
    {
        memcached_result_free(&result_);
        memcached_free(m_);
    }
    handle(const handle&) = delete;
    handle& operator=(const handle&) = delete;

    memcached_st* get() const noexcept { return m_; }
    memcached_result_st* result() noexcept { return &result_; }
    std::string error(memcached_return_t rc) const { return memcached_strerror(m_, rc); }

private:
    memcached_st* m_;
    memcached_result_st result_;
};

/// Key pointers and lengths of the whole key space, for memcached_mget.
struct key_arrays {
    std::vector<const char*> ptrs;
    std::vector<std::size_t> lens;
    explicit key_arrays(const keyspace& ks)
    {
        for (const auto& k : ks.keys()) {
            ptrs.push_back(k.data());
            lens.push_back(k.size());
        }
    }
};

std::string_view key_of(const memcached_result_st* r)
{
    return {memcached_result_key_value(r), memcached_result_key_length(r)};
}

std::string_view value_of(const memcached_result_st* r)
{
    return {memcached_result_value(r), memcached_result_length(r)};
}

bool end_of_fetch(memcached_return_t rc)
{
    return rc == MEMCACHED_END || rc == MEMCACHED_NOTFOUND;
}

// ---- one op each ---------------------------------------------------------------------------

void get_fetch(handle& h, const keyspace& ks, std::size_t i, tally& t)
{
    const std::string& key = ks.key(i);
    const char* kp = key.data();
    const std::size_t kl = key.size();
    memcached_return_t rc = memcached_mget(h.get(), &kp, &kl, 1);
    if (rc != MEMCACHED_SUCCESS) {
        t.error("mget " + key + ": " + h.error(rc));
        return;
    }
    memcached_result_st* r = memcached_fetch_result(h.get(), h.result(), &rc);
    if (!r) {
        if (end_of_fetch(rc))
            t.mismatch("miss for " + key);
        else
            t.error("fetch " + key + ": " + h.error(rc));
        return;
    }
    if (key_of(r) != key || value_of(r) != ks.value(i) || memcached_result_flags(r) != 0)
        t.mismatch("wrong item for " + key);
    while ((r = memcached_fetch_result(h.get(), h.result(), &rc)))
        t.mismatch("extra value for " + key);
    if (!end_of_fetch(rc))
        t.error("fetch " + key + ": " + h.error(rc));
}

void get_plain(handle& h, const keyspace& ks, std::size_t i, tally& t)
{
    const std::string& key = ks.key(i);
    std::size_t len = 0;
    std::uint32_t flags = 0;
    memcached_return_t rc = MEMCACHED_SUCCESS;
    char* v = memcached_get(h.get(), key.data(), key.size(), &len, &flags, &rc);
    if (!v) {
        if (rc == MEMCACHED_NOTFOUND)
            t.mismatch("miss for " + key);
        else
            t.error("get " + key + ": " + h.error(rc));
        return;
    }
    if (std::string_view(v, len) != ks.value(i) || flags != 0)
        t.mismatch("wrong value for " + key);
    std::free(v);
}

void do_get(const options& o, handle& h, const keyspace& ks, std::size_t i, tally& t)
{
    if (o.lm_get_api == "get")
        get_plain(h, ks, i, t);
    else
        get_fetch(h, ks, i, t);
}

void do_set(handle& h, const keyspace& ks, std::size_t i, tally& t)
{
    const std::string& key = ks.key(i);
    const std::string& value = ks.value(i);
    const memcached_return_t rc =
        memcached_set(h.get(), key.data(), key.size(), value.data(), value.size(), 0, 0);
    if (rc != MEMCACHED_SUCCESS)
        t.error("set " + key + ": " + h.error(rc));
}

void do_mget(handle& h, const keyspace& ks, const key_arrays& ka, std::size_t first, std::size_t n,
             multi_checker& check, tally& t)
{
    memcached_return_t rc =
        memcached_mget(h.get(), ka.ptrs.data() + first, ka.lens.data() + first, n);
    if (rc != MEMCACHED_SUCCESS) {
        t.error("mget: " + h.error(rc));
        return;
    }
    check.reset(first, n);
    bool flags_ok = true;
    memcached_result_st* r;
    while ((r = memcached_fetch_result(h.get(), h.result(), &rc))) {
        check.add(ks, key_of(r), value_of(r));
        flags_ok = flags_ok && memcached_result_flags(r) == 0;
    }
    if (!end_of_fetch(rc))
        t.error("fetch: " + h.error(rc));
    if (!check.complete() || !flags_ok)
        t.mismatch("multi-get from " + ks.key(first) + ": " + std::to_string(check.count()) +
                   " of " + std::to_string(n) + " right");
}

/// `batch - 1` buffered sets and a replace (not buffered): libmemcached sends the batch in one
/// write, and reading the replace's reply first reads (and drops) the sets' replies. Buffered
/// sets' replies are not handed to the caller by libmemcached; only a fatal error shows.
void do_set_batch(handle& h, const keyspace& ks, rng& r, unsigned batch, tally& t)
{
    for (unsigned j = 0; j + 1 < batch; ++j) {
        const std::size_t i = r.below(ks.size());
        const std::string& key = ks.key(i);
        const std::string& value = ks.value(i);
        const memcached_return_t rc =
            memcached_set(h.get(), key.data(), key.size(), value.data(), value.size(), 0, 0);
        if (rc != MEMCACHED_BUFFERED)
            t.error("buffered set " + key + ": " + h.error(rc));
    }
    const std::size_t i = r.below(ks.size());
    const std::string& key = ks.key(i);
    const std::string& value = ks.value(i);
    const memcached_return_t rc =
        memcached_replace(h.get(), key.data(), key.size(), value.data(), value.size(), 0, 0);
    if (rc != MEMCACHED_SUCCESS)
        t.error("replace " + key + " (end of batch): " + h.error(rc));
}

// ---- callers -------------------------------------------------------------------------------

void caller(const scenario& sc, const options& o, const keyspace& ks, const key_arrays& ka,
            run_control& ctl, tally& t, std::uint64_t seed)
{
    handle h(o, sc.servers, sc.k == kind::set_pipe);
    rng r(seed);
    multi_checker check(sc.keys_per_op);
    while (ctl.running()) {
        const auto t0 = bench_clock::now();
        switch (sc.k) {
        case kind::get:
            do_get(o, h, ks, r.below(o.hot_keys ? o.hot_keys : ks.size()), t);
            break;
        case kind::set:
            do_set(h, ks, r.below(ks.size()), t);
            break;
        case kind::mget: {
            const std::size_t n = sc.keys_per_op;
            do_mget(h, ks, ka, r.below(ks.size() - n + 1), n, check, t);
            break;
        }
        case kind::mixed: {
            const bool is_set = r.next() % 10 == 0;
            const std::size_t i = r.below(ks.size());
            if (is_set)
                do_set(h, ks, i, t);
            else
                do_get(o, h, ks, i, t);
            break;
        }
        case kind::set_pipe:
            do_set_batch(h, ks, r, sc.callers, t);
            t.record(ctl, t0, sc.callers); // every set of the batch waited for all of it
            continue;
        }
        t.record(ctl, t0);
    }
}

/// Sets every key through a memcached_st on `nservers` servers: batches of 100 buffered sets,
/// each ended by a get of its last key (which drains the replies and checks the value).
bool preload(const options& o, const keyspace& ks, unsigned nservers)
{
    handle h(o, nservers, true);
    tally t;
    auto check_last = [&](std::size_t i) { get_fetch(h, ks, i, t); };
    for (std::size_t i = 0; i < ks.size(); ++i) {
        const std::string& key = ks.key(i);
        const std::string& value = ks.value(i);
        const memcached_return_t rc =
            memcached_set(h.get(), key.data(), key.size(), value.data(), value.size(), 0, 0);
        if (rc != MEMCACHED_BUFFERED && rc != MEMCACHED_SUCCESS)
            t.error("preload set " + key + ": " + h.error(rc));
        if (i % 100 == 99 || i + 1 == ks.size()) {
            memcached_flush_buffers(h.get());
            check_last(i);
        }
        if (t.errors || !t.verified)
            break;
    }
    if (t.errors || !t.verified) {
        std::cerr << "libmemcached_bench: preload (" << nservers
                  << " servers) failed: " << t.first_problem << '\n';
        return false;
    }
    return true;
}

bool run_scenario(const scenario& sc, std::size_t sc_index, const options& o, const keyspace& ks,
                  const key_arrays& ka)
{
    // set_pipe: one thread keeps `callers` requests in flight; otherwise a thread per caller.
    const unsigned nthreads = sc.k == kind::set_pipe ? 1 : sc.callers;
    run_control ctl(o);
    std::vector<tally> tallies(nthreads);
    std::vector<std::thread> threads;
    threads.reserve(nthreads);
    for (unsigned j = 0; j < nthreads; ++j) {
        const std::uint64_t seed = o.seed * 1'000'003 + sc_index * 10'007 + j;
        threads.emplace_back([&, j, seed] {
            try {
                caller(sc, o, ks, ka, ctl, tallies[j], seed);
            } catch (const std::exception& e) {
                tallies[j].error(e.what());
            }
        });
    }
    ctl.wait();
    for (auto& th : threads)
        th.join();
    tally all;
    for (const auto& t : tallies)
        all.merge(t);
    return report("libmemcached", sc, o, nthreads, sc.callers, ctl, all);
}

} // namespace

int main(int argc, char** argv)
{
    const options o = parse_options(argc, argv, "libmemcached");
    const keyspace ks(o.keys, o.value_size);
    const key_arrays ka(ks);

    bool need_one = false, need_four = false;
    for (const auto* sc : o.selected)
        (sc->servers == 1 ? need_one : need_four) = true;
    const bool have_four = o.servers.size() >= 4;
    if (need_four && !have_four)
        std::cerr << "libmemcached_bench: fewer than 4 servers, skipping the 4-server scenarios\n";

    bool ok = true;
    if (need_one)
        ok = preload(o, ks, 1) && ok;
    if (need_four && have_four)
        ok = preload(o, ks, 4) && ok;
    if (ok) {
        for (const auto* sc : o.selected) {
            if (sc->servers > o.servers.size())
                continue;
            const auto index = static_cast<std::size_t>(sc - std::begin(scenarios));
            ok = run_scenario(*sc, index, o, ks, ka) && ok;
        }
    }
    return ok ? 0 : 1;
}
