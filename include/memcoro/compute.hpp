#pragma once
/// \file
/// What client::async_get_or_compute takes and returns: read a key, or compute its value once
/// (a lease held off the other processes, singleflight within this one) and cache it.

#include <memcoro/detail/asio_compat.hpp>
#include <memcoro/types.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace memcoro {

/// The computation of a missing or stale value: a coroutine returning the value to cache. An
/// exception it throws reaches every caller waiting for it, and releases the lease.
using compute_fn = std::function<asio::awaitable<std::string>()>;

/// Where the value async_get_or_compute returned came from.
enum class value_source : std::uint8_t {
    cache,    ///< the cached value
    computed, ///< this call computed it (and wrote it back when it held the lease)
    stale,    ///< an invalidated value, served while another caller recomputes it
    shared,   ///< a concurrent call in this process got it (singleflight): this one waited
};

/// The enumerator's name: "cache", "computed", "stale" or "shared".
const char* to_string(value_source s) noexcept;

/// What async_get_or_compute does on a miss, and how its callers wait. See docs/leases.md.
struct compute_options {
    /// The computed value's expiry.
    ttl expiry{0};
    /// The computed value's client flags.
    std::uint32_t flags = 0;
    /// The lease (meta protocol): a miss leaves a placeholder living this long, which makes
    /// the first caller anywhere the one to compute, and the others wait. It bounds how long
    /// they wait for a winner that died. Zero: no lease (every process that misses computes).
    ttl lease{30};
    /// Early recache (meta protocol): one caller recomputes an item that has less than this
    /// left, while the others keep reading it. Zero: never early.
    ttl recache{0};
    /// The caller that wins an early recache returns the current value at once and the
    /// refresh runs in the background, on the caller's executor: the computation, then the
    /// write on the CAS it read (a failed computation or write leaves the item as it is,
    /// valid until its own expiry). The computation then outlives the call: it must own what
    /// it uses (capture by value). False: the winner computes, writes, and returns the new
    /// value, as on a miss.
    bool refresh_in_background = false;
    /// How long a caller that lost the lease waits for the winner's value, polling with a
    /// backoff from `first_backoff`, doubling up to `max_backoff`.
    std::chrono::milliseconds max_wait{2000};
    /// The first pause between two polls of that wait.
    std::chrono::milliseconds first_backoff{5};
    /// The longest pause between two polls of that wait.
    std::chrono::milliseconds max_backoff{200};
    /// When the wait is over without a value: compute it here (true; not written back, the
    /// lease's winner does that), or fail with errc::timeout (false).
    bool compute_after_wait = true;
    /// Return an invalidated (stale) value at once while another caller recomputes it (true),
    /// or wait for the fresh one as on a miss (false).
    bool serve_stale = true;
    /// The computation's time limit (zero: none): past it, it is cancelled, the lease is
    /// released, and the call fails with errc::timeout.
    std::chrono::milliseconds compute_timeout{0};
    /// Concurrent calls for one key on this client share one read and one computation.
    bool singleflight = true;
};

/// The value async_get_or_compute returned.
struct computed_value {
    std::string value;                         ///< the value
    std::uint32_t flags = 0;                   ///< its client flags
    value_source source = value_source::cache; ///< where it came from
};

} // namespace memcoro
