// Helpers shared by the libFuzzer targets in fuzz/: property checks that abort
// (so libFuzzer keeps the input as a crash) and the line-based input format
// most targets read, which keeps the seed corpora readable.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

// A violated property: print what was expected, then abort.
#define FUZZ_CHECK(cond, ...)                                                          \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            std::fprintf(stderr, "\nFUZZ_CHECK failed at %s:%d: %s\n  ", __FILE__,      \
                         __LINE__, #cond);                                             \
            std::fprintf(stderr, __VA_ARGS__);                                         \
            std::fprintf(stderr, "\n");                                                \
            std::abort();                                                              \
        }                                                                              \
    } while (0)

namespace fuzz {

inline std::string_view as_view(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

// Splits at '\n' into at most `max` parts; the last part keeps the rest
// (newlines included), so a trailing "body" field can hold anything.
inline std::vector<std::string_view> split_lines(std::string_view s, size_t max) {
    std::vector<std::string_view> out;
    while (out.size() + 1 < max) {
        size_t nl = s.find('\n');
        if (nl == std::string_view::npos) break;
        out.push_back(s.substr(0, nl));
        s.remove_prefix(nl + 1);
    }
    out.push_back(s);
    return out;
}

// The i-th field, or "" when the input has fewer.
inline std::string_view field(const std::vector<std::string_view>& f, size_t i) {
    return i < f.size() ? f[i] : std::string_view();
}

// Unsigned decimal digits, at most `max_digits` of them; else `dflt`.
inline int64_t decimal_or(std::string_view s, size_t max_digits, int64_t dflt) {
    if (s.empty() || s.size() > max_digits) return dflt;
    int64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return dflt;
        v = v * 10 + (c - '0');
    }
    return v;
}

// Little-endian integer from up to 8 bytes (missing bytes are zero).
inline uint64_t le_bytes(std::string_view s) {
    uint64_t v = 0;
    for (size_t i = 0; i < s.size() && i < 8; i++) v |= static_cast<uint64_t>(static_cast<unsigned char>(s[i])) << (8 * i);
    return v;
}

// Strict UTF-8 (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF),
// the reference the JSON properties are checked against.
inline bool valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        size_t n;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; }
        else return false;
        if (i + n >= s.size()) return false;  // truncated sequence
        for (size_t k = 1; k <= n; k++) {
            unsigned char d = static_cast<unsigned char>(s[i + k]);
            if ((d & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (d & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

}  // namespace fuzz
