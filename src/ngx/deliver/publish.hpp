// The one way an event is published, by the API (POST /events, /test) and
// by webhook_emit alike: the event.put record is built and applied (its
// deliveries held), and the caller makes the change durable with
// log_commit; once it is, its deliveries are released to the dispatchers.
// A delivery replayed through the API goes the same way.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/util/api_error.hpp"
#include "ngx/deliver/delivery_conf.hpp"
#include "ngx/store/mutation_log.hpp"

namespace webhook::ngx {

// Filled by name (its members grow: positional braces would shift them).
struct PublishRequest {
    std::string_view tenant, type;
    std::string_view data_json;         // JSON text
    std::string_view idempotency_key;   // empty: none
    std::string_view only_endpoint;     // non-empty: to this endpoint only (a test)
    std::string_view except_endpoint;   // non-empty: never to this one (the subject of an operational event)
    // The publisher's trace context, as request_trace_context gives it
    // (empty: none; a tracestate goes only with a traceparent).
    std::string_view traceparent = {}, tracestate = {};
};

// A request's W3C trace context (its traceparent and tracestate headers) in
// the form an event keeps it (core/deliver/trace_context): empty strings
// when it has none. An invalid traceparent is ignored (a participant
// restarts the trace, it does not refuse the request), and so is the
// tracestate with it; an invalid tracestate is dropped alone. With `log`,
// either is said at info, with the reason and the size, never the value.
struct TraceContext {
    std::string traceparent, tracestate;
};
TraceContext request_trace_context(ngx_http_request_t* r, bool log);

struct Published {
    std::string event_id;
    size_t deliveries = 0;
    // The change to submit; none when an earlier publish with the same
    // Idempotency-Key is the answer.
    std::optional<Submission> change;
};

std::variant<Published, ApiError> publish(DeliveryConf& conf, const PublishRequest& req);

// The answer of an earlier publish with this Idempotency-Key (one that won
// a race: a submitted publish refused as duplicate answers with it).
std::optional<Published> published_before(Zone* zone, std::string_view tenant, std::string_view idempotency_key);

// Puts a delivery back in the queue (POST /deliveries/{id}/replay); its
// previous status is what the undo restores.
Submission replay_delivery(Zone* zone, const std::string& delivery_id, const std::string& event_id,
                           const std::string& status);

// Puts the listed failed deliveries of an endpoint back in the queue (POST
// /webhooks/{id}/recover, recover_plan's choice) as one change; its undo
// fails again those it re-queued, and they go once it is durable.
Submission recover_deliveries(Zone* zone, const std::string& endpoint_id, int64_t since_ms, int64_t until_ms,
                              std::vector<std::string> deliveries);

}  // namespace webhook::ngx
