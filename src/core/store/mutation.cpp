#include "core/store/mutation.hpp"

#include <charconv>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>

#include "core/deliver/trace_context.hpp"
#include "core/util/encoding.hpp"
#include "core/util/json.hpp"
#include "core/util/rfc3339.hpp"

namespace webhook::store {

namespace {

// --- encoding ----------------------------------------------------------------------

// jansson reports a failed allocation as NULL or -1; a record is all or nothing.
json_t* checked(json_t* j) {
    if (j == nullptr) throw std::bad_alloc();
    return j;
}

void set(json_t* obj, const char* key, json_t* value) {
    if (json_object_set_new(obj, key, value) != 0) throw std::bad_alloc();   // value is freed either way
}

void set_int(json_t* obj, const char* key, int64_t v) { set(obj, key, json_integer(v)); }

void append(json_t* arr, json_t* value) {
    if (json_array_append_new(arr, value) != 0) throw std::bad_alloc();
}

// A JSON string of any bytes, repaired exactly as json_set_str repairs the
// members (by way of it, so the two cannot disagree).
json_t* string_value(std::string_view s) {
    Json scratch(checked(json_object()));
    json_set_str(scratch.get(), "s", s);
    return json_incref(json_object_get(scratch.get(), "s"));
}

std::string_view outcome_name(AttemptOutcome o) {
    switch (o) {
    case AttemptOutcome::succeeded: return "succeeded";
    case AttemptOutcome::retry: return "retry";
    case AttemptOutcome::failed: return "failed";
    }
    return "failed";
}

std::optional<AttemptOutcome> outcome_from_name(std::string_view name) {
    if (name == "succeeded") return AttemptOutcome::succeeded;
    if (name == "retry") return AttemptOutcome::retry;
    if (name == "failed") return AttemptOutcome::failed;
    return std::nullopt;
}

// The attempt as the attempt log shows it: "time" is for people reading the
// log, "at" is what the code reads back.
Json attempt_json(const AttemptRecord& a) {
    Json o(checked(json_object()));
    set_int(o.get(), "at", a.at_ms);
    json_set_str(o.get(), "time", format_rfc3339(a.at_ms / 1000));
    set(o.get(), "response_status", a.response_status ? json_integer(a.response_status) : json_null());
    set_int(o.get(), "response_time_ms", a.response_time_ms);
    if (a.error.empty()) set(o.get(), "error", json_null());
    else json_set_str(o.get(), "error", a.error);
    json_set_str(o.get(), "response", a.response);
    return o;
}

// --- the delivery path's texts, written directly -----------------------------------
// Each delivery attempt writes its journal record and its attempt log, each
// publish its event's record; built
// as jansson trees they cost a delivery more than its TCP exchange does in
// user space (an allocation per member, then the dump). These write the bytes
// json_dump writes for those trees: jansson's compact form, its escapes
// (\b \f \n \r \t, other controls as \u00XX), %lld integers, the members in
// the order the trees have them. mutation_test checks the two agree.

// A string member's value, repaired as json_set_str repairs it.
void put_string(std::string& out, std::string_view s) {
    std::string scratch;
    json_quote(out, json_repaired(s, scratch));
}

void put_int(std::string& out, int64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    (void) ec;   // 24 bytes hold any int64
    out.append(buf, end);
}

// attempt_json's members, without the braces.
void put_attempt_members(std::string& out, const AttemptRecord& a) {
    out += "\"at\":";
    put_int(out, a.at_ms);
    out += ",\"time\":";
    put_string(out, format_rfc3339(a.at_ms / 1000));
    out += ",\"response_status\":";
    if (a.response_status) put_int(out, a.response_status);
    else out += "null";
    out += ",\"response_time_ms\":";
    put_int(out, a.response_time_ms);
    out += ",\"error\":";
    if (a.error.empty()) out += "null";
    else put_string(out, a.error);
    out += ",\"response\":";
    put_string(out, a.response);
}

// encode() of an AttemptDone: {"op":…, then write(json_t*, AttemptDone)'s members}.
std::string encode_attempt_done(const AttemptDone& m) {
    std::string out;
    out.reserve(200 + m.delivery.size() + m.disable.size() + m.attempt.error.size() + m.attempt.response.size());
    out += "{\"op\":";
    put_string(out, AttemptDone::op);
    out += ",\"delivery\":";
    put_string(out, m.delivery);
    out += ",\"token\":";
    put_int(out, m.token);
    out += ",\"number\":";
    put_int(out, m.number);
    out += ",\"outcome\":";
    put_string(out, outcome_name(m.outcome));
    out += ",\"next_attempt_at\":";
    put_int(out, m.next_attempt_at);
    if (!m.disable.empty()) {
        out += ",\"disable\":";
        put_string(out, m.disable);
    }
    out += ",\"attempt\":{";
    put_attempt_members(out, m.attempt);
    out += "}}";
    return out;
}

// encode() of an EventPut: one per publish, with a member per delivery.
std::string encode_event_put(const EventPut& m) {
    std::string out;
    size_t size = 200 + m.id.size() + m.tenant.size() + m.type.size() + m.payload.size() + m.idempotency.size() +
                  m.node.size() + m.traceparent.size() + m.tracestate.size();
    for (const DeliveryTarget& d : m.deliveries) size += 32 + d.id.size() + d.endpoint.size();
    out.reserve(size);
    out += "{\"op\":";
    put_string(out, EventPut::op);
    out += ",\"id\":";
    put_string(out, m.id);
    out += ",\"tenant\":";
    put_string(out, m.tenant);
    out += ",\"type\":";
    put_string(out, m.type);
    out += ",\"payload\":";
    put_string(out, m.payload);
    out += ",\"created_at_ms\":";
    put_int(out, m.created_at_ms);
    if (!m.idempotency.empty()) {
        out += ",\"idempotency\":";
        put_string(out, m.idempotency);
    }
    out += ",\"deliveries\":[";
    for (size_t i = 0; i < m.deliveries.size(); i++) {
        out += i == 0 ? "{\"id\":" : ",{\"id\":";
        put_string(out, m.deliveries[i].id);
        out += ",\"endpoint\":";
        put_string(out, m.deliveries[i].endpoint);
        out.push_back('}');
    }
    out.push_back(']');
    if (m.restore) out += ",\"restore\":true";
    if (!m.node.empty()) {
        out += ",\"node\":";
        put_string(out, m.node);
    }
    if (!m.traceparent.empty()) {
        out += ",\"traceparent\":";
        put_string(out, m.traceparent);
    }
    if (!m.tracestate.empty()) {
        out += ",\"tracestate\":";
        put_string(out, m.tracestate);
    }
    out.push_back('}');
    return out;
}

// The members after "op", in the order the records have always had them.

void write(json_t*, const SnapshotHeader&) {}

void write(json_t* o, const KeyPut& m) {
    json_set_str(o, "id", m.id);
    json_set_str(o, "hash", hex_encode(m.hash));
    json_set_str(o, "display", m.display);
    json_set_str(o, "resource", m.resource);
    json_set_str(o, "label", m.label);
    set_int(o, "scopes", m.scopes);
    set_int(o, "created_at", m.created_at);
    set_int(o, "expires_at", m.expires_at);
}

void write(json_t* o, const KeyDel& m) { json_set_str(o, "id", m.id); }

void write(json_t* o, const LimitsPut& m) {
    json_set_str(o, "tenant", m.tenant);
    if (m.max_keys) set_int(o, "max_keys", *m.max_keys);
    if (m.max_webhooks) set_int(o, "max_webhooks", *m.max_webhooks);
    if (m.max_pending) set_int(o, "max_pending", *m.max_pending);
}

void write(json_t* o, const EndpointPut& m) {
    json_set_str(o, "id", m.id);
    json_set_str(o, "tenant", m.tenant);
    json_set_str(o, "url", m.url);
    json_set_str(o, "name", m.name);
    json_set_str(o, "description", m.description);
    Json events(checked(json_array()));
    for (const std::string& e : m.events) append(events.get(), string_value(e));
    set(o, "events", events.release());
    json_set_str(o, "secret", m.secret);
    json_set_str(o, "old_secret", m.old_secret);
    set_int(o, "old_secret_until", m.old_secret_until);
    set_int(o, "timeout_ms", m.timeout_ms);
    set(o, "enabled", json_boolean(m.enabled));
    json_set_str(o, "disabled_reason", m.disabled_reason);
    set_int(o, "created_at", m.created_at);
    set_int(o, "updated_at", m.updated_at);
    if (m.expect_revision) set_int(o, "expect_revision", static_cast<int64_t>(*m.expect_revision));
}

void write(json_t* o, const EndpointDel& m) { json_set_str(o, "id", m.id); }

void write(json_t* o, const EndpointStatus& m) {
    json_set_str(o, "id", m.id);
    json_set_str(o, "last_error", m.last_error);
    set_int(o, "last_error_at", m.last_error_at);
    set_int(o, "failing_since", m.failing_since);
}

void write(json_t* o, const EventPut& m) {
    json_set_str(o, "id", m.id);
    json_set_str(o, "tenant", m.tenant);
    json_set_str(o, "type", m.type);
    json_set_str(o, "payload", m.payload);
    set_int(o, "created_at_ms", m.created_at_ms);
    if (!m.idempotency.empty()) json_set_str(o, "idempotency", m.idempotency);
    Json list(checked(json_array()));
    for (const DeliveryTarget& d : m.deliveries) {
        Json item(checked(json_object()));
        json_set_str(item.get(), "id", d.id);
        json_set_str(item.get(), "endpoint", d.endpoint);
        append(list.get(), item.release());
    }
    set(o, "deliveries", list.release());
    if (m.restore) set(o, "restore", checked(json_true()));
    if (!m.node.empty()) json_set_str(o, "node", m.node);
    if (!m.traceparent.empty()) json_set_str(o, "traceparent", m.traceparent);
    if (!m.tracestate.empty()) json_set_str(o, "tracestate", m.tracestate);
}

void write(json_t* o, const EventDel& m) {
    json_set_str(o, "id", m.id);
    if (!m.idempotency.empty()) json_set_str(o, "idempotency", m.idempotency);
}

void write(json_t* o, const AttemptDone& m) {
    json_set_str(o, "delivery", m.delivery);
    set_int(o, "token", m.token);
    set_int(o, "number", m.number);
    json_set_str(o, "outcome", outcome_name(m.outcome));
    set_int(o, "next_attempt_at", m.next_attempt_at);
    if (!m.disable.empty()) json_set_str(o, "disable", m.disable);
    set(o, "attempt", attempt_json(m.attempt).release());
}

void write(json_t* o, const DeliveryReplay& m) {
    json_set_str(o, "id", m.id);
    set_int(o, "at", m.at_ms);
    if (!m.node.empty()) json_set_str(o, "node", m.node);
}

void write(json_t* o, const DeliveryAdopt& m) {
    json_set_str(o, "from", m.from);
    json_set_str(o, "to", m.to);
}

void write(json_t* o, const ReplaySeen& m) {
    json_set_str(o, "key", hex_encode(m.key));
    set_int(o, "expires", m.expires);
}

void write(json_t* o, const DeliveryUnreplay& m) {
    json_set_str(o, "id", m.id);
    json_set_str(o, "status", delivery_status_name(m.status));
}

void write_ids(json_t* o, const std::vector<std::string>& ids) {
    Json list(checked(json_array()));
    for (const std::string& id : ids) append(list.get(), string_value(id));
    set(o, "deliveries", list.release());
}

void write(json_t* o, const DeliveryRecover& m) {
    json_set_str(o, "endpoint", m.endpoint);
    set_int(o, "since_ms", m.since_ms);
    set_int(o, "until_ms", m.until_ms);
    set_int(o, "at", m.at_ms);
    if (!m.node.empty()) json_set_str(o, "node", m.node);
    set_int(o, "tag", m.tag);
    write_ids(o, m.deliveries);
}

void write(json_t* o, const DeliveryUnrecover& m) {
    json_set_str(o, "endpoint", m.endpoint);
    set_int(o, "tag", m.tag);
    write_ids(o, m.deliveries);
}

void write(json_t* o, const DeliveryRestore& m) {
    json_set_str(o, "id", m.id);
    json_set_str(o, "event", m.event);
    json_set_str(o, "endpoint", m.endpoint);
    set_int(o, "status", static_cast<int64_t>(m.status));
    set_int(o, "attempts", m.attempts);
    set_int(o, "last_status", m.last_status);
    set_int(o, "last_time_ms", m.last_time_ms);
    set_int(o, "created_at_ms", m.created_at_ms);
    set_int(o, "next_attempt_at", m.next_attempt_at);
    json_set_str(o, "last_error", m.last_error);
    json_set_str(o, "history", m.history);
    if (!m.node.empty()) json_set_str(o, "node", m.node);
}

void write(json_t* o, const IdempotencyRestore& m) {
    json_set_str(o, "key", m.key);
    json_set_str(o, "event", m.event);
    set_int(o, "deliveries", m.deliveries);
    set_int(o, "expires", m.expires_ms);
}

// --- decoding ----------------------------------------------------------------------

// The members of one record (or of an object nested in it), read strictly:
// the first that is missing or of the wrong kind stops the decoding, with an
// error naming the op and the member. Unknown members are ignored (a newer
// writer may add some).
class Fields {
public:
    Fields(const json_t* obj, std::string_view op, std::string* error, std::string prefix = {})
        : obj_(obj), op_(op), error_(error), prefix_(std::move(prefix)) {}

    const json_t* get(const char* key) const { return json_object_get(obj_, key); }

    // Always false, so a reader can `return f.fail(...)`.
    bool fail(const char* key, std::string_view why) const {
        if (error_ != nullptr) {
            error_->assign(op_);
            error_->append(": \"").append(prefix_).append(key).append("\" ").append(why);
        }
        return false;
    }

    Fields nested(const json_t* obj, std::string prefix) const { return Fields(obj, op_, error_, prefix_ + prefix); }

    bool str(const char* key, std::string& out) const {
        const json_t* v = get(key);
        if (!json_is_string(v)) return fail(key, "must be a string");
        out.assign(json_sv(v));
        return true;
    }

    // An id (or a tenant): a record naming nothing could not be applied.
    bool id(const char* key, std::string& out) const {
        if (!str(key, out)) return false;
        return out.empty() ? fail(key, "must not be empty") : true;
    }

    // Null stands for empty (an attempt without an error).
    bool str_or_null(const char* key, std::string& out) const {
        if (json_is_null(get(key))) {
            out.clear();
            return true;
        }
        return str(key, out);
    }

    // Written only when there is something to say: absent is empty.
    bool opt_str(const char* key, std::string& out) const {
        if (get(key) == nullptr) {
            out.clear();
            return true;
        }
        return str(key, out);
    }

    bool i64(const char* key, int64_t& out) const {
        const json_t* v = get(key);
        if (!json_is_integer(v)) return fail(key, "must be an integer");
        out = json_integer_value(v);
        return true;
    }

    bool opt_i64(const char* key, std::optional<int64_t>& out) const {
        out.reset();
        if (get(key) == nullptr) return true;
        int64_t v;
        if (!i64(key, v)) return false;
        out = v;
        return true;
    }

    // An integer that goes into a narrower field (uint32_t, int): one that
    // does not fit is refused rather than cut.
    template <class T>
    bool narrow(const char* key, T& out) const {
        int64_t v = 0;   // set by i64() when it returns true (GCC cannot always tell)
        if (!i64(key, v)) return false;
        return fit(key, v, out);
    }

    // The same, where null stands for 0 (a response status when there was
    // no response).
    template <class T>
    bool nullable(const char* key, T& out) const {
        if (json_is_null(get(key))) {
            out = 0;
            return true;
        }
        return narrow(key, out);
    }

    bool boolean(const char* key, bool& out) const {
        const json_t* v = get(key);
        if (!json_is_boolean(v)) return fail(key, "must be true or false");
        out = json_is_true(v);
        return true;
    }

private:
    template <class T>
    bool fit(const char* key, int64_t v, T& out) const {
        static_assert(std::is_integral_v<T> && sizeof(T) <= 4);
        constexpr int64_t lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
        if (v < lo || v > hi)
            return fail(key, "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
        out = static_cast<T>(v);
        return true;
    }

    const json_t* obj_;
    std::string_view op_;
    std::string* error_;
    std::string prefix_;
};

bool read(const Fields&, SnapshotHeader&) { return true; }

bool read(const Fields& f, KeyPut& m) {
    std::string hex;
    if (!f.id("id", m.id) || !f.str("hash", hex)) return false;
    auto hash = hex.size() == 64 ? hex_decode(hex) : std::nullopt;
    if (!hash || hash->size() != 32) return f.fail("hash", "must be 64 hex digits");
    m.hash = std::move(*hash);
    return f.str("display", m.display) && f.id("resource", m.resource) && f.str("label", m.label) &&
           f.narrow("scopes", m.scopes) && f.i64("created_at", m.created_at) && f.i64("expires_at", m.expires_at);
}

bool read(const Fields& f, KeyDel& m) { return f.id("id", m.id); }

bool read(const Fields& f, LimitsPut& m) {
    return f.id("tenant", m.tenant) && f.opt_i64("max_keys", m.max_keys) &&
           f.opt_i64("max_webhooks", m.max_webhooks) && f.opt_i64("max_pending", m.max_pending);
}

bool read(const Fields& f, EndpointPut& m) {
    if (!f.id("id", m.id) || !f.id("tenant", m.tenant) || !f.str("url", m.url) || !f.str("name", m.name) ||
        !f.str("description", m.description))
        return false;
    const json_t* events = f.get("events");
    if (!json_is_array(events)) return f.fail("events", "must be an array of strings");
    m.events.clear();
    size_t i;
    const json_t* e;
    json_array_foreach(events, i, e) {
        if (!json_is_string(e)) return f.fail("events", "must be an array of strings");
        m.events.emplace_back(json_sv(e));
    }
    if (!f.str("secret", m.secret) || !f.str("old_secret", m.old_secret) ||
        !f.i64("old_secret_until", m.old_secret_until) || !f.i64("timeout_ms", m.timeout_ms) ||
        !f.boolean("enabled", m.enabled) || !f.str("disabled_reason", m.disabled_reason) ||
        !f.i64("created_at", m.created_at) || !f.i64("updated_at", m.updated_at))
        return false;
    m.expect_revision.reset();
    if (f.get("expect_revision") != nullptr) {
        int64_t rev;
        if (!f.i64("expect_revision", rev)) return false;
        if (rev < 0) return f.fail("expect_revision", "must not be negative");
        m.expect_revision = static_cast<uint64_t>(rev);
    }
    return true;
}

bool read(const Fields& f, EndpointDel& m) { return f.id("id", m.id); }

bool read(const Fields& f, EndpointStatus& m) {
    return f.id("id", m.id) && f.str("last_error", m.last_error) && f.i64("last_error_at", m.last_error_at) &&
           f.i64("failing_since", m.failing_since);
}

bool read(const Fields& f, EventPut& m) {
    if (!f.id("id", m.id) || !f.id("tenant", m.tenant) || !f.str("type", m.type) || !f.str("payload", m.payload))
        return false;
    if (!f.i64("created_at_ms", m.created_at_ms)) return false;
    if (!f.opt_str("idempotency", m.idempotency)) return false;
    const json_t* list = f.get("deliveries");
    if (!json_is_array(list)) return f.fail("deliveries", "must be an array");
    m.deliveries.clear();
    size_t i;
    const json_t* item;
    json_array_foreach(list, i, item) {
        std::string at = "deliveries[" + std::to_string(i) + "]";
        if (!json_is_object(item)) return f.fail(at.c_str(), "must be an object");
        Fields d = f.nested(item, at + ".");
        DeliveryTarget t;
        if (!d.id("id", t.id) || !d.id("endpoint", t.endpoint)) return false;
        m.deliveries.push_back(std::move(t));
    }
    m.restore = false;
    if (f.get("restore") != nullptr && !f.boolean("restore", m.restore)) return false;
    if (!f.opt_str("node", m.node)) return false;
    // The trace context goes into request headers: held to the form the
    // publish path keeps (a record written by an older module has none).
    if (!f.opt_str("traceparent", m.traceparent) || !f.opt_str("tracestate", m.tracestate)) return false;
    if (!m.traceparent.empty() && !traceparent_kept_form(m.traceparent))
        return f.fail("traceparent", "must be a W3C traceparent of version 00 (55 characters)");
    const char* why = nullptr;
    auto state = m.tracestate.empty() ? std::optional<std::string>("") : parse_tracestate(m.tracestate, &why);
    if (!state || *state != m.tracestate) return f.fail("tracestate", "must be a W3C tracestate of at most 512 bytes");
    return true;
}

bool read(const Fields& f, EventDel& m) { return f.id("id", m.id) && f.opt_str("idempotency", m.idempotency); }

bool read_attempt(const Fields& f, AttemptRecord& a) {
    std::string time;   // derived from "at": checked for presence, not read
    return f.i64("at", a.at_ms) && f.str("time", time) && f.nullable("response_status", a.response_status) &&
           f.i64("response_time_ms", a.response_time_ms) && f.str_or_null("error", a.error) &&
           f.str("response", a.response);
}

bool read(const Fields& f, AttemptDone& m) {
    std::string outcome;
    if (!f.id("delivery", m.delivery) || !f.narrow("token", m.token) || !f.narrow("number", m.number) ||
        !f.str("outcome", outcome))
        return false;
    auto o = outcome_from_name(outcome);
    if (!o) return f.fail("outcome", "must be \"succeeded\", \"retry\" or \"failed\"");
    m.outcome = *o;
    if (!f.i64("next_attempt_at", m.next_attempt_at) || !f.opt_str("disable", m.disable)) return false;
    const json_t* at = f.get("attempt");
    if (!json_is_object(at)) return f.fail("attempt", "must be an object");
    return read_attempt(f.nested(at, "attempt."), m.attempt);
}

bool read(const Fields& f, DeliveryReplay& m) {
    return f.id("id", m.id) && f.i64("at", m.at_ms) && f.opt_str("node", m.node);
}

bool read(const Fields& f, DeliveryAdopt& m) { return f.id("from", m.from) && f.id("to", m.to); }

bool read(const Fields& f, ReplaySeen& m) {
    std::string hex;
    if (!f.str("key", hex)) return false;
    auto key = hex.size() == 64 ? hex_decode(hex) : std::nullopt;
    if (!key || key->size() != 32) return f.fail("key", "must be 64 hex digits");
    m.key = std::move(*key);
    return f.i64("expires", m.expires);
}

bool read(const Fields& f, DeliveryUnreplay& m) {
    std::string status;
    if (!f.id("id", m.id) || !f.str("status", status)) return false;
    auto s = delivery_status_from_name(status);
    if (!s) return f.fail("status", "must be \"pending\", \"succeeded\" or \"failed\"");
    m.status = *s;
    return true;
}

// A list of delivery ids, each non-empty.
bool read_ids(const Fields& f, std::vector<std::string>& out) {
    const json_t* list = f.get("deliveries");
    if (!json_is_array(list)) return f.fail("deliveries", "must be an array of delivery ids");
    out.clear();
    out.reserve(json_array_size(list));
    size_t i;
    const json_t* item;
    json_array_foreach(list, i, item) {
        if (!json_is_string(item) || json_string_length(item) == 0)
            return f.fail(("deliveries[" + std::to_string(i) + "]").c_str(), "must be a non-empty string");
        out.emplace_back(json_sv(item));
    }
    return true;
}

bool read(const Fields& f, DeliveryRecover& m) {
    return f.id("endpoint", m.endpoint) && f.i64("since_ms", m.since_ms) && f.i64("until_ms", m.until_ms) &&
           f.i64("at", m.at_ms) && f.opt_str("node", m.node) && f.narrow("tag", m.tag) && read_ids(f, m.deliveries);
}

bool read(const Fields& f, DeliveryUnrecover& m) {
    return f.id("endpoint", m.endpoint) && f.narrow("tag", m.tag) && read_ids(f, m.deliveries);
}

bool read(const Fields& f, DeliveryRestore& m) {
    int64_t status;
    if (!f.id("id", m.id) || !f.id("event", m.event) || !f.id("endpoint", m.endpoint) || !f.i64("status", status))
        return false;
    if (status < 0 || status > 2) return f.fail("status", "must be 0, 1 or 2");
    m.status = static_cast<DeliveryStatus>(status);
    return f.narrow("attempts", m.attempts) && f.narrow("last_status", m.last_status) &&
           f.narrow("last_time_ms", m.last_time_ms) && f.i64("created_at_ms", m.created_at_ms) &&
           f.i64("next_attempt_at", m.next_attempt_at) && f.str("last_error", m.last_error) &&
           f.str("history", m.history) && f.opt_str("node", m.node);
}

bool read(const Fields& f, IdempotencyRestore& m) {
    return f.id("key", m.key) && f.id("event", m.event) && f.narrow("deliveries", m.deliveries) &&
           f.i64("expires", m.expires_ms);
}

// The alternative whose op this is, read by its reader: each alternative
// needs one (a missing reader does not compile).
template <size_t I = 0>
std::optional<Mutation> read_op(std::string_view op, const Fields& f, bool* known) {
    if constexpr (I == std::variant_size_v<Mutation>) {
        *known = false;
        return std::nullopt;
    } else {
        using T = std::variant_alternative_t<I, Mutation>;
        if (op != T::op) return read_op<I + 1>(op, f, known);
        T m;
        if (!read(f, m)) return std::nullopt;
        return Mutation(std::in_place_index<I>, std::move(m));
    }
}

void set_error(std::string* error, std::string text) {
    if (error != nullptr) *error = std::move(text);
}

}  // namespace

std::string_view delivery_status_name(DeliveryStatus s) {
    switch (s) {
    case DeliveryStatus::pending: return "pending";
    case DeliveryStatus::succeeded: return "succeeded";
    case DeliveryStatus::failed: return "failed";
    }
    return "pending";   // as the zone names a status it does not know
}

std::optional<DeliveryStatus> delivery_status_from_name(std::string_view name) {
    if (name == "pending") return DeliveryStatus::pending;
    if (name == "succeeded") return DeliveryStatus::succeeded;
    if (name == "failed") return DeliveryStatus::failed;
    return std::nullopt;
}

std::string_view op_name(const Mutation& m) {
    return std::visit([](const auto& r) { return std::decay_t<decltype(r)>::op; }, m);
}

std::string encode(const Mutation& m) {
    // The records of the delivery path: one per attempt, one per publish.
    if (const auto* a = std::get_if<AttemptDone>(&m)) return encode_attempt_done(*a);
    if (const auto* e = std::get_if<EventPut>(&m)) return encode_event_put(*e);
    return encode_tree(m);
}

std::string encode_tree(const Mutation& m) {
    Json o(checked(json_object()));
    std::visit(
        [&o](const auto& r) {
            json_set_str(o.get(), "op", std::decay_t<decltype(r)>::op);   // first: readers and people look for it
            write(o.get(), r);
        },
        m);
    return json_dump(o.get());
}

std::optional<Mutation> decode(std::string_view text, std::string* error) {
    std::string why;
    Json j = json_parse(text, &why);
    if (!j) {
        set_error(error, "not valid JSON: " + why);
        return std::nullopt;
    }
    if (!json_is_object(j.get())) {
        set_error(error, "not a JSON object");
        return std::nullopt;
    }
    const json_t* op = json_object_get(j.get(), "op");
    if (!json_is_string(op)) {
        set_error(error, "\"op\" must be a string");
        return std::nullopt;
    }
    std::string_view name = json_sv(op);
    bool known = true;
    auto m = read_op(name, Fields(j.get(), name, error), &known);
    if (!known) {
        // Quoted short: the text is valid UTF-8 (json_parse checked), a cut
        // one is repaired.
        set_error(error, "unknown op \"" + utf8_sanitize(name.substr(0, 64)) + "\"");
    }
    return m;
}

std::string describe_state(const std::vector<Mutation>& records) {
    size_t keys = 0, endpoints = 0, events = 0, deliveries = 0, pending = 0, idempotency = 0, limits = 0;
    for (const Mutation& m : records) {
        if (std::holds_alternative<KeyPut>(m)) keys++;
        else if (std::holds_alternative<EndpointPut>(m)) endpoints++;
        else if (std::holds_alternative<IdempotencyRestore>(m)) idempotency++;
        else if (std::holds_alternative<LimitsPut>(m)) limits++;
        else if (auto* e = std::get_if<EventPut>(&m)) {
            events++;
            deliveries += e->deliveries.size();   // a snapshot's come as delivery.restore
            pending += e->deliveries.size();
        } else if (auto* d = std::get_if<DeliveryRestore>(&m)) {
            deliveries++;
            pending += d->status == DeliveryStatus::pending;
        }
    }
    auto count = [](size_t n, const char* one, const char* many) {
        return std::to_string(n) + " " + (n == 1 ? one : many);
    };
    return count(keys, "key", "keys") + ", " + count(endpoints, "endpoint", "endpoints") + ", " +
           count(events, "event", "events") + ", " + count(deliveries, "delivery", "deliveries") + " (" +
           std::to_string(pending) + " pending), " + count(idempotency, "idempotency key", "idempotency keys") +
           ", limits for " + count(limits, "tenant", "tenants");
}

std::string idempotency_slot(std::string_view tenant, std::string_view key) {
    std::string slot;
    slot.reserve(tenant.size() + 1 + key.size());
    slot.append(tenant).append(1, '\x1f').append(key);
    return slot;
}

namespace {

// {"attempt":number, …entry}: the number first, for people reading the log.
json_t* numbered_entry(uint32_t number, const json_t* entry) {
    Json o(checked(json_object()));
    set_int(o.get(), "attempt", number);
    const char* key;
    json_t* value;
    json_object_foreach(const_cast<json_t*>(entry), key, value) {
        if (std::strcmp(key, "attempt") != 0 && json_object_set(o.get(), key, value) != 0) throw std::bad_alloc();
    }
    return o.release();
}

}  // namespace

std::string attempt_log_append(std::string_view log, uint32_t number, const AttemptRecord& attempt, size_t keep) {
    // A log that cannot be read is not worth failing a report for: it starts
    // again (as the zone has always done).
    if (log.empty() && keep > 0) {   // a first attempt: numbered_entry's bytes, in an array
        std::string out = "[{\"attempt\":";
        put_int(out, number);
        out.push_back(',');
        put_attempt_members(out, attempt);
        out += "}]";
        return out;
    }
    Json arr = log.empty() ? Json() : json_parse(log, nullptr);
    if (!arr || !json_is_array(arr.get())) arr = Json(checked(json_array()));
    append(arr.get(), numbered_entry(number, attempt_json(attempt).get()));
    while (json_array_size(arr.get()) > keep) json_array_remove(arr.get(), 0);
    return json_dump(arr.get());
}

Json attempt_log_numbered(std::string_view log, uint32_t attempts) {
    Json arr = log.empty() ? Json() : json_parse(log, nullptr);
    if (!arr || !json_is_array(arr.get())) return Json(checked(json_array()));
    int64_t next = static_cast<int64_t>(attempts) + 1;   // the number of the entry after
    for (size_t i = json_array_size(arr.get()); i-- > 0;) {
        json_t* entry = json_array_get(arr.get(), i);
        if (!json_is_object(entry)) continue;
        json_t* n = json_object_get(entry, "attempt");
        if (json_is_integer(n)) {
            next = json_integer_value(n);
            continue;
        }
        next--;
        if (next < 1) continue;
        if (json_array_set_new(arr.get(), i, numbered_entry(static_cast<uint32_t>(next), entry)) != 0)
            throw std::bad_alloc();
    }
    return arr;
}

}  // namespace webhook::store
