#include "core/deliver/trace_context.hpp"

#include <vector>

namespace webhook {

namespace {

bool lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// n lower-case hex digits at s[at]; *zero tells whether all are 0.
bool hex_run(std::string_view s, size_t at, size_t n, bool* zero) {
    *zero = true;
    for (size_t i = at; i < at + n; i++) {
        if (!lower_hex(s[i])) return false;
        if (s[i] != '0') *zero = false;
    }
    return true;
}

int hex_value(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

bool ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && ows(s.back())) s.remove_suffix(1);
    return s;
}

bool lcalpha(char c) { return c >= 'a' && c <= 'z'; }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool key_char(char c) { return lcalpha(c) || digit(c) || c == '_' || c == '-' || c == '*' || c == '/'; }

bool key_rest(std::string_view s) {
    for (char c : s.substr(1))
        if (!key_char(c)) return false;
    return true;
}

// simple-key = lcalpha 0*255(keychar)
// multi-tenant-key = tenant-id "@" system-id
// tenant-id = (lcalpha / DIGIT) 0*240(keychar), system-id = lcalpha 0*13(keychar)
bool valid_key(std::string_view key) {
    size_t at = key.find('@');
    if (at == std::string_view::npos)
        return !key.empty() && key.size() <= 256 && lcalpha(key[0]) && key_rest(key);
    std::string_view tenant = key.substr(0, at), system = key.substr(at + 1);
    return !tenant.empty() && tenant.size() <= 241 && (lcalpha(tenant[0]) || digit(tenant[0])) && key_rest(tenant) &&
           !system.empty() && system.size() <= 14 && lcalpha(system[0]) && key_rest(system);
}

// value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr;
// nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
bool valid_value(std::string_view v) {
    if (v.empty() || v.size() > 256 || v.back() == ' ') return false;
    for (char c : v)
        if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
    return true;
}

}  // namespace

std::optional<std::string> parse_traceparent(std::string_view value, const char** why) {
    std::string_view s = trim_ows(value);
    auto fail = [why](const char* reason) -> std::optional<std::string> {
        *why = reason;
        return std::nullopt;
    };
    if (s.size() < kTraceparentSize) return fail("shorter than the 55 characters of version-traceid-parentid-flags");
    bool zero = false;
    if (!hex_run(s, 0, 2, &zero) || s[2] != '-') return fail("the version is not 2 lower-case hex digits and a \"-\"");
    if (s[0] == 'f' && s[1] == 'f') return fail("version ff is invalid");
    if (!hex_run(s, 3, 32, &zero) || s[35] != '-')
        return fail("the trace-id is not 32 lower-case hex digits and a \"-\"");
    if (zero) return fail("the trace-id is all zeros");
    if (!hex_run(s, 36, 16, &zero) || s[52] != '-')
        return fail("the parent-id is not 16 lower-case hex digits and a \"-\"");
    if (zero) return fail("the parent-id is all zeros");
    if (!hex_run(s, 53, 2, &zero)) return fail("the trace-flags are not 2 lower-case hex digits");
    bool v00 = s[0] == '0' && s[1] == '0';
    if (v00 && s.size() != kTraceparentSize) return fail("longer than the 55 characters of version 00");
    if (!v00 && s.size() > kTraceparentSize && s[kTraceparentSize] != '-')
        return fail("the trace-flags of a later version are not followed by the end or a \"-\"");
    std::string out = "00";
    out.append(s.substr(2, kTraceparentSize - 4));
    if (v00) {
        out.append(s.substr(53, 2));
    } else {
        // Of a later version's flags only the sampled bit is known.
        out.append(hex_value(s[54]) & 1 ? "01" : "00");
    }
    return out;
}

bool traceparent_kept_form(std::string_view s) {
    const char* why = nullptr;
    auto kept = s.size() == kTraceparentSize ? parse_traceparent(s, &why) : std::nullopt;
    return kept && *kept == s;
}

std::optional<std::string> parse_tracestate(std::string_view combined, const char** why) {
    auto fail = [why](const char* reason) -> std::optional<std::string> {
        *why = reason;
        return std::nullopt;
    };
    if (combined.size() > kMaxTracestate) return fail("longer than 512 bytes");
    std::vector<std::string_view> keys;
    std::string out;
    out.reserve(combined.size());
    size_t start = 0;
    while (start <= combined.size()) {
        size_t comma = combined.find(',', start);
        if (comma == std::string_view::npos) comma = combined.size();
        std::string_view member = trim_ows(combined.substr(start, comma - start));
        start = comma + 1;
        if (member.empty()) continue;   // empty list members are allowed
        if (keys.size() == kMaxTracestateMembers) return fail("more than 32 list members");
        size_t eq = member.find('=');
        if (eq == std::string_view::npos) return fail("a list member is not key=value");
        std::string_view key = member.substr(0, eq);
        if (!valid_key(key)) return fail("a key is not of the specification's grammar");
        if (!valid_value(member.substr(eq + 1))) return fail("a value is not of the specification's grammar");
        for (std::string_view k : keys)
            if (k == key) return fail("a key appears twice");
        keys.push_back(key);
        if (!out.empty()) out.push_back(',');
        out.append(member);
    }
    return out;
}

}  // namespace webhook
