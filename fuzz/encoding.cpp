// Fuzz target: hex and base64 (core/util/encoding.hpp), which decode signatures
// and whsec_ secrets from the network and the configuration.
//
// Input: any bytes, used as text to decode and as bytes to encode.
//
// Checks:
//  - decode(encode(b)) == b for both encodings; the encodings have the
//    expected length and alphabet.
//  - The decoders are strict (one spelling per byte string): when decode(s)
//    succeeds, encode(decode(s)) is s itself (lower-cased for hex; with the
//    padding added when s left it out, for base64).
//  - constant_time_equal agrees with ==.
#include <cstdint>
#include <string>

#include "core/util/encoding.hpp"
#include "core/verify/signature.hpp"
#include "fuzz_util.hpp"

using namespace webhook;

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c += 32;
    return out;
}

bool b64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

void check_bytes(std::string_view b) {
    std::string h = hex_encode(b);
    FUZZ_CHECK(h.size() == 2 * b.size(), "hex length");
    for (char c : h) FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'), "hex alphabet");
    auto hb = hex_decode(h);
    FUZZ_CHECK(hb && *hb == b, "hex round trip");

    std::string e = base64_encode(b);
    FUZZ_CHECK(e.size() == (b.size() + 2) / 3 * 4, "base64 length");
    size_t pad = 0;
    while (pad < e.size() && e[e.size() - 1 - pad] == '=') pad++;
    FUZZ_CHECK(pad <= 2, "base64 padding");
    for (size_t i = 0; i + pad < e.size(); i++) FUZZ_CHECK(b64_char(e[i]), "base64 alphabet");
    auto eb = base64_decode(e);
    FUZZ_CHECK(eb && *eb == b, "base64 round trip");
    // Unpadded, as some senders write it.
    auto ub = base64_decode(std::string_view(e).substr(0, e.size() - pad));
    FUZZ_CHECK(ub && *ub == b, "unpadded base64 round trip");
}

void check_text(std::string_view s) {
    if (auto d = hex_decode(s)) {
        FUZZ_CHECK(d->size() * 2 == s.size(), "hex decode length");
        FUZZ_CHECK(hex_encode(*d) == lower(s), "hex is not strict");
    }
    if (auto d = base64_decode(s)) {
        std::string padded(s);
        while (padded.size() % 4) padded.push_back('=');
        FUZZ_CHECK(base64_encode(*d) == padded, "base64 is not strict: %zu chars", s.size());
    }
    // The whsec_ secrets of Standard Webhooks go through base64_decode.
    if (auto k = derive_key(Scheme::standard, std::string("whsec_").append(s))) {
        FUZZ_CHECK(!k->empty(), "empty whsec_ key");
        FUZZ_CHECK(base64_decode(s) == k, "whsec_ key differs from base64_decode");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in = fuzz::as_view(data, size);
    check_bytes(in);
    check_text(in);
    // The two halves: prefixes and suffixes of valid text, and comparisons.
    std::string_view a = in.substr(0, size / 2), b = in.substr(size / 2);
    check_text(a);
    check_text(b);
    FUZZ_CHECK(constant_time_equal(a, b) == (a == b), "constant_time_equal(a, b)");
    FUZZ_CHECK(constant_time_equal(in, in), "constant_time_equal(x, x)");
    FUZZ_CHECK(constant_time_equal(a, a.substr(0, a.size())), "constant_time_equal(x, copy)");
    return 0;
}
