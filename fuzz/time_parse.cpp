// Fuzz target: times and retry schedules (core/util/rfc3339.hpp, core/deliver/retry.hpp).
//
// Input: lines (up to 16). Line 1 may set "now" (unix seconds, digits);
// every line is tried as an RFC 3339 time (expires_at), a Retry-After value
// and a retries= schedule; its first 8 bytes also make a unix time and a
// 32-bit random value.
//
// Checks:
//  - parse_rfc3339 → t: when t is representable (1970 … 9999-12-31, what the
//    API lets in), format_rfc3339(t) is "YYYY-MM-DDTHH:MM:SSZ" and parses back
//    to t. Any t in that range formats and parses back to itself.
//  - parse_retry_after is ≥ 0, and a value of digits is those seconds.
//  - parse_retries gives 1..50 delays ≥ 0; jittered stays within ±20 % (and 0
//    for ≤ 0); apply_retry_after stays within [scheduled, 2×scheduled].
#include <cstdint>
#include <string>

#include "core/deliver/events.hpp"
#include "core/deliver/retry.hpp"
#include "core/deliver/signing.hpp"
#include "core/deliver/url_policy.hpp"
#include "core/store/records.hpp"
#include "core/keys/api_keys.hpp"
#include "core/util/rfc3339.hpp"
#include "core/util/text.hpp"
#include "fuzz_util.hpp"

using namespace webhook;

namespace {

constexpr int64_t kMaxTime = 253402300799;  // 9999-12-31T23:59:59Z

bool rfc3339_shape(const std::string& s) {
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (s.size() != 20) return false;
    for (size_t i = 0; i < 20; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i]) return false;
    }
    return true;
}

void check_format(int64_t t) {
    std::string s = format_rfc3339(t);
    FUZZ_CHECK(rfc3339_shape(s), "format_rfc3339(%lld) = \"%s\"", static_cast<long long>(t), s.c_str());
    auto back = parse_rfc3339(s);
    FUZZ_CHECK(back && *back == t, "\"%s\" parses to %lld, not %lld", s.c_str(),
               static_cast<long long>(back.value_or(-1)), static_cast<long long>(t));
}

void check_schedule(std::string_view line, int64_t now, uint32_t random) {
    auto r = parse_retries(line);
    std::optional<int64_t> retry_after = parse_retry_after(line, now);
    if (retry_after) FUZZ_CHECK(*retry_after >= 0, "negative Retry-After");
    std::string_view trimmed = line;
    while (!trimmed.empty() && trimmed.front() == ' ') trimmed.remove_prefix(1);
    while (!trimmed.empty() && trimmed.back() == ' ') trimmed.remove_suffix(1);
    int64_t digits = fuzz::decimal_or(trimmed, 9, -1);
    if (digits >= 0) FUZZ_CHECK(retry_after == digits, "Retry-After: %.*s", static_cast<int>(line.size()), line.data());
    if (!r) return;
    FUZZ_CHECK(!r->empty() && r->size() <= 50, "%zu delays", r->size());
    for (int64_t d : *r) {
        FUZZ_CHECK(d >= 0, "negative delay");
        int64_t j = jittered(d, random);
        // ±20 %, with a millisecond for the rounding.
        FUZZ_CHECK(j >= d * 8 / 10 - 1 && j <= d * 12 / 10 + 1, "jittered(%lld) = %lld", static_cast<long long>(d),
                   static_cast<long long>(j));
        FUZZ_CHECK(jittered(d, 0) <= jittered(d, 0xffffffffu), "jitter not monotonic");
        if (retry_after) {
            int64_t a = apply_retry_after(j, *retry_after);
            FUZZ_CHECK(a >= j && a <= 2 * j,
                       "apply_retry_after(%lld, %lld) = %lld", static_cast<long long>(j),
                       static_cast<long long>(*retry_after), static_cast<long long>(a));
        }
    }
    FUZZ_CHECK(jittered(-1, random) == 0 && jittered(0, random) == 0, "jitter of a non-positive delay");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto lines = fuzz::split_lines(fuzz::as_view(data, size), 16);
    int64_t now = fuzz::decimal_or(lines[0], 11, 1731705121);

    for (std::string_view line : lines) {
        if (auto t = parse_rfc3339(line)) {
            if (*t >= 0 && *t <= kMaxTime) check_format(*t);
            else (void) format_rfc3339(*t);  // out of range: must not crash
        }
        uint64_t raw = fuzz::le_bytes(line);
        check_format(static_cast<int64_t>(raw % static_cast<uint64_t>(kMaxTime + 1)));
        (void) format_rfc3339(static_cast<int64_t>(raw));
        uint32_t random = crc32c(line.data(), line.size());
        check_schedule(line, now, random);
    }
    return 0;
}
