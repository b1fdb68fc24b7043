#include <memcoro/value/compression.hpp>

#include "bounded_output.hpp"
#include "fastlz.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <limits>
#include <new>

#if defined(MEMCORO_HAVE_ZSTD)
#include <zstd.h>
#include <zstd_errors.h>
#endif
#if defined(MEMCORO_HAVE_LZ4)
#include <lz4.h>
#include <lz4hc.h>
#endif

namespace memcoro::value {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "memcoro.compression"; }

    std::string message(int ev) const override
    {
        switch (static_cast<compression_errc>(ev)) {
        case compression_errc::corrupt_data:
            return "compressed data is corrupt or truncated";
        case compression_errc::too_large:
            return "uncompressed value larger than the maximum size";
        case compression_errc::size_mismatch:
            return "compressed data does not decompress to its stated size";
        case compression_errc::size_unknown:
            return "the codec needs the uncompressed size";
        case compression_errc::codec_unavailable:
            return "compression codec not available in this build";
        case compression_errc::invalid_level:
            return "invalid compression level for the codec";
        }
        return "unknown compression error";
    }
};

using detail::bounded_output;

// The most bytes `n` bytes of a codec's data can decompress to, or SIZE_MAX where no useful
// bound exists. FastLZ and LZ4 add at most 255 bytes of output per byte of input (long match
// lengths); deflate at most 1032 (258-byte matches in under 2 bits each).
std::size_t ratio_bound(codec c, std::size_t n) noexcept
{
    constexpr std::size_t no_bound = std::numeric_limits<std::size_t>::max();
    std::size_t ratio = 0;
    std::size_t slack = 64;
    switch (c) {
    case codec::none:
        return n;
    case codec::fastlz:
    case codec::lz4:
        ratio = 256;
        break;
    case codec::zlib:
        ratio = 1040;
        break;
    case codec::zstd:
        return no_bound;
    }
    if (n > (no_bound - slack) / ratio)
        return no_bound;
    return n * ratio + slack;
}

// The room taken at the first write when the size is not known: enough for a typical ratio.
std::size_t first_room(std::size_t in_size) noexcept
{
    constexpr std::size_t minimum = 4096;
    return in_size > (std::numeric_limits<std::size_t>::max() / 4) ? in_size
                                                                   : std::max(minimum, in_size * 4);
}

std::error_code zlib_compress(std::string_view in, std::string& out, int level)
{
    if (level == default_level)
        level = Z_DEFAULT_COMPRESSION;
    else if (level < 0 || level > 9)
        return compression_errc::invalid_level;
    const std::size_t base = out.size();
    uLongf size = compressBound(static_cast<uLong>(in.size()));
    out.resize(base + size);
    const int rc =
        compress2(reinterpret_cast<Bytef*>(out.data() + base), &size,
                  reinterpret_cast<const Bytef*>(in.data()), static_cast<uLong>(in.size()), level);
    if (rc != Z_OK) {
        out.resize(base);
        throw std::bad_alloc();
    }
    out.resize(base + size);
    return {};
}

class inflater {
public:
    inflater()
    {
        if (inflateInit(&zs_) != Z_OK)
            throw std::bad_alloc();
    }
    ~inflater() { inflateEnd(&zs_); }
    inflater(const inflater&) = delete;
    inflater& operator=(const inflater&) = delete;

    std::error_code run(std::string_view in, bounded_output& out)
    {
        constexpr std::size_t max_chunk = UINT_MAX;
        std::size_t fed = 0;
        auto feed = [&] {
            if (zs_.avail_in == 0 && fed < in.size()) {
                const std::size_t k = std::min(in.size() - fed, max_chunk);
                zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + fed));
                zs_.avail_in = static_cast<uInt>(k);
                fed += k;
            }
        };
        for (;;) {
            feed();
            if (out.produced() == out.room() && !out.reserve(out.room() - out.produced() + 1)) {
                // No room left: the stream may still end here; one more byte is an excess.
                unsigned char spare = 0;
                zs_.next_out = &spare;
                zs_.avail_out = 1;
                const int rc = inflate(&zs_, Z_NO_FLUSH);
                if (zs_.avail_out == 0)
                    return out.over();
                if (rc == Z_STREAM_END)
                    return trailing(in, fed);
                if (rc == Z_MEM_ERROR)
                    throw std::bad_alloc();
                if (rc != Z_OK && rc != Z_BUF_ERROR)
                    return compression_errc::corrupt_data;
                if (zs_.avail_in == 0 && fed == in.size())
                    return compression_errc::corrupt_data;
                continue;
            }
            const std::size_t room = std::min(out.room() - out.produced(), max_chunk);
            zs_.next_out = reinterpret_cast<Bytef*>(out.data() + out.produced());
            zs_.avail_out = static_cast<uInt>(room);
            const int rc = inflate(&zs_, Z_NO_FLUSH);
            out.commit(room - zs_.avail_out);
            if (rc == Z_STREAM_END)
                return trailing(in, fed);
            if (rc == Z_MEM_ERROR)
                throw std::bad_alloc();
            if (rc != Z_OK && rc != Z_BUF_ERROR)
                return compression_errc::corrupt_data;
            if (zs_.avail_out != 0 && zs_.avail_in == 0 && fed == in.size())
                return compression_errc::corrupt_data; // truncated
        }
    }

private:
    // Bytes after the end of the stream are damage too.
    std::error_code trailing(std::string_view in, std::size_t fed) const
    {
        if (zs_.avail_in != 0 || fed != in.size())
            return compression_errc::corrupt_data;
        return {};
    }

    z_stream zs_{};
};

#if defined(MEMCORO_HAVE_ZSTD)
std::error_code zstd_compress(std::string_view in, std::string& out, int level)
{
    if (level == default_level)
        level = ZSTD_CLEVEL_DEFAULT;
    else if (level < 1 || level > ZSTD_maxCLevel())
        return compression_errc::invalid_level;
    const std::size_t base = out.size();
    out.resize(base + ZSTD_compressBound(in.size()));
    const std::size_t n =
        ZSTD_compress(out.data() + base, out.size() - base, in.data(), in.size(), level);
    if (ZSTD_isError(n)) {
        out.resize(base);
        throw std::bad_alloc();
    }
    out.resize(base + n);
    return {};
}

std::error_code zstd_decompress(std::string_view in, std::size_t expected_size,
                                std::size_t max_size, std::string& out)
{
    const unsigned long long stated = ZSTD_getFrameContentSize(in.data(), in.size());
    if (stated == ZSTD_CONTENTSIZE_ERROR)
        return compression_errc::corrupt_data;
    std::size_t size = expected_size;
    if (stated != ZSTD_CONTENTSIZE_UNKNOWN) {
        if (stated > max_size)
            return compression_errc::too_large;
        if (expected_size != unknown_size && stated != expected_size)
            return compression_errc::size_mismatch;
        size = static_cast<std::size_t>(stated);
    } else if (expected_size == unknown_size) {
        return compression_errc::size_unknown;
    }
    bounded_output o(out, size, compression_errc::size_mismatch, size);
    if (!o.reserve(size))
        return compression_errc::too_large;
    const std::size_t n = ZSTD_decompress(o.data(), size, in.data(), in.size());
    if (ZSTD_isError(n)) {
        o.rollback();
        if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
            return compression_errc::size_mismatch;
        if (ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation)
            throw std::bad_alloc();
        return compression_errc::corrupt_data;
    }
    if (n != size) {
        o.rollback();
        return compression_errc::size_mismatch;
    }
    o.commit(n);
    o.finish();
    return {};
}
#endif

#if defined(MEMCORO_HAVE_LZ4)
std::error_code lz4_compress(std::string_view in, std::string& out, int level)
{
    if (level != default_level && (level < 1 || level > LZ4HC_CLEVEL_MAX))
        return compression_errc::invalid_level;
    if (in.size() > LZ4_MAX_INPUT_SIZE)
        return compression_errc::too_large;
    const int n = static_cast<int>(in.size());
    const std::size_t base = out.size();
    const int bound = LZ4_compressBound(n);
    out.resize(base + static_cast<std::size_t>(bound));
    const int written = level > 1 ? LZ4_compress_HC(in.data(), out.data() + base, n, bound, level)
                                  : LZ4_compress_default(in.data(), out.data() + base, n, bound);
    if (written <= 0 && n > 0) {
        out.resize(base);
        throw std::bad_alloc();
    }
    out.resize(base + static_cast<std::size_t>(std::max(written, 0)));
    return {};
}

std::error_code lz4_decompress(std::string_view in, std::size_t size, std::string& out)
{
    if (size > static_cast<std::size_t>(INT_MAX))
        return compression_errc::too_large;
    if (in.size() > static_cast<std::size_t>(INT_MAX))
        return compression_errc::corrupt_data;
    bounded_output o(out, size, compression_errc::size_mismatch, size);
    if (!o.reserve(size))
        return compression_errc::too_large;
    const int n = LZ4_decompress_safe(in.data(), o.data(), static_cast<int>(in.size()),
                                      static_cast<int>(size));
    if (n < 0) {
        o.rollback();
        return compression_errc::corrupt_data;
    }
    if (static_cast<std::size_t>(n) != size) {
        o.rollback();
        return compression_errc::size_mismatch;
    }
    o.commit(size);
    o.finish();
    return {};
}
#endif

} // namespace

const std::error_category& compression_category() noexcept
{
    static const category instance;
    return instance;
}

std::string_view errc_name(compression_errc e) noexcept
{
    switch (e) {
    case compression_errc::corrupt_data:
        return "corrupt_data";
    case compression_errc::too_large:
        return "too_large";
    case compression_errc::size_mismatch:
        return "size_mismatch";
    case compression_errc::size_unknown:
        return "size_unknown";
    case compression_errc::codec_unavailable:
        return "codec_unavailable";
    case compression_errc::invalid_level:
        return "invalid_level";
    }
    return {};
}

bool codec_available(codec c) noexcept
{
    switch (c) {
    case codec::none:
    case codec::zlib:
    case codec::fastlz:
        return true;
    case codec::zstd:
#if defined(MEMCORO_HAVE_ZSTD)
        return true;
#else
        return false;
#endif
    case codec::lz4:
#if defined(MEMCORO_HAVE_LZ4)
        return true;
#else
        return false;
#endif
    }
    return false;
}

std::string_view codec_name(codec c) noexcept
{
    switch (c) {
    case codec::none:
        return "none";
    case codec::zlib:
        return "zlib";
    case codec::fastlz:
        return "fastlz";
    case codec::zstd:
        return "zstd";
    case codec::lz4:
        return "lz4";
    }
    return "unknown";
}

std::error_code compress(codec c, std::string_view in, std::string& out, int level)
{
    switch (c) {
    case codec::none:
        out.append(in);
        return {};
    case codec::zlib:
        return zlib_compress(in, out, level);
    case codec::fastlz: {
        if (level == default_level)
            level = in.size() < 65536 ? 1 : 2;
        else if (level != 1 && level != 2)
            return compression_errc::invalid_level;
        // Positions are kept in 32 bits.
        if (in.size() >= std::numeric_limits<std::uint32_t>::max())
            return compression_errc::too_large;
        const std::size_t base = out.size();
        try {
            detail::fastlz_compress(in, level, out);
        } catch (...) {
            out.resize(base);
            throw;
        }
        return {};
    }
    case codec::zstd:
#if defined(MEMCORO_HAVE_ZSTD)
        return zstd_compress(in, out, level);
#else
        break;
#endif
    case codec::lz4:
#if defined(MEMCORO_HAVE_LZ4)
        return lz4_compress(in, out, level);
#else
        break;
#endif
    }
    return compression_errc::codec_unavailable;
}

std::error_code decompress(codec c, std::string_view in, std::size_t expected_size,
                           std::size_t max_size, std::string& out)
{
    if (!codec_available(c))
        return compression_errc::codec_unavailable;
    const bool stated = expected_size != unknown_size;
    if (stated && expected_size > max_size)
        return compression_errc::too_large;
    if (stated && c != codec::none && expected_size > ratio_bound(c, in.size()))
        return compression_errc::corrupt_data;
    switch (c) {
    case codec::none:
        if (in.size() > max_size)
            return compression_errc::too_large;
        if (stated && in.size() != expected_size)
            return compression_errc::size_mismatch;
        out.append(in);
        return {};
    case codec::zstd:
#if defined(MEMCORO_HAVE_ZSTD)
        return zstd_decompress(in, expected_size, max_size, out);
#else
        break;
#endif
    case codec::lz4:
#if defined(MEMCORO_HAVE_LZ4)
        if (!stated)
            return compression_errc::size_unknown;
        return lz4_decompress(in, expected_size, out);
#else
        break;
#endif
    case codec::zlib:
    case codec::fastlz: {
        bounded_output o =
            stated
                ? bounded_output(out, expected_size, compression_errc::size_mismatch, expected_size)
                : bounded_output(out, max_size, compression_errc::too_large, first_room(in.size()));
        std::error_code ec;
        try {
            if (c == codec::zlib) {
                inflater z;
                ec = z.run(in, o);
            } else {
                ec = detail::fastlz_decompress(in, o);
            }
        } catch (...) {
            o.rollback();
            throw;
        }
        if (!ec && stated && o.produced() != expected_size)
            ec = compression_errc::size_mismatch;
        if (ec) {
            o.rollback();
            return ec;
        }
        o.finish();
        return {};
    }
    }
    return compression_errc::codec_unavailable;
}

} // namespace memcoro::value
