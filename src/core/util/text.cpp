#include "core/util/text.hpp"

#include "core/util/hmac.hpp"

namespace webhook {

namespace {
constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
}  // namespace

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    size_t start = 0;
    while (start <= s.size()) {
        size_t end = s.find(sep, start);
        if (end == std::string_view::npos) end = s.size();
        parts.push_back(s.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool ascii_iequals(std::string_view a, std::string_view lower) {
    if (a.size() != lower.size()) return false;
    for (size_t i = 0; i < a.size(); i++) {
        char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
        if (x != lower[i]) return false;
    }
    return true;
}

bool header_safe(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return false;
    return true;
}

std::string random_base62(size_t n) {
    std::string out;
    out.reserve(n);
    while (out.size() < n) {
        for (unsigned char b : random_bytes(n)) {
            if (b >= 248) continue;  // 248 = 4 * 62: keeps the draw uniform
            out.push_back(kBase62[b % 62]);
            if (out.size() == n) break;
        }
    }
    return out;
}

}  // namespace webhook
