#include "ngx/api/api.hpp"

#include "core/util/rfc3339.hpp"

namespace webhook::ngx {

std::string ApiRequest::arg(std::string_view name) const {
    ngx_str_t value;
    if (ngx_http_arg(r, (u_char*) name.data(), name.size(), &value) != NGX_OK) return {};
    std::string out(value.len, '\0');
    u_char* dst = (u_char*) out.data();
    u_char* src = value.data;
    ngx_unescape_uri(&dst, &src, value.len, NGX_UNESCAPE_URI);
    out.resize(dst - (u_char*) out.data());
    return out;
}

Outcome Outcome::error(const ApiError& e) {
    Outcome out;
    out.status = e.status;
    out.body = error_json(e.code, e.message);
    out.refused = e;
    return out;
}

Outcome Outcome::json(int status, json_t* doc) {
    Json owned(doc);
    Outcome out;
    out.status = status;
    out.body = json_dump(doc);
    return out;
}

Outcome apply_change(ApiRequest& q, const store::Mutation& m, std::optional<store::Mutation> undo,
                                   const char* what, int status, json_t* doc) {
    Json owned(doc);
    Outcome out;
    out.body = doc != nullptr ? json_dump(doc) : std::string();   // encoded before the change
    out.status = status;
    Submission change{m, nullptr, nullptr};
    if (undo) change.undo = std::make_shared<const store::Mutation>(std::move(*undo));
    out.change = std::move(change);
    out.what = what;
    return out;
}

std::variant<Page, ApiError> page_of(const ApiRequest& q, size_t dflt) {
    Page page{dflt, q.arg("after")};
    std::string l = q.arg("limit");
    if (!l.empty()) {
        ngx_int_t n = ngx_atoi((u_char*) l.data(), l.size());
        if (n < 1 || static_cast<size_t>(n) > kMaxPage)
            return invalid_request("limit must be an integer from 1 to " + std::to_string(kMaxPage));
        page.limit = static_cast<size_t>(n);
    }
    return page;
}

std::variant<std::string, ApiError> listed_tenant(const ApiRequest& q, const char* name, const char* what) {
    std::string tenant = q.arg(name);
    if (q.caller.admin) return tenant;
    if (tenant.empty() && q.caller.tenant() != "*") tenant = std::string(q.caller.tenant());
    if (!tenant.empty() && !q.caller.may_act_for(tenant))
        return ApiError{403, "forbidden_resource", std::string("the API key may not list ") + what};
    return tenant;
}

void json_time_ms(json_t* o, const char* key, int64_t ms) {
    if (ms <= 0) json_object_set_new(o, key, json_null());
    else json_set_str(o, key, format_rfc3339(ms / 1000));
}

void json_opt_str(json_t* o, const char* key, std::string_view s) {
    if (s.empty()) json_object_set_new(o, key, json_null());
    else json_set_str(o, key, s);
}

}  // namespace webhook::ngx
