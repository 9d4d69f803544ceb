#include "ngx/keys/presented_key.hpp"

#include "core/keys/api_keys.hpp"
#include "core/util/hmac.hpp"

namespace webhook::ngx {

std::optional<std::string_view> presented_key(ngx_http_request_t* r) {
    if (ngx_table_elt_t* h = r->headers_in.authorization) {
        std::string_view v = sv(h->value);
        if (v.size() > 7 && ngx_strncasecmp((u_char*) v.data(), (u_char*) "Bearer ", 7) == 0) {
            v.remove_prefix(7);
            while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
            return v;
        }
    }
    if (ngx_table_elt_t* h = find_header(r, "X-API-Key")) return sv(h->value);
    return std::nullopt;
}

KeyCheck check_key(Zone* zone, ngx_http_request_t* r, std::string_view presented, KeyAuth* out) {
    if (!plausible_key(presented)) return KeyCheck::invalid;
    Sha256 hash;   // streaming on the stack: no allocation per check
    hash.update(presented);
    if (!key_by_hash(zone, hash.finish(), r->pool, out)) return KeyCheck::invalid;
    if (out->expires_at != 0 && out->expires_at <= ngx_time()) return KeyCheck::invalid;
    return KeyCheck::ok;
}

}  // namespace webhook::ngx
