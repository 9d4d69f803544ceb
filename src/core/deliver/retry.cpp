#include "core/deliver/retry.hpp"

#include <algorithm>
#include <ctime>

namespace webhook {

std::optional<std::vector<int64_t>> parse_retries(std::string_view text) {
    std::vector<int64_t> out;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find(',', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view item = text.substr(start, end - start);
        if (item.empty()) return std::nullopt;
        size_t i = 0;
        int64_t v = 0;
        while (i < item.size() && item[i] >= '0' && item[i] <= '9') {
            v = v * 10 + (item[i] - '0');
            if (v > 100000000) return std::nullopt;
            i++;
        }
        if (i == 0) return std::nullopt;
        std::string_view unit = item.substr(i);
        int64_t ms;
        if (unit == "ms") ms = v;
        else if (unit == "s" || unit.empty()) ms = v * 1000;
        else if (unit == "m") ms = v * 60000;
        else if (unit == "h") ms = v * 3600000;
        else if (unit == "d") ms = v * 86400000;
        else return std::nullopt;
        out.push_back(ms);
        if (out.size() > 50) return std::nullopt;
        start = end + 1;
    }
    if (out.empty()) return std::nullopt;
    return out;
}

int64_t jittered(int64_t delay_ms, uint32_t random) {
    if (delay_ms <= 0) return 0;
    // factor in [0.8, 1.2]
    double f = 0.8 + 0.4 * (static_cast<double>(random) / 4294967295.0);
    int64_t out = static_cast<int64_t>(static_cast<double>(delay_ms) * f);
    // Doubles round: at the largest delays the product may land a few ms
    // outside the ±20 % the schedule promises.
    // floor(0.8 × delay) and floor(1.2 × delay), in integers (no overflow).
    int64_t low = delay_ms / 5 * 4 + delay_ms % 5 * 4 / 5, high = delay_ms / 5 * 6 + delay_ms % 5 * 6 / 5;
    return std::clamp(out, low, high);
}

int64_t apply_retry_after(int64_t scheduled_ms, int64_t retry_after_s) {
    int64_t want = retry_after_s * 1000;
    if (want < scheduled_ms) return scheduled_ms;
    if (want > 2 * scheduled_ms) return 2 * scheduled_ms;
    return want;
}

std::optional<int64_t> parse_retry_after(std::string_view v, int64_t now_s) {
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    if (v.empty() || v.size() > 64) return std::nullopt;
    bool digits = true;
    for (char c : v) digits &= c >= '0' && c <= '9';
    if (digits) {
        if (v.size() > 9) return std::nullopt;
        int64_t s = 0;
        for (char c : v) s = s * 10 + (c - '0');
        return s;
    }
    // HTTP-date: Sun, 06 Nov 1994 08:49:37 GMT
    struct tm tm {};
    std::string s(v);
    const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == nullptr || *end != '\0') return std::nullopt;   // a date followed by anything else is not one
    int64_t t = timegm(&tm);
    return t > now_s ? t - now_s : 0;
}

}  // namespace webhook
