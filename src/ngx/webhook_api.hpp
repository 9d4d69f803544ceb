// The management REST API framework (SPEC §5): routing relative to the
// location, authentication, bounded JSON bodies, the error model, and
// journaling a mutation before its answer goes out.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/util/api_error.hpp"
#include "core/util/json.hpp"
#include "ngx/webhook_auth.hpp"

namespace webhook::ngx {

constexpr size_t kMaxApiBody = 64 * 1024;

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
    size_t max_body = kMaxApiBody;

    // Query argument, URL-decoded; empty when absent.
    std::string arg(std::string_view name) const;
};

// What a route answers. With a record, the mutation (already applied with
// sequence `seq`) is journaled first and the answer sent once it is durable.
// When the journal cannot take it, `undo` (a mutation restoring what the
// change replaced) is applied and journaled instead, and the caller gets
// 503 store_unavailable: the answer and the state always agree.
struct Outcome {
    int status = 200;
    std::string body;      // JSON text; empty for 204
    uint64_t seq = 0;
    std::string record;
    std::string undo;
    std::string event_id;  // a published event, released once its record is durable

    static Outcome error(const ApiError& e);
    static Outcome json(int status, json_t* doc);   // takes ownership of doc
};

Outcome state_error(StateResult rc, Zone* zone, const char* what);

// A route's change: applies the mutation and, when it is accepted, answers
// `status` with `doc` (taken; nullptr: no body) once its record is durable.
// `undo` (taken) reverts it should the journal fail.
Outcome apply_mutation(ApiRequest& q, const json_t* mutation, bool enforce_limits, const char* what, int status,
                       json_t* doc, json_t* undo);

// Routes of webhook_routes.cpp (subscriptions, events, deliveries).
Outcome create_webhook(ApiRequest& q);
Outcome list_webhooks(ApiRequest& q);
Outcome get_webhook(ApiRequest& q);
Outcome update_webhook(ApiRequest& q);
Outcome delete_webhook(ApiRequest& q);
Outcome rotate_webhook_secret(ApiRequest& q);
Outcome test_webhook(ApiRequest& q);
Outcome list_deliveries(ApiRequest& q);
Outcome get_delivery(ApiRequest& q);
Outcome replay_delivery(ApiRequest& q);
Outcome publish_events(ApiRequest& q);
Outcome list_event_types(ApiRequest& q);

}  // namespace webhook::ngx
