#include "core/util/encoding.hpp"

#include <openssl/crypto.h>

namespace webhook {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Digit values by byte, -1 for a non-digit: one load per character (the
// request path decodes a signature header with every webhook).
constexpr auto kHexValues = [] {
    struct Table {
        signed char v[256];
    } t{};
    for (int c = 0; c < 256; c++) t.v[c] = -1;
    for (int c = '0'; c <= '9'; c++) t.v[c] = static_cast<signed char>(c - '0');
    for (int c = 'a'; c <= 'f'; c++) t.v[c] = static_cast<signed char>(c - 'a' + 10);
    for (int c = 'A'; c <= 'F'; c++) t.v[c] = static_cast<signed char>(c - 'A' + 10);
    return t;
}();

int hex_value(char c) { return kHexValues.v[static_cast<unsigned char>(c)]; }

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

}  // namespace

std::string hex_encode(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(kHexDigits[c >> 4]);
        out.push_back(kHexDigits[c & 0x0f]);
    }
    return out;
}

std::optional<size_t> hex_decode_into(std::string_view text, unsigned char* out, size_t cap) {
    if (text.size() % 2 != 0 || text.size() / 2 > cap) return std::nullopt;
    int bad = 0;   // no early exit: one pass, any invalid digit fails the whole
    for (size_t i = 0; i < text.size(); i += 2) {
        int hi = hex_value(text[i]);
        int lo = hex_value(text[i + 1]);
        bad |= hi | lo;
        out[i / 2] = static_cast<unsigned char>((static_cast<unsigned>(hi) << 4) | static_cast<unsigned>(lo));
    }
    if (bad < 0) return std::nullopt;
    return text.size() / 2;
}

std::optional<std::string> hex_decode(std::string_view text) {
    std::string out(text.size() / 2, '\0');
    auto n = hex_decode_into(text, reinterpret_cast<unsigned char*>(out.data()), out.size());
    if (!n) return std::nullopt;
    return out;
}

std::string base64_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    size_t i = 0;
    auto at = [&](size_t k) { return static_cast<unsigned char>(bytes[k]); };
    for (; i + 3 <= bytes.size(); i += 3) {
        unsigned v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
        out.push_back(kBase64Alphabet[(v >> 18) & 63]);
        out.push_back(kBase64Alphabet[(v >> 12) & 63]);
        out.push_back(kBase64Alphabet[(v >> 6) & 63]);
        out.push_back(kBase64Alphabet[v & 63]);
    }
    size_t rest = bytes.size() - i;
    if (rest > 0) {
        unsigned v = at(i) << 16;
        if (rest == 2) v |= at(i + 1) << 8;
        out.push_back(kBase64Alphabet[(v >> 18) & 63]);
        out.push_back(kBase64Alphabet[(v >> 12) & 63]);
        out.push_back(rest == 2 ? kBase64Alphabet[(v >> 6) & 63] : '=');
        out.push_back('=');
    }
    return out;
}

std::optional<size_t> base64_decode_into(std::string_view text, unsigned char* out, size_t cap) {
    size_t len = text.size();
    size_t pad = 0;
    while (len > 0 && text[len - 1] == '=' && pad < 2) {
        --len;
        ++pad;
    }
    if (pad > 0 && text.size() % 4 != 0) return std::nullopt;
    if (len % 4 == 1) return std::nullopt;
    if (len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1) > cap) return std::nullopt;

    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = base64_value(text[i]);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = static_cast<unsigned char>((acc >> bits) & 0xff);
        }
    }
    // Leftover bits must be zero: only one spelling per byte string.
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
    return n;
}

std::optional<std::string> base64_decode(std::string_view text) {
    std::string out(text.size() / 4 * 3 + 3, '\0');
    auto n = base64_decode_into(text, reinterpret_cast<unsigned char*>(out.data()), out.size());
    if (!n) return std::nullopt;
    out.resize(*n);
    return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace webhook
