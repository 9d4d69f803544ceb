// Routes of the management API for outbound webhooks (docs/api.md):
// /webhooks…, /deliveries…, /events, /event-types.

#include <algorithm>

#include "core/deliver/events.hpp"
#include "core/deliver/signing.hpp"
#include "core/keys/api_keys.hpp"
#include "core/util/rfc3339.hpp"
#include "core/util/text.hpp"
#include "ngx/api/webhook_routes.hpp"
#include "ngx/deliver/deliver_store.hpp"
#include "ngx/deliver/delivery_conf.hpp"
#include "ngx/deliver/operational.hpp"
#include "ngx/deliver/publish.hpp"

namespace webhook::ngx {

namespace {

// --- how the API shows endpoints and deliveries ---------------------------------------

json_t* endpoint_json(const EndpointInfo& e) {
    json_t* o = json_object();
    json_set_str(o, "id", e.id);
    json_set_str(o, "tenant", e.tenant);
    json_set_str(o, "url", e.url);
    json_opt_str(o, "name", e.name);
    json_opt_str(o, "description", e.description);
    json_t* events = json_array();
    for (auto& f : e.events) json_array_append_new(events, json_stringn(f.data(), f.size()));
    json_object_set_new(o, "events", events);
    json_object_set_new(o, "timeout", json_integer(e.timeout_ms / 1000));
    json_object_set_new(o, "enabled", json_boolean(e.enabled));
    json_opt_str(o, "disabled_reason", e.disabled_reason);
    // How deliveries are signed; an Ed25519 endpoint's public key is no
    // secret: shown any time, with the previous one while both sign.
    json_set_str(o, "signing", signing_name(signing_of(e.secret)));
    if (auto pk = endpoint_public_key(e.secret)) json_set_str(o, "public_key", *pk);
    if (!e.old_secret.empty() && e.old_secret_until > ngx_time()) {
        if (auto pk = endpoint_public_key(e.old_secret)) json_set_str(o, "previous_public_key", *pk);
        json_set_str(o, "previous_secret_expires_at", format_rfc3339(e.old_secret_until));
    }
    json_opt_str(o, "last_error", e.last_error);
    json_time_ms(o, "last_error_at", e.last_error_at);
    json_set_str(o, "created_at", format_rfc3339(e.created_at));
    json_set_str(o, "updated_at", format_rfc3339(e.updated_at));
    return o;
}

json_t* delivery_json(const DeliveryInfo& d, bool detail) {
    json_t* o = json_object();
    json_set_str(o, "id", d.id);
    json_set_str(o, "event_id", d.event_id);
    json_set_str(o, "event", d.event);
    json_set_str(o, "endpoint_id", d.endpoint_id);
    json_set_str(o, "status", d.status);
    json_object_set_new(o, "attempts", json_integer(d.attempts));
    json_object_set_new(o, "response_status", d.last_status ? json_integer(d.last_status) : json_null());
    json_object_set_new(o, "response_time_ms", d.attempts ? json_integer(d.last_time_ms) : json_null());
    json_opt_str(o, "error", d.last_error);
    json_time_ms(o, "created_at", d.created_at);
    json_time_ms(o, "next_attempt_at", d.next_attempt_at);
    if (detail) {
        Json payload = json_parse(d.payload, nullptr);
        json_object_set_new(o, "payload", payload ? payload.release() : json_stringn(d.payload.data(), d.payload.size()));
        json_opt_str(o, "traceparent", d.traceparent);
        json_opt_str(o, "tracestate", d.tracestate);
        json_object_set_new(o, "attempt_log", store::attempt_log_numbered(d.history, d.attempts).release());
    }
    return o;
}

constexpr size_t kMaxName = 200;
constexpr size_t kDeliveriesPage = 50;
constexpr size_t kMaxDescription = 1000;
constexpr size_t kMaxSecret = 256;
constexpr int64_t kRotationOverlap = 24 * 3600;
constexpr size_t kMaxIdempotencyKey = 255;

const ApiError kNoWebhook{404, "not_found", "no such webhook"};

// Validation defaults when no webhook_delivery serves the zone.
const DeliveryConf& delivery_of(Zone* zone) {
    static const DeliveryConf defaults;
    return zone->delivery ? *zone->delivery : defaults;
}

// A string field: absent (nullopt, no error), or checked.
std::optional<std::string> text_field(const json_t* body, const char* name, size_t max, bool single_line,
                                      std::optional<ApiError>* err) {
    json_t* v = json_object_get(body, name);
    if (v == nullptr || json_is_null(v)) return std::nullopt;
    if (!json_is_string(v)) {
        *err = invalid_request(std::string(name) + " must be a string");
        return std::nullopt;
    }
    std::string_view s = json_sv(v);
    if (s.size() > max) {
        *err = invalid_request(std::string(name) + " is longer than " + std::to_string(max) + " bytes");
        return std::nullopt;
    }
    if (single_line && !header_safe(s)) {
        *err = invalid_request(std::string(name) + " contains control characters");
        return std::nullopt;
    }
    return std::string(s);
}

// "signing" of POST and PATCH: nullopt when absent.
std::optional<Signing> signing_field(const json_t* body, std::optional<ApiError>* err) {
    json_t* v = json_object_get(body, "signing");
    if (v == nullptr || json_is_null(v)) return std::nullopt;
    auto kind = json_is_string(v) ? signing_from_name(json_sv(v)) : std::nullopt;
    if (!kind) *err = invalid_request("signing must be \"hmac\" or \"ed25519\"");
    return kind;
}

// Ed25519 endpoints sign with webhook-signature v1a: there is no Ed25519
// form of a single-header HMAC (webhook_sign hmac).
std::optional<ApiError> check_signing_supported(Signing kind) {
    if (kind == Signing::ed25519 && !sign_conf().standard)
        return invalid_request("signing: ed25519 needs webhook_sign standard (this server signs with webhook_sign hmac)");
    return std::nullopt;
}

// A new secret of the kind, the current one signing beside it until the
// overlap ends (rotate-secret, and PATCH to another kind). The answer shows
// the new HMAC secret (once), or the new public key.
void rotate_into(EndpointInfo* e, Signing kind, json_t* answer) {
    e->old_secret = e->secret;
    e->old_secret_until = ngx_time() + kRotationOverlap;
    e->secret = generate_endpoint_secret(kind);
    e->updated_at = ngx_time();
    if (kind == Signing::hmac) json_set_str(answer, "secret", e->secret);
    json_set_str(answer, "previous_secret_expires_at", format_rfc3339(e->old_secret_until));
}

// Once an endpoint's enabled changed through the API: the operational event.
std::function<void()> announce_enabled(DeliveryConf& conf, const EndpointInfo& e) {
    return [&conf, id = e.id, tenant = e.tenant, name = e.name, url = e.url, enabled = e.enabled] {
        EndpointFacts facts{id, tenant, name, url};
        if (enabled) publish_endpoint_enabled(conf, facts);
        else publish_endpoint_disabled(conf, facts, "disabled through the API");
    };
}

// The fields POST and PATCH share, checked into an endpoint.
std::optional<ApiError> apply_fields(ApiRequest& q, const json_t* body, EndpointInfo* e, bool create) {
    std::optional<ApiError> err;
    const DeliveryConf& conf = delivery_of(q.zone);

    json_t* url = json_object_get(body, "url");
    if (url != nullptr || create) {
        if (!json_is_string(url)) return invalid_request("url is required and must be a string");
        if (auto bad = check_endpoint_url(conf, json_sv(url))) return bad;
        e->url = std::string(json_sv(url));
    }
    json_t* events = json_object_get(body, "events");
    if (events != nullptr || create) {
        if (!json_is_array(events) || json_array_size(events) == 0 || json_array_size(events) > kMaxFilters)
            return invalid_request("events must be a non-empty array of at most " + std::to_string(kMaxFilters) + " event types");
        e->events.clear();
        size_t i;
        json_t* f;
        json_array_foreach(events, i, f) {
            if (!json_is_string(f) || !valid_event_filter(json_sv(f)))
                return invalid_request("events: each entry is an event type, \"*\" or a prefix such as \"room.*\"");
            if (!event_type_known(json_sv(f)))
                return unprocessable("unknown_event_type",
                                     "events: \"" + std::string(json_sv(f)) + "\" is not in the event catalog");
            e->events.emplace_back(json_sv(f));
        }
    }
    if (auto v = text_field(body, "name", kMaxName, true, &err)) e->name = *v;
    if (err) return err;
    if (auto v = text_field(body, "description", kMaxDescription, false, &err)) e->description = *v;
    if (err) return err;
    json_t* timeout = json_object_get(body, "timeout");
    if (timeout != nullptr && !json_is_null(timeout)) {
        if (!json_is_integer(timeout) || json_integer_value(timeout) < 1 || json_integer_value(timeout) > 30)
            return invalid_request("timeout must be an integer number of seconds from 1 to 30");
        e->timeout_ms = json_integer_value(timeout) * 1000;
    }
    json_t* enabled = json_object_get(body, "enabled");
    if (enabled != nullptr) {
        if (!json_is_boolean(enabled)) return invalid_request("enabled must be true or false");
        e->enabled = json_is_true(enabled);
        if (e->enabled) e->disabled_reason.clear();
        else if (e->disabled_reason.empty()) e->disabled_reason = "disabled through the API";
    }
    return std::nullopt;
}

// Applies an endpoint mutation, answering with `doc`. `before` is the
// endpoint as it was (nullptr: a new one): the revision the change expects,
// and what a change the journal cannot take goes back to.
Outcome put_endpoint(ApiRequest& q, const EndpointInfo& e, const EndpointInfo* before, int status, Json doc) {
    store::EndpointPut m = endpoint_record(e);
    if (before != nullptr) m.expect_revision = before->revision;
    store::Mutation undo = before != nullptr ? store::Mutation(endpoint_record(*before)) : store::EndpointDel{e.id};
    return apply_change(q, m, std::move(undo), "webhook", status, doc.release());
}

// put_endpoint, answering with the endpoint (plus extra fields).
Outcome save_endpoint(ApiRequest& q, const EndpointInfo& e, const EndpointInfo* before, int status, json_t* extra) {
    Json extra_owned(extra);
    Json doc(endpoint_json(e));
    if (extra != nullptr) json_object_update(doc.get(), extra);
    return put_endpoint(q, e, before, status, std::move(doc));
}

// The endpoint named in the path, when the caller may see it.
std::optional<EndpointInfo> visible_endpoint(ApiRequest& q) {
    std::optional<EndpointInfo> e = endpoint_by_id(q.zone, q.params[0]);
    if (e && !q.caller.may_act_for(e->tenant)) return std::nullopt;
    return e;
}

// The tenant a request acts for: the body's or query's, else the key's own
// resource; the admin key defaults to "default".
std::variant<std::string, ApiError> tenant_for(ApiRequest& q, const json_t* given) {
    std::string tenant;
    if (given != nullptr && !json_is_null(given)) {
        if (!json_is_string(given) || json_string_length(given) == 0 || json_string_length(given) > kMaxTenant ||
            !header_safe(json_sv(given)))
            return invalid_request("tenant must be a non-empty string of at most " + std::to_string(kMaxTenant) + " bytes");
        tenant = std::string(json_sv(given));
    } else if (!q.caller.admin && q.caller.tenant() != "*") {
        tenant = std::string(q.caller.tenant());
    } else {
        tenant = "default";
    }
    if (!q.caller.may_act_for(tenant))
        return ApiError{403, "forbidden_resource", "the API key may not act for this tenant"};
    return tenant;
}

}  // namespace

Outcome create_webhook(ApiRequest& q) {
    const json_t* body = q.body.get();
    if (!json_is_object(body)) return Outcome::error(invalid_request("the body must be a JSON object"));
    if (auto e = reject_unknown_fields(body, {"url", "events", "tenant", "name", "description", "secret", "timeout",
                                              "enabled", "signing"}))
        return Outcome::error(*e);
    auto tenant = tenant_for(q, json_object_get(body, "tenant"));
    if (auto* e = std::get_if<ApiError>(&tenant)) return Outcome::error(*e);

    EndpointInfo e;
    e.tenant = std::get<std::string>(tenant);
    e.timeout_ms = delivery_of(q.zone).timeout_ms;
    if (auto err = apply_fields(q, body, &e, true)) return Outcome::error(*err);
    std::optional<ApiError> err;
    auto secret = text_field(body, "secret", kMaxSecret, true, &err);
    if (err) return Outcome::error(*err);
    if (secret && secret->size() < 8) return Outcome::error(invalid_request("secret must be at least 8 bytes"));
    // The kind: as asked, else as a supplied secret says (a whsk_ key
    // imported from another sender is Ed25519).
    auto kind = signing_field(body, &err);
    if (err) return Outcome::error(*err);
    if (!kind) kind = secret ? signing_of(*secret) : Signing::hmac;
    if (secret && signing_of(*secret) != *kind)
        return Outcome::error(invalid_request(*kind == Signing::ed25519
                                                  ? "secret: signing ed25519 takes a whsk_ secret key (or none)"
                                                  : "secret: a whsk_ secret key signs with signing ed25519"));
    if (secret && *kind == Signing::ed25519 && !endpoint_public_key(*secret))
        return Outcome::error(invalid_request("secret: not an Ed25519 secret key (whsk_ and the base64 of 32 or 64 bytes)"));
    if (auto unsupported = check_signing_supported(*kind)) return Outcome::error(*unsupported);
    e.secret = secret ? *secret : generate_endpoint_secret(*kind);
    e.id = "wh_" + random_base62(20);
    e.created_at = e.updated_at = ngx_time();

    json_t* extra = json_object();
    // A generated HMAC secret is shown once (a supplied one is the caller's
    // already); an Ed25519 secret key never: the receiver needs public_key.
    if (!secret && *kind == Signing::hmac) json_set_str(extra, "secret", e.secret);
    return save_endpoint(q, e, nullptr, 201, extra);
}

Outcome list_webhooks(ApiRequest& q) {
    auto tenant = listed_tenant(q, "tenant", "this tenant's webhooks");
    if (auto* e = std::get_if<ApiError>(&tenant)) return Outcome::error(*e);
    json_t* list = json_array();
    std::vector<EndpointInfo> all = endpoints_list(q.zone, std::get<std::string>(tenant));
    for (const EndpointInfo& e : all) json_array_append_new(list, endpoint_json(e));
    json_t* doc = json_object();
    json_object_set_new(doc, "webhooks", list);
    json_object_set_new(doc, "total", json_integer(all.size()));
    return Outcome::json(200, doc);
}

Outcome get_webhook(ApiRequest& q) {
    auto e = visible_endpoint(q);
    if (!e) return Outcome::error(kNoWebhook);
    return Outcome::json(200, endpoint_json(*e));
}

Outcome update_webhook(ApiRequest& q) {
    const json_t* body = q.body.get();
    if (!json_is_object(body)) return Outcome::error(invalid_request("the body must be a JSON object"));
    if (auto e = reject_unknown_fields(body, {"url", "events", "name", "description", "timeout", "enabled", "signing"}))
        return Outcome::error(*e);
    auto e = visible_endpoint(q);
    if (!e) return Outcome::error(kNoWebhook);
    EndpointInfo before = *e;
    if (auto err = apply_fields(q, body, &*e, false)) return Outcome::error(*err);
    std::optional<ApiError> err;
    auto kind = signing_field(body, &err);
    if (err) return Outcome::error(*err);
    e->updated_at = ngx_time();
    json_t* extra = json_object();
    if (kind && *kind != signing_of(e->secret)) {   // another kind: a rotation into it
        if (auto unsupported = check_signing_supported(*kind)) {
            json_decref(extra);
            return Outcome::error(*unsupported);
        }
        rotate_into(&*e, *kind, extra);
    }
    Outcome out = save_endpoint(q, *e, &before, 200, extra);
    if (out.change && before.enabled != e->enabled && q.zone->delivery != nullptr)
        out.change->on_durable = announce_enabled(*q.zone->delivery, *e);
    return out;
}

Outcome delete_webhook(ApiRequest& q) {
    auto e = visible_endpoint(q);
    if (!e) return Outcome::error(kNoWebhook);
    return apply_change(q, store::EndpointDel{e->id}, endpoint_record(*e), "webhook", 204, nullptr);
}

Outcome rotate_webhook_secret(ApiRequest& q) {
    auto e = visible_endpoint(q);
    if (!e) return Outcome::error(kNoWebhook);
    EndpointInfo before = *e;
    Signing kind = signing_of(e->secret);
    Json doc(json_object());   // the new HMAC secret, shown once; or the new public key
    rotate_into(&*e, kind, doc.get());
    json_set_str(doc.get(), "signing", signing_name(kind));
    if (auto pk = endpoint_public_key(e->secret)) json_set_str(doc.get(), "public_key", *pk);
    if (auto pk = endpoint_public_key(e->old_secret)) json_set_str(doc.get(), "previous_public_key", *pk);
    return put_endpoint(q, *e, &before, 200, std::move(doc));
}

namespace {

Outcome published_answer(const Published& p) {
    json_t* doc = json_object();
    json_set_str(doc, "id", p.event_id);
    json_object_set_new(doc, "deliveries", json_integer(p.deliveries));
    return Outcome::json(202, doc);
}

// A publish's answer: 202 once its event is durable (at once for an
// earlier publish with the same Idempotency-Key, also when that one
// was made meanwhile, on any node).
Outcome published(Zone* zone, std::variant<Published, ApiError> result, std::string tenant = {},
                  std::string idempotency_key = {}) {
    if (auto* e = std::get_if<ApiError>(&result)) return Outcome::error(*e);
    auto& p = std::get<Published>(result);
    Outcome out = published_answer(p);
    out.change = std::move(p.change);
    out.what = "event";
    out.on_refused = [zone, tenant = std::move(tenant), key = std::move(idempotency_key)](StateResult rc) {
        if (rc == StateResult::duplicate) {
            if (auto first = published_before(zone, tenant, key)) return published_answer(*first);
        }
        return Outcome::error(refusal(rc, zone, "event"));
    };
    return out;
}

const ApiError kNoDelivery{404, "not_found", "no webhook_delivery is configured for this zone"};

}  // namespace

Outcome test_webhook(ApiRequest& q) {
    auto e = visible_endpoint(q);
    if (!e) return Outcome::error(kNoWebhook);
    DeliveryConf* dc = q.zone->delivery;
    if (dc == nullptr) return Outcome::error(kNoDelivery);
    std::string data = "{\"webhook_id\":";
    json_quote(data, e->id);
    data += "}";
    PublishRequest req;
    req.tenant = e->tenant;
    req.type = "webhook.test";
    req.data_json = data;
    req.only_endpoint = e->id;
    return published(q.zone, publish(*dc, req));
}

Outcome list_deliveries(ApiRequest& q) {
    auto e = visible_endpoint(q);
    if (!e) return Outcome::error(kNoWebhook);
    std::string status = q.arg("status");
    if (!status.empty() && status != "pending" && status != "succeeded" && status != "failed")
        return Outcome::error(invalid_request("status must be pending, succeeded or failed"));
    auto page = page_of(q, kDeliveriesPage);
    if (auto* err = std::get_if<ApiError>(&page)) return Outcome::error(*err);
    auto& p = std::get<Page>(page);
    size_t total = 0;
    bool cursor_found = true;
    std::vector<DeliveryInfo> list = deliveries_of(q.zone, e->id, status, p.limit, p.after, &total, &cursor_found);
    if (!cursor_found) return Outcome::error(invalid_request("after: no delivery with this id in the list"));
    json_t* arr = json_array();
    for (const DeliveryInfo& d : list) json_array_append_new(arr, delivery_json(d, false));
    json_t* doc = json_object();
    json_object_set_new(doc, "deliveries", arr);
    json_object_set_new(doc, "total", json_integer(total));
    return Outcome::json(200, doc);
}

Outcome get_delivery(ApiRequest& q) {
    auto d = delivery_by_id(q.zone, q.params[0]);
    if (!d || !q.caller.may_act_for(d->tenant)) return Outcome::error({404, "not_found", "no such delivery"});
    return Outcome::json(200, delivery_json(*d, true));
}

Outcome replay_delivery(ApiRequest& q) {
    auto d = delivery_by_id(q.zone, q.params[0]);
    if (!d || !q.caller.may_act_for(d->tenant)) return Outcome::error({404, "not_found", "no such delivery"});
    json_t* doc = json_object();
    json_set_str(doc, "id", d->id);
    json_set_str(doc, "status", "pending");
    Outcome out = Outcome::json(202, doc);
    out.change = ngx::replay_delivery(q.zone, d->id, d->event_id, d->status);
    out.what = "delivery";
    return out;
}

namespace {

// Deliveries re-queued per POST /webhooks/{id}/recover: the walk of the
// endpoint's log and the apply are under the zone lock (docs/api.md#recover).
constexpr size_t kRecoverMax = 1000;

// An RFC 3339 member of the body, to the millisecond; nullopt (and *err)
// when it is there and not one.
std::optional<int64_t> time_field(const json_t* body, const char* name, std::optional<ApiError>* err) {
    const json_t* v = json_object_get(body, name);
    if (v == nullptr) return std::nullopt;
    std::optional<int64_t> t = json_is_string(v) ? parse_rfc3339_ms(json_sv(v)) : std::nullopt;
    if (!t) *err = invalid_request(std::string(name) + " must be an RFC 3339 time such as 2030-01-01T00:00:00Z");
    return t;
}

}  // namespace

Outcome recover_webhook(ApiRequest& q) {
    const json_t* body = q.body.get();
    if (!json_is_object(body)) return Outcome::error(invalid_request("the body must be a JSON object"));
    if (auto e = reject_unknown_fields(body, {"since", "until"})) return Outcome::error(*e);
    auto e = visible_endpoint(q);
    if (!e) return Outcome::error(kNoWebhook);
    int64_t now = now_ms();
    std::optional<ApiError> err;
    std::optional<int64_t> since = time_field(body, "since", &err);
    if (err) return Outcome::error(*err);
    if (!since) return Outcome::error(invalid_request("since is required: an RFC 3339 time such as 2030-01-01T00:00:00Z"));
    if (*since > now) return Outcome::error(invalid_request("since is in the future"));
    std::optional<int64_t> until = time_field(body, "until", &err);
    if (err) return Outcome::error(*err);
    if (until && *until <= *since) return Outcome::error(invalid_request("until must be later than since"));
    // A disabled endpoint's deliveries would wait, pending, taking the
    // tenant's max_pending: it is enabled first.
    if (!e->enabled)
        return Outcome::error(unprocessable("endpoint_disabled", "the webhook is disabled: enable it (PATCH "
                                                                 "{\"enabled\":true}) before recovering its deliveries"));
    int64_t end = until.value_or(now);
    std::optional<RecoverPlan> plan = recover_plan(q.zone, e->id, *since, end, kRecoverMax);
    if (!plan) return Outcome::error(kNoWebhook);
    if (plan->backlog_full) return Outcome::error(refusal(StateResult::backlog_full, q.zone, "webhook"));

    json_t* doc = json_object();
    json_object_set_new(doc, "deliveries", json_integer(plan->deliveries.size()));
    json_object_set_new(doc, "remaining", json_integer(plan->remaining));
    json_set_str(doc, "since", format_rfc3339_ms(*since));
    json_set_str(doc, "until", format_rfc3339_ms(end));
    Outcome out = Outcome::json(202, doc);
    if (plan->deliveries.empty()) return out;   // nothing to change
    out.change = recover_deliveries(q.zone, e->id, *since, end, std::move(plan->deliveries));
    out.what = "webhook";
    return out;
}

Outcome publish_events(ApiRequest& q) {
    const json_t* body = q.body.get();
    if (!json_is_object(body)) return Outcome::error(invalid_request("the body must be a JSON object"));
    if (auto e = reject_unknown_fields(body, {"type", "tenant", "data"})) return Outcome::error(*e);
    DeliveryConf* dc = q.zone->delivery;
    if (dc == nullptr) return Outcome::error(kNoDelivery);
    json_t* type = json_object_get(body, "type");
    if (!json_is_string(type) || !valid_event_type(json_sv(type)))
        return Outcome::error(invalid_request("type is required: lowercase letters, digits and . _ - :"));
    if (reserved_event_type(json_sv(type)))
        return Outcome::error(unprocessable("reserved_event_type", "type: the webhook.* types are the module's own (operational events)"));
    if (!event_type_known(json_sv(type)))
        return Outcome::error(unprocessable("unknown_event_type", "type \"" + std::string(json_sv(type)) + "\" is not in the event catalog"));
    auto tenant = tenant_for(q, json_object_get(body, "tenant"));
    if (auto* e = std::get_if<ApiError>(&tenant)) return Outcome::error(*e);
    json_t* data = json_object_get(body, "data");
    std::string data_json = data ? json_dump(data) : "null";

    std::string key;
    if (ngx_table_elt_t* h = find_header(q.r, "Idempotency-Key")) {
        key = std::string(sv(h->value));
        bool printable = std::all_of(key.begin(), key.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
        if (key.empty() || key.size() > kMaxIdempotencyKey || !printable)
            return Outcome::error(invalid_request("Idempotency-Key must be 1 to " + std::to_string(kMaxIdempotencyKey) +
                                                  " printable ASCII characters"));
        // An earlier publish with this key: its answer is the answer.
        if (auto first = published_before(q.zone, std::get<std::string>(tenant), key)) return published_answer(*first);
    }
    TraceContext trace = request_trace_context(q.r, true);
    PublishRequest req;
    req.tenant = std::get<std::string>(tenant);
    req.type = json_sv(type);
    req.data_json = data_json;
    req.idempotency_key = key;
    req.traceparent = trace.traceparent;
    req.tracestate = trace.tracestate;
    return published(q.zone, publish(*dc, req), std::get<std::string>(tenant), std::string(key));
}

Outcome list_event_types(ApiRequest&) {
    json_t* list = json_array();
    for (const EventType& t : event_types()) {
        json_t* o = json_object();
        json_set_str(o, "type", t.type);
        if (t.description.empty()) json_object_set_new(o, "description", json_null());
        else json_set_str(o, "description", t.description);
        json_object_set_new(o, "timeout", t.timeout_ms ? json_integer(t.timeout_ms / 1000) : json_null());
        json_object_set_new(o, "operational", json_false());
        json_array_append_new(list, o);
    }
    // The module's own: subscribed to like any other (by name or webhook.*).
    for (const OperationalType& t : kOperationalTypes) {
        json_t* o = json_object();
        json_set_str(o, "type", t.type);
        json_set_str(o, "description", t.description);
        json_object_set_new(o, "timeout", json_null());
        json_object_set_new(o, "operational", json_true());
        json_array_append_new(list, o);
    }
    json_t* doc = json_object();
    json_object_set_new(doc, "event_types", list);
    json_object_set_new(doc, "total", json_integer(json_array_size(list)));
    return Outcome::json(200, doc);
}

}  // namespace webhook::ngx
