// What the routes of the management API (docs/api.md) share: the
// request as a route sees it, its answer, and the helpers every route uses.
// The routing, authentication and body reading are the module's
// (ngx_http_webhook_api_module.cpp); the routes are in key_routes.cpp and
// webhook_routes.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/util/api_error.hpp"
#include "core/util/json.hpp"
#include "ngx/keys/presented_key.hpp"
#include "ngx/store/mutation_log.hpp"

namespace webhook::ngx {

constexpr size_t kMaxApiBody = 64 * 1024;
// An event's envelope around its data (type, timestamp): POST /events may
// take max_payload plus this.
constexpr size_t kEventEnvelope = 4096;

struct Caller {
    bool admin = false;
    KeyAuth key{};   // when not admin
    // The tenant a non-admin caller acts for: its key's resource ("*": any).
    std::string_view tenant() const { return sv(key.resource); }
    bool may_act_for(std::string_view tenant_name) const {
        return admin || resource_allows(tenant(), tenant_name);
    }
};

struct ApiRequest {
    ngx_http_request_t* r;
    Zone* zone;
    std::vector<std::string_view> params;   // the {…} parts of the route
    Caller caller;
    Json body;                               // parsed JSON body, when the route takes one

    // Query argument, URL-decoded; empty when absent.
    std::string arg(std::string_view name) const;
};

// What a route answers. With a change, the answer goes out once the change
// is applied and durable (log_submit); a change refused then is answered
// by on_refused (by default: refusal(), naming `what`), one the store
// cannot take by 503 store_unavailable: the answer and the state agree.
struct Outcome {
    int status = 200;
    std::string body;      // JSON text; empty for 204
    std::optional<Submission> change;
    const char* what = "change";
    std::function<Outcome(StateResult)> on_refused;
    std::optional<ApiError> refused;   // an error answer: what the log line says

    static Outcome error(const ApiError& e);
    static Outcome json(int status, json_t* doc);   // takes ownership of doc
};

// A route's change: m (live) answered `status` with `doc` (taken; nullptr:
// no body) once it is applied and durable; `undo` restores what it replaced.
Outcome apply_change(ApiRequest& q, const store::Mutation& m, std::optional<store::Mutation> undo, const char* what,
                     int status, json_t* doc);

// Pagination of a list route: ?limit= (1 to kMaxPage, default `dflt`) and
// ?after=ID.
constexpr size_t kMaxPage = 1000;
struct Page {
    size_t limit;
    std::string after;
};
std::variant<Page, ApiError> page_of(const ApiRequest& q, size_t dflt);

// The tenant a list shows (?NAME=): the caller's own unless it may see
// others'; empty: every tenant (admin, or a key for "*").
std::variant<std::string, ApiError> listed_tenant(const ApiRequest& q, const char* name, const char* what);

// Members the answers share: null when empty (or 0), else the string or
// the RFC 3339 time.
void json_opt_str(json_t* o, const char* key, std::string_view s);
void json_time_ms(json_t* o, const char* key, int64_t ms);

// Whether a location (its loc_conf array) has a webhook_api of its own:
// webhook_console's api= defaults to the one such location of its server.
bool has_webhook_api(void** loc_conf);

}  // namespace webhook::ngx
