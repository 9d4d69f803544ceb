#include "core/deliver/events.hpp"

#include "core/util/hmac.hpp"
#include "core/util/rfc3339.hpp"

namespace webhook {

bool valid_event_type(std::string_view t) {
    if (t.empty() || t.size() > kMaxEventType || t.front() == '.' || t.back() == '.') return false;
    for (char c : t) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == ':';
        if (!ok) return false;
    }
    return true;
}

bool valid_event_filter(std::string_view f) {
    if (f == "*") return true;
    if (f.size() > 2 && f.substr(f.size() - 2) == ".*") return valid_event_type(f.substr(0, f.size() - 2));
    return valid_event_type(f);
}

bool reserved_event_type(std::string_view type) { return type.substr(0, 8) == "webhook."; }

bool event_matches(std::string_view f, std::string_view type) {
    if (f == "*") return !reserved_event_type(type);
    if (f.size() > 2 && f.substr(f.size() - 2) == ".*")
        return type.size() > f.size() - 1 && type.substr(0, f.size() - 1) == f.substr(0, f.size() - 1);
    return f == type;
}

bool any_filter_matches(std::string_view filters, std::string_view type) {
    while (!filters.empty()) {
        size_t end = filters.find('\n');
        if (event_matches(filters.substr(0, end), type)) return true;
        if (end == std::string_view::npos) break;
        filters.remove_prefix(end + 1);
    }
    return false;
}

std::string build_payload(std::string_view type, int64_t ts, std::string_view data_json) {
    std::string out = "{\"type\":\"";
    out.append(type);   // validated: no characters that need escaping
    out += "\",\"timestamp\":\"" + format_rfc3339(ts) + "\",\"data\":";
    out.append(data_json);
    out += "}";
    return out;
}

std::vector<std::string> random_ids(std::string_view prefix, size_t chars, size_t count) {
    static constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::vector<std::string> out(count);
    size_t need = chars * count;
    // 248 of 256 byte values are kept (4 * 62: a uniform draw); an eighth
    // more covers the rest but for bad luck, when more is drawn.
    std::string bytes = random_bytes(need + need / 8 + 16);
    size_t used = 0;
    for (std::string& id : out) {
        id.reserve(prefix.size() + chars);
        id.append(prefix);
        while (id.size() < prefix.size() + chars) {
            if (used == bytes.size()) {
                bytes = random_bytes(chars + 16);
                used = 0;
            }
            auto b = static_cast<unsigned char>(bytes[used++]);
            if (b < 248) id.push_back(kBase62[b % 62]);
        }
    }
    return out;
}

}  // namespace webhook
