#include "core/util/rfc3339.hpp"

#include <ctime>

namespace webhook {

namespace {

bool is_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

int to_int(std::string_view s) {
    int v = 0;
    for (char c : s) v = v * 10 + (c - '0');
    return v;
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

std::string format_rfc3339(int64_t t) {
    time_t tt = static_cast<time_t>(t);
    struct tm tm;
    // Out of gmtime's range (parse_key_request does not let such values in).
    if (gmtime_r(&tt, &tm) == nullptr) return t < 0 ? "0000-01-01T00:00:00Z" : "9999-12-31T23:59:59Z";
    char buf[32];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

namespace {

// YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM) → Unix seconds, and the fraction's
// milliseconds into *ms.
std::optional<int64_t> parse(std::string_view s, int* ms) {
    if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
        return std::nullopt;
    std::string_view Y = s.substr(0, 4), M = s.substr(5, 2), D = s.substr(8, 2), h = s.substr(11, 2),
                     m = s.substr(14, 2), sec = s.substr(17, 2);
    if (!is_digits(Y) || !is_digits(M) || !is_digits(D) || !is_digits(h) || !is_digits(m) || !is_digits(sec))
        return std::nullopt;
    int mon = to_int(M), day = to_int(D), hour = to_int(h), min = to_int(m), secs = to_int(sec);
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || secs > 60) return std::nullopt;
    int year = to_int(Y);
    bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    static constexpr int kMonthDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (day > kMonthDays[mon - 1] + (mon == 2 && leap)) return std::nullopt;
    size_t pos = 19;
    if (pos < s.size() && s[pos] == '.') {
        pos++;
        size_t start = pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') pos++;
        if (pos == start) return std::nullopt;
        for (size_t i = start; i < start + 3; i++) *ms = *ms * 10 + (i < pos ? s[i] - '0' : 0);
    }
    int64_t offset = 0;
    std::string_view zone = s.substr(pos);
    if (zone == "Z" || zone == "z") {
        offset = 0;
    } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' && is_digits(zone.substr(1, 2))
               && is_digits(zone.substr(4, 2)) && to_int(zone.substr(1, 2)) <= 23 && to_int(zone.substr(4, 2)) <= 59) {
        offset = (to_int(zone.substr(1, 2)) * 60 + to_int(zone.substr(4, 2))) * 60;
        if (zone[0] == '-') offset = -offset;
    } else {
        return std::nullopt;
    }
    int64_t days = days_from_civil(year, mon, day);
    return days * 86400 + hour * 3600 + min * 60 + secs - offset;
}

}  // namespace

std::optional<int64_t> parse_rfc3339(std::string_view s) {
    int ms = 0;
    return parse(s, &ms);
}

std::optional<int64_t> parse_rfc3339_ms(std::string_view s) {
    int ms = 0;
    std::optional<int64_t> t = parse(s, &ms);
    if (!t) return std::nullopt;
    return *t * 1000 + ms;
}

std::string format_rfc3339_ms(int64_t unix_ms) {
    int64_t sec = unix_ms / 1000, ms = unix_ms % 1000;
    if (ms < 0) {   // floor: -1 ms is 1969-12-31T23:59:59.999Z
        sec--;
        ms += 1000;
    }
    std::string out = format_rfc3339(sec);
    if (ms == 0 || out.size() != 20) return out;
    char frac[5] = {'.', static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                    static_cast<char>('0' + ms % 10), '\0'};
    out.insert(19, frac);
    return out;
}

}  // namespace webhook
