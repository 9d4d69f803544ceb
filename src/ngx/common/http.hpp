// What every glue file needs around a request: strings, the clock, headers,
// replies, directive values, variables, and C++ objects owned by a pool.
#pragma once

#include <cstdint>
#include <new>
#include <string>
#include <string_view>

#include "ngx/common/module.hpp"

namespace webhook::ngx {

inline std::string_view sv(const ngx_str_t& s) { return {reinterpret_cast<const char*>(s.data), s.len}; }
inline ngx_str_t str_of(std::string_view s) { return {s.size(), (u_char*) s.data()}; }

// The event loop's cached clock, in milliseconds.
inline int64_t now_ms() {
    ngx_time_t* tp = ngx_timeofday();
    return static_cast<int64_t>(tp->sec) * 1000 + static_cast<int64_t>(tp->msec);
}

// Calls fn(ngx_table_elt_t*) for each header of a list (request or response)
// until it returns false; headers with hash 0 are deleted ones.
template <class Fn>
void for_each_header(ngx_list_t* headers, Fn&& fn) {
    for (ngx_list_part_t* part = &headers->part; part != nullptr; part = part->next) {
        auto* h = static_cast<ngx_table_elt_t*>(part->elts);
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (h[i].hash != 0 && !fn(&h[i])) return;
        }
    }
}

// First request header with this name (case-insensitive), or nullptr.
ngx_table_elt_t* find_header(ngx_http_request_t* r, std::string_view name);

// Replies {"error":{"code":…,"message":…}} with the given status, discarding
// an unread body, and finalizes the request. Returns what a phase handler
// returns after finishing the request itself (NGX_DONE).
// Adds a response header. key and value must outlive the request (literals,
// configuration, or copied into r->pool with pool_copy).
ngx_table_elt_t* add_header(ngx_http_request_t* r, std::string_view key, std::string_view value);
// A copy of s in the pool (nullptr data when out of memory).
ngx_str_t pool_copy(ngx_pool_t* pool, std::string_view s);

ngx_int_t send_error(ngx_http_request_t* r, ngx_uint_t status, std::string_view code, std::string_view message);

// Replies with a body (Cache-Control: no-store) and returns what
// ngx_http_output_filter returned, for ngx_http_finalize_request. Statuses
// NGINX has no reason phrase for get theirs here (status_line).
ngx_int_t send_body(ngx_http_request_t* r, ngx_uint_t status, std::string_view content_type, std::string_view body);
// A JSON body, ending with exactly one newline (as every JSON body the
// module sends).
ngx_int_t send_json(ngx_http_request_t* r, ngx_uint_t status, std::string_view body);

// The status line NGINX lacks for a status the module sends ("422
// Unprocessable Content"); empty when NGINX has its own.
std::string_view status_line(ngx_uint_t status);

// True when the request's error_log writes messages of this level (the test
// ngx_log_error makes): text built only for the log is built only then, so a
// client flooding refused requests costs no allocations nobody reads.
inline bool logs_at(ngx_http_request_t* r, ngx_uint_t level) { return r->connection->log->log_level >= level; }

// The one log line of a refusal, the same for every directive:
// "<who> refused: <status> <code>: <reason>", at info (the client's doing),
// or at error for a 5xx (the server's); for a refusal only reported (the
// request goes on: webhook_verify mode=report)
// "<who> report: would refuse <status> <code>: <reason>". The reason is cut
// short and its control bytes escaped; callers never pass a secret, a key or
// a signature. refusal_logged(): whether that line is written, for a caller
// that builds the reason only then.
enum class Refusal { refused, reported };
inline ngx_uint_t refusal_level(ngx_uint_t status) { return status >= 500 ? NGX_LOG_ERR : NGX_LOG_INFO; }
inline bool refusal_logged(ngx_http_request_t* r, ngx_uint_t status) { return logs_at(r, refusal_level(status)); }
void log_refusal(ngx_http_request_t* r, const char* who, ngx_uint_t status, std::string_view code,
                 std::string_view reason, Refusal how = Refusal::refused);

// A directive value that may contain variables; nullptr on error (logged).
ngx_http_complex_value_t* compile_complex(ngx_conf_t* cf, ngx_str_t text);
// Its value for a request; an empty string when it cannot be evaluated.
ngx_str_t complex_value(ngx_http_request_t* r, ngx_http_complex_value_t* cv);

// Registers a module's variables (a list ending with ngx_http_null_variable).
ngx_int_t add_variables(ngx_conf_t* cf, const ngx_http_variable_t* variables);

// A C++ object owned by a pool: destroyed when the pool is.
template <class T>
void destroy(void* p) {
    static_cast<T*>(p)->~T();
}
template <class T>
T* pool_new(ngx_pool_t* pool) {
    ngx_pool_cleanup_t* cln = ngx_pool_cleanup_add(pool, sizeof(T));
    if (cln == nullptr) return nullptr;
    T* obj = new (cln->data) T();
    cln->handler = callback<destroy<T>>;
    return obj;
}

}  // namespace webhook::ngx
