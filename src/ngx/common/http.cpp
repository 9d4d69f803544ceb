
#include "ngx/common/http.hpp"

#include "core/util/json.hpp"

namespace webhook::ngx {

ngx_table_elt_t* find_header(ngx_http_request_t* r, std::string_view name) {
    ngx_table_elt_t* found = nullptr;
    for_each_header(&r->headers_in.headers, [&](ngx_table_elt_t* h) {
        if (h->key.len != name.size() || ngx_strncasecmp(h->key.data, (u_char*) name.data(), name.size()) != 0)
            return true;
        found = h;
        return false;
    });
    return found;
}

ngx_table_elt_t* add_header(ngx_http_request_t* r, std::string_view key, std::string_view value) {
    auto* h = static_cast<ngx_table_elt_t*>(ngx_list_push(&r->headers_out.headers));
    if (h == nullptr) return nullptr;
    h->hash = 1;
    h->key = str_of(key);
    h->value = str_of(value);
    h->lowcase_key = nullptr;
#if defined(nginx_version) && nginx_version >= 1023000
    h->next = nullptr;
#endif
    return h;
}

ngx_str_t pool_copy(ngx_pool_t* pool, std::string_view s) {
    auto* data = static_cast<u_char*>(ngx_pnalloc(pool, s.size() ? s.size() : 1));
    if (data == nullptr) return {0, nullptr};
    ngx_memcpy(data, s.data(), s.size());
    return {s.size(), data};
}

namespace {

// Replies with body then tail: body is copied into the request's pool (the
// output may go out after the caller's string is gone); tail is static text,
// sent from where it is (the newline after a JSON body: no copy of a large
// body to append one byte).
ngx_int_t send_parts(ngx_http_request_t* r, ngx_uint_t status, std::string_view content_type, std::string_view body,
                     std::string_view tail) {
    auto* data = static_cast<u_char*>(ngx_pnalloc(r->pool, body.size()));
    auto* b = static_cast<ngx_buf_t*>(ngx_calloc_buf(r->pool));
    auto* t = static_cast<ngx_buf_t*>(ngx_calloc_buf(r->pool));
    if (data == nullptr || b == nullptr || t == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    ngx_memcpy(data, body.data(), body.size());
    b->pos = data;
    b->last = data + body.size();
    b->memory = body.empty() ? 0 : 1;
    t->pos = (u_char*) tail.data();
    t->last = t->pos + tail.size();
    t->memory = 1;
    ngx_buf_t* last = tail.empty() ? b : t;
    last->last_buf = (r == r->main) ? 1 : 0;
    last->last_in_chain = 1;

    size_t length = body.size() + tail.size();
    r->headers_out.status = status;
    std::string_view line = status_line(status);
    r->headers_out.status_line = {line.size(), (u_char*) line.data()};
    r->headers_out.content_length_n = length;
    if (length != 0) {
        r->headers_out.content_type = {content_type.size(), (u_char*) content_type.data()};
        r->headers_out.content_type_len = content_type.size();
        r->headers_out.content_type_lowcase = nullptr;
    }
    if (add_header(r, "Cache-Control", "no-store") == nullptr) return NGX_ERROR;

    ngx_int_t rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) return rc;
    ngx_chain_t tail_link = {t, nullptr};
    ngx_chain_t out = {b, tail.empty() ? nullptr : &tail_link};
    return ngx_http_output_filter(r, &out);
}

}  // namespace

ngx_int_t send_body(ngx_http_request_t* r, ngx_uint_t status, std::string_view content_type, std::string_view body) {
    return send_parts(r, status, content_type, body, {});
}

ngx_int_t send_json(ngx_http_request_t* r, ngx_uint_t status, std::string_view body) {
    bool ends = body.empty() || body.back() == '\n';
    return send_parts(r, status, "application/json", body, ends ? std::string_view() : std::string_view("\n"));
}

std::string_view status_line(ngx_uint_t status) {
    // NGINX (1.22 to 1.27) has no line for 422 and sends "HTTP/1.1 422 ";
    // the phrase is RFC 9110's. Every other status the module sends (200,
    // 201, 202, 204, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 503,
    // 507) has NGINX's own.
    switch (status) {
    case 422: return "422 Unprocessable Content";
    default: return {};
    }
}

void log_refusal(ngx_http_request_t* r, const char* who, ngx_uint_t status, std::string_view code,
                 std::string_view reason, Refusal how) {
    ngx_uint_t level = refusal_level(status);
    if (!logs_at(r, level)) return;   // before copying the reason
    constexpr size_t kMaxReason = 300;
    static const char hex[] = "0123456789abcdef";
    std::string clean;
    for (unsigned char c : reason.substr(0, kMaxReason)) {
        if (c >= 0x20 && c != 0x7f) {
            clean.push_back(static_cast<char>(c));
        } else {
            clean.append("\\x").push_back(hex[c >> 4]);
            clean.push_back(hex[c & 0xf]);
        }
    }
    if (reason.size() > kMaxReason) clean += "...";
    const char* verb = how == Refusal::reported ? "report: would refuse" : "refused:";
    ngx_log_error(level, r->connection->log, 0, "%s %s %ui %*s: %*s", who, verb, status, code.size(), code.data(),
                  clean.size(), clean.data());
}

ngx_int_t send_error(ngx_http_request_t* r, ngx_uint_t status, std::string_view code, std::string_view message) {
    std::string body = error_json(code, message);

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }
    ngx_http_finalize_request(r, send_json(r, status, body));
    return NGX_DONE;
}

ngx_http_complex_value_t* compile_complex(ngx_conf_t* cf, ngx_str_t text) {
    auto* cv = static_cast<ngx_http_complex_value_t*>(ngx_pcalloc(cf->pool, sizeof(ngx_http_complex_value_t)));
    auto* value = static_cast<ngx_str_t*>(ngx_palloc(cf->pool, sizeof(ngx_str_t)));
    if (cv == nullptr || value == nullptr) return nullptr;
    *value = text;
    ngx_http_compile_complex_value_t ccv{};
    ccv.cf = cf;
    ccv.value = value;
    ccv.complex_value = cv;
    return ngx_http_compile_complex_value(&ccv) == NGX_OK ? cv : nullptr;
}

ngx_int_t add_variables(ngx_conf_t* cf, const ngx_http_variable_t* variables) {
    for (const ngx_http_variable_t* v = variables; v->name.len; v++) {
        ngx_str_t name = v->name;
        ngx_http_variable_t* var = ngx_http_add_variable(cf, &name, v->flags);
        if (var == nullptr) return NGX_ERROR;
        var->get_handler = v->get_handler;
        var->data = v->data;
    }
    return NGX_OK;
}

ngx_str_t complex_value(ngx_http_request_t* r, ngx_http_complex_value_t* cv) {
    ngx_str_t out = ngx_null_string;
    if (cv != nullptr && ngx_http_complex_value(r, cv, &out) != NGX_OK) out.len = 0;
    return out;
}

}  // namespace webhook::ngx
