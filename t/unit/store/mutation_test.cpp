// core/store/mutation: the journal's records, their exact wire text (journals
// written before this code must stay readable), strict decoding, and the
// attempt log.
#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/store/mutation.hpp"
#include "core/util/encoding.hpp"
#include "core/util/json.hpp"

using namespace webhook;
using namespace webhook::store;

namespace {

// Every field of each record, so a comparison misses none.
auto fields(const SnapshotHeader&) { return std::tuple<>(); }
auto fields(const KeyPut& m) {
    return std::tie(m.id, m.hash, m.display, m.resource, m.label, m.scopes, m.created_at, m.expires_at);
}
auto fields(const KeyDel& m) { return std::tie(m.id); }
auto fields(const LimitsPut& m) { return std::tie(m.tenant, m.max_keys, m.max_webhooks, m.max_pending); }
auto fields(const EndpointPut& m) {
    return std::tie(m.id, m.tenant, m.url, m.name, m.description, m.events, m.secret, m.old_secret,
                    m.old_secret_until, m.timeout_ms, m.enabled, m.disabled_reason, m.created_at, m.updated_at,
                    m.expect_revision);
}
auto fields(const EndpointDel& m) { return std::tie(m.id); }
auto fields(const EndpointStatus& m) { return std::tie(m.id, m.last_error, m.last_error_at, m.failing_since); }
std::vector<std::pair<std::string, std::string>> targets(const std::vector<DeliveryTarget>& ds) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& d : ds) out.emplace_back(d.id, d.endpoint);
    return out;
}
auto fields(const EventPut& m) {
    return std::make_tuple(m.id, m.tenant, m.type, m.payload, m.created_at_ms, m.idempotency, targets(m.deliveries),
                           m.node, m.restore, m.traceparent, m.tracestate);
}
auto fields(const EventDel& m) { return std::tie(m.id, m.idempotency); }
auto fields(const AttemptRecord& a) {
    return std::tie(a.at_ms, a.response_status, a.response_time_ms, a.error, a.response);
}
auto fields(const AttemptDone& m) {
    return std::tuple_cat(std::tie(m.delivery, m.token, m.number, m.outcome, m.next_attempt_at, m.disable),
                          fields(m.attempt));
}
auto fields(const DeliveryReplay& m) { return std::tie(m.id, m.at_ms, m.node); }
auto fields(const DeliveryAdopt& m) { return std::tie(m.from, m.to); }
auto fields(const ReplaySeen& m) { return std::tie(m.key, m.expires); }
auto fields(const DeliveryUnreplay& m) { return std::tie(m.id, m.status); }
auto fields(const DeliveryRestore& m) {
    return std::tie(m.id, m.event, m.endpoint, m.status, m.attempts, m.last_status, m.last_time_ms,
                    m.created_at_ms, m.next_attempt_at, m.last_error, m.history, m.node);
}
auto fields(const IdempotencyRestore& m) { return std::tie(m.key, m.event, m.deliveries, m.expires_ms); }
auto fields(const DeliveryRecover& m) {
    return std::tie(m.endpoint, m.since_ms, m.until_ms, m.at_ms, m.node, m.tag, m.deliveries);
}
auto fields(const DeliveryUnrecover& m) { return std::tie(m.endpoint, m.tag, m.deliveries); }

std::string hash_of_test() {
    // SHA-256("test")
    return *hex_decode("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
}

// A replay key: the 32 bytes 0x00, 0x01, … 0x1f (NUL and control bytes
// included: the record has them in hex).
std::string replay_key() {
    std::string k;
    for (int i = 0; i < 32; i++) k.push_back(static_cast<char>(i));
    return k;
}
const char* const replay_key_hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

// One record of each op, every field away from its default (a decoder that
// skips a field cannot pass the round trip).
KeyPut key_put() {
    KeyPut m;
    m.id = "key_4f8Kq2ZxVb7LmN3p";
    m.hash = hash_of_test();
    m.display = "sk_AbCdE";
    m.resource = "room:r_42";
    m.label = "OBS";
    m.scopes = 1;
    m.created_at = 1731705121;
    m.expires_at = 0;
    return m;
}

EndpointPut endpoint_put() {
    EndpointPut m;
    m.id = "wh_9ZxY";
    m.tenant = "acme";
    m.url = "https://hooks.example.com/in";
    m.name = "prod";
    m.description = "Production receiver";
    m.events = {"room.*", "show.start"};
    m.secret = "whsec_new";
    m.old_secret = "whsec_old";
    m.old_secret_until = 1731708721;
    m.timeout_ms = 30000;
    m.enabled = false;
    m.disabled_reason = "too many failures";
    m.created_at = 1731705121;
    m.updated_at = 1731705200;
    m.expect_revision = 7;
    return m;
}

EventPut event_put() {
    EventPut m;
    m.id = "evt_1";
    m.tenant = "acme";
    m.type = "room.on_air";
    m.payload = R"({"type":"room.on_air","data":{}})";
    m.created_at_ms = 1731705121123;
    m.idempotency = idempotency_slot("acme", "order-17");
    m.deliveries = {{"dlv_1", "wh_9ZxY"}, {"dlv_2", "wh_other"}};
    m.node = "edge-1";
    m.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    m.tracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
    return m;
}

AttemptDone attempt_done() {
    AttemptDone m;
    m.delivery = "dlv_1";
    m.token = 3;
    m.number = 1;
    m.outcome = AttemptOutcome::retry;
    m.next_attempt_at = 1731705181000;
    m.attempt.at_ms = 1731705121000;
    m.attempt.response_status = 503;
    m.attempt.response_time_ms = 12;
    m.attempt.error = "http_503";
    m.attempt.response = "busy";
    return m;
}

DeliveryRestore delivery_restore() {
    DeliveryRestore m;
    m.id = "dlv_1";
    m.event = "evt_1";
    m.endpoint = "wh_9ZxY";
    m.status = DeliveryStatus::failed;
    m.attempts = 4;
    m.last_status = 500;
    m.last_time_ms = 87;
    m.created_at_ms = 1731705121000;
    m.next_attempt_at = 1731705999000;
    m.last_error = "http_500";
    m.history = R"([{"at":1,"time":"1970-01-01T00:00:00Z","response_status":500,"response_time_ms":87,"error":"http_500","response":""}])";
    m.node = "edge-1";
    return m;
}

DeliveryRecover delivery_recover() {
    DeliveryRecover m;
    m.endpoint = "wh_9ZxY";
    m.since_ms = 1731705000123;
    m.until_ms = 1731705300000;
    m.at_ms = 1731705300456;
    m.node = "edge-2";
    m.tag = 0x5a5a5a5a;
    m.deliveries = {"dlv_1", "dlv_2", "dlv_3"};
    return m;
}

std::vector<Mutation> samples() {
    return {
        SnapshotHeader{},
        key_put(),
        KeyDel{"key_4f8Kq2ZxVb7LmN3p"},
        LimitsPut{"acme", 5, -1, 1000},
        endpoint_put(),
        EndpointDel{"wh_9ZxY"},
        EndpointStatus{"wh_9ZxY", "timeout", 1731705121000, 1731700000000},
        event_put(),
        EventDel{"evt_1", idempotency_slot("acme", "order-17")},
        attempt_done(),
        DeliveryReplay{"dlv_1", 1731705300000, "edge-2"},
        DeliveryUnreplay{"dlv_1", DeliveryStatus::succeeded},
        delivery_restore(),
        IdempotencyRestore{idempotency_slot("acme", "order-17"), "evt_1", 2, 1731791521000},
        DeliveryAdopt{"edge-1", "edge-2"},
        ReplaySeen{replay_key(), 1731705421},
        delivery_recover(),
        DeliveryUnrecover{"wh_9ZxY", 0x5a5a5a5a, {"dlv_1", "dlv_3"}},
    };
}

// Decodes what encode wrote, checks the op and every field, and that the
// record encodes again to the same text.
void expect_round_trip(const Mutation& m) {
    std::string text = encode(m);
    std::string err;
    auto back = decode(text, &err);
    ASSERT_TRUE(back.has_value()) << text << ": " << err;
    ASSERT_EQ(back->index(), m.index()) << text;
    EXPECT_EQ(op_name(*back), op_name(m));
    std::visit(
        [&](const auto& want) {
            using T = std::decay_t<decltype(want)>;
            EXPECT_EQ(fields(std::get<T>(*back)), fields(want)) << text;
        },
        m);
    EXPECT_EQ(encode(*back), text);
}

std::string decode_error(std::string_view text) {
    std::string err;
    auto m = decode(text, &err);
    EXPECT_FALSE(m.has_value()) << text;
    EXPECT_FALSE(err.empty()) << text;
    return err;
}

// The encoded record with one member replaced (value nullptr: removed).
std::string with(const Mutation& m, const char* key, json_t* value) {
    Json o = json_parse(encode(m), nullptr);
    if (value == nullptr) json_object_del(o.get(), key);
    else json_object_set_new(o.get(), key, value);
    return json_dump(o.get());
}

// A value of a kind the member does not have.
json_t* wrong_kind(const json_t* v) { return json_is_boolean(v) ? json_integer(1) : json_true(); }

}  // namespace

// --- names ---------------------------------------------------------------------------

TEST(Mutation, OpNames) {
    const char* want[] = {"snapshot",     "key.put",      "key.del",         "limits.put",        "endpoint.put",
                          "endpoint.del", "endpoint.status", "event.put",    "event.del",         "attempt.done",
                          "delivery.replay", "delivery.unreplay", "delivery.restore", "idempotency.restore",
                          "delivery.adopt", "replay.seen", "delivery.recover", "delivery.unrecover"};
    auto all = samples();
    ASSERT_EQ(all.size(), std::size(want));
    ASSERT_EQ(all.size(), std::variant_size_v<Mutation>);
    for (size_t i = 0; i < all.size(); i++) {
        EXPECT_EQ(all[i].index(), i);
        EXPECT_EQ(op_name(all[i]), want[i]);
    }
}

TEST(Mutation, DeliveryStatusNames) {
    for (auto s : {DeliveryStatus::pending, DeliveryStatus::succeeded, DeliveryStatus::failed})
        EXPECT_EQ(delivery_status_from_name(delivery_status_name(s)), s);
    EXPECT_EQ(delivery_status_name(DeliveryStatus::pending), "pending");
    EXPECT_EQ(delivery_status_name(DeliveryStatus::succeeded), "succeeded");
    EXPECT_EQ(delivery_status_name(DeliveryStatus::failed), "failed");
    for (const char* bad : {"", "Pending", "retry", "failed ", "0"})
        EXPECT_FALSE(delivery_status_from_name(bad).has_value()) << bad;
}

TEST(Mutation, IdempotencySlot) {
    EXPECT_EQ(idempotency_slot("acme", "order-17"), std::string("acme\x1f" "order-17"));
    EXPECT_EQ(idempotency_slot("", ""), "\x1f");
    // The separator keeps ("a", "bc") and ("ab", "c") apart.
    EXPECT_NE(idempotency_slot("a", "bc"), idempotency_slot("ab", "c"));
}

// --- round trips -----------------------------------------------------------------------

TEST(Mutation, RoundTripEveryOp) {
    for (const Mutation& m : samples()) {
        SCOPED_TRACE(std::string(op_name(m)));
        expect_round_trip(m);
    }
}

TEST(Mutation, RoundTripDefaultsAndEmptyOptionals) {
    // Optional members left out, nullable ones null, empty lists.
    LimitsPut none;
    none.tenant = "acme";
    expect_round_trip(none);
    EndpointPut ep = endpoint_put();
    ep.expect_revision.reset();
    ep.events.clear();
    ep.old_secret.clear();
    ep.description.clear();
    ep.enabled = true;
    ep.disabled_reason.clear();
    expect_round_trip(ep);
    EventPut ev = event_put();
    ev.idempotency.clear();
    ev.deliveries.clear();
    ev.payload.clear();
    ev.node.clear();
    expect_round_trip(ev);
    expect_round_trip(DeliveryReplay{"dlv_1", 0, ""});
    expect_round_trip(EventDel{"evt_1", ""});
    DeliveryRecover rec = delivery_recover();
    rec.node.clear();
    rec.tag = 0;
    expect_round_trip(rec);
    rec.deliveries.clear();
    expect_round_trip(rec);
    expect_round_trip(DeliveryUnrecover{"wh_1", 0, {}});
    AttemptDone ok = attempt_done();
    ok.outcome = AttemptOutcome::succeeded;
    ok.attempt.response_status = 0;
    ok.attempt.error.clear();
    ok.attempt.response.clear();
    expect_round_trip(ok);
    AttemptDone failed = attempt_done();
    failed.outcome = AttemptOutcome::failed;
    failed.disable = "endpoint_gone";
    expect_round_trip(failed);
    for (auto s : {DeliveryStatus::pending, DeliveryStatus::succeeded, DeliveryStatus::failed}) {
        DeliveryRestore r = delivery_restore();
        r.status = s;
        expect_round_trip(r);
        r.node.clear();
        expect_round_trip(r);
        expect_round_trip(DeliveryUnreplay{"dlv_1", s});
    }
}

TEST(Mutation, RoundTripExtremeIntegers) {
    KeyPut k = key_put();
    k.scopes = UINT32_MAX;
    k.created_at = INT64_MIN;
    k.expires_at = INT64_MAX;
    expect_round_trip(k);
    AttemptDone a = attempt_done();
    a.token = UINT32_MAX;
    a.number = UINT32_MAX;
    a.attempt.response_status = INT32_MIN;
    a.attempt.response_time_ms = INT64_MAX;
    expect_round_trip(a);
    DeliveryRestore r = delivery_restore();
    r.attempts = UINT32_MAX;
    r.last_status = INT32_MAX;
    r.last_time_ms = INT32_MIN;
    expect_round_trip(r);
    expect_round_trip(IdempotencyRestore{"k", "e", UINT32_MAX, INT64_MIN});
    expect_round_trip(ReplaySeen{replay_key(), INT64_MIN});
    expect_round_trip(ReplaySeen{replay_key(), INT64_MAX});
    expect_round_trip(DeliveryReplay{"d", INT64_MAX, "n"});
    DeliveryRecover rec = delivery_recover();
    rec.since_ms = INT64_MIN;
    rec.until_ms = INT64_MAX;
    rec.tag = UINT32_MAX;
    expect_round_trip(rec);
    EndpointPut ep = endpoint_put();
    ep.expect_revision = 0;
    expect_round_trip(ep);
    ep.expect_revision = static_cast<uint64_t>(INT64_MAX);
    expect_round_trip(ep);
}

TEST(Mutation, StringsOfAnyBytesAreStoredRepaired) {
    // Invalid UTF-8 and NUL become U+FFFD (so the record always parses
    // again); valid multi-byte text is kept as is.
    KeyPut k = key_put();
    k.label = std::string("caf\xc3\xa9 \xe9t\xe9 a\0b", 13);
    std::string err;
    auto back = decode(encode(k), &err);
    ASSERT_TRUE(back) << err;
    EXPECT_EQ(std::get<KeyPut>(*back).label, "caf\xc3\xa9 \xef\xbf\xbdt\xef\xbf\xbd a\xef\xbf\xbd" "b");
    // The hash is hex on the wire: any 32 bytes survive.
    std::string raw;
    for (int i = 0; i < 32; i++) raw.push_back(static_cast<char>(0xe0 + i % 32));
    raw[0] = '\0';
    k.hash = raw;
    back = decode(encode(k), &err);
    ASSERT_TRUE(back) << err;
    EXPECT_EQ(std::get<KeyPut>(*back).hash, raw);

    EndpointPut ep = endpoint_put();
    ep.events = {"room.\xff", std::string("a\0", 2)};
    back = decode(encode(ep), &err);
    ASSERT_TRUE(back) << err;
    EXPECT_EQ(std::get<EndpointPut>(*back).events,
              (std::vector<std::string>{"room.\xef\xbf\xbd", "a\xef\xbf\xbd"}));

    AttemptDone a = attempt_done();
    a.attempt.response = "donn\xe9" "es";   // a Latin-1 excerpt
    back = decode(encode(a), &err);
    ASSERT_TRUE(back) << err;
    EXPECT_EQ(std::get<AttemptDone>(*back).attempt.response, "donn\xef\xbf\xbd" "es");

    // The node is a string like any other; a replay key is hex on the wire.
    EventPut ev = event_put();
    ev.node = "edge\xff";
    back = decode(encode(ev), &err);
    ASSERT_TRUE(back) << err;
    EXPECT_EQ(std::get<EventPut>(*back).node, "edge\xef\xbf\xbd");
    ReplaySeen seen{raw, 1};
    back = decode(encode(seen), &err);
    ASSERT_TRUE(back) << err;
    EXPECT_EQ(std::get<ReplaySeen>(*back).key, raw);
}

// --- exact wire text --------------------------------------------------------------------
// What the zone wrote before this code existed (see fuzz/gen_seeds.cpp and
// src/ngx): member names, order and kinds may not drift.

TEST(Mutation, WireTextOfEveryOp) {
    const std::pair<Mutation, const char*> cases[] = {
        {SnapshotHeader{}, R"({"op":"snapshot"})"},
        {key_put(),
         R"({"op":"key.put","id":"key_4f8Kq2ZxVb7LmN3p","hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","display":"sk_AbCdE","resource":"room:r_42","label":"OBS","scopes":1,"created_at":1731705121,"expires_at":0})"},
        {KeyDel{"key_1"}, R"({"op":"key.del","id":"key_1"})"},
        {LimitsPut{"acme", 5, 20, std::nullopt}, R"({"op":"limits.put","tenant":"acme","max_keys":5,"max_webhooks":20})"},
        {LimitsPut{"acme", -1, -1, -1},
         R"({"op":"limits.put","tenant":"acme","max_keys":-1,"max_webhooks":-1,"max_pending":-1})"},
        {LimitsPut{"acme", std::nullopt, std::nullopt, 3}, R"({"op":"limits.put","tenant":"acme","max_pending":3})"},
        {endpoint_put(),
         R"({"op":"endpoint.put","id":"wh_9ZxY","tenant":"acme","url":"https://hooks.example.com/in","name":"prod","description":"Production receiver","events":["room.*","show.start"],"secret":"whsec_new","old_secret":"whsec_old","old_secret_until":1731708721,"timeout_ms":30000,"enabled":false,"disabled_reason":"too many failures","created_at":1731705121,"updated_at":1731705200,"expect_revision":7})"},
        {EndpointDel{"wh_9ZxY"}, R"({"op":"endpoint.del","id":"wh_9ZxY"})"},
        {EndpointStatus{"wh_9ZxY", "timeout", 1731705121000, 1731700000000},
         R"({"op":"endpoint.status","id":"wh_9ZxY","last_error":"timeout","last_error_at":1731705121000,"failing_since":1731700000000})"},
        {event_put(),
         R"({"op":"event.put","id":"evt_1","tenant":"acme","type":"room.on_air","payload":"{\"type\":\"room.on_air\",\"data\":{}}","created_at_ms":1731705121123,"idempotency":"acme\u001Forder-17","deliveries":[{"id":"dlv_1","endpoint":"wh_9ZxY"},{"id":"dlv_2","endpoint":"wh_other"}],"node":"edge-1","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","tracestate":"congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"})"},
        {EventPut{"evt_2", "acme", "t", "", 5, "", {}, "", false, "", ""},
         R"({"op":"event.put","id":"evt_2","tenant":"acme","type":"t","payload":"","created_at_ms":5,"deliveries":[]})"},
        {EventPut{"evt_3", "acme", "t", "", 5, "", {}, "edge-1", true, "", ""},
         R"({"op":"event.put","id":"evt_3","tenant":"acme","type":"t","payload":"","created_at_ms":5,"deliveries":[],"restore":true,"node":"edge-1"})"},
        {EventPut{"evt_4", "acme", "t", "", 5, "", {}, "", true, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", ""},
         R"({"op":"event.put","id":"evt_4","tenant":"acme","type":"t","payload":"","created_at_ms":5,"deliveries":[],"restore":true,"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"})"},
        {EventDel{"evt_1", idempotency_slot("acme", "k")},
         R"({"op":"event.del","id":"evt_1","idempotency":"acme\u001Fk"})"},
        {EventDel{"evt_1", ""}, R"({"op":"event.del","id":"evt_1"})"},
        {attempt_done(),
         R"({"op":"attempt.done","delivery":"dlv_1","token":3,"number":1,"outcome":"retry","next_attempt_at":1731705181000,"attempt":{"at":1731705121000,"time":"2024-11-15T21:12:01Z","response_status":503,"response_time_ms":12,"error":"http_503","response":"busy"}})"},
        {AttemptDone{"dlv_2", 9, 2, AttemptOutcome::succeeded, 0, "", {1731705121999, 0, 40, "", ""}},
         R"({"op":"attempt.done","delivery":"dlv_2","token":9,"number":2,"outcome":"succeeded","next_attempt_at":0,"attempt":{"at":1731705121999,"time":"2024-11-15T21:12:01Z","response_status":null,"response_time_ms":40,"error":null,"response":""}})"},
        {AttemptDone{"dlv_3", 1, 5, AttemptOutcome::failed, 0, "endpoint_gone", {0, 410, 3, "http_410", "gone"}},
         R"({"op":"attempt.done","delivery":"dlv_3","token":1,"number":5,"outcome":"failed","next_attempt_at":0,"disable":"endpoint_gone","attempt":{"at":0,"time":"1970-01-01T00:00:00Z","response_status":410,"response_time_ms":3,"error":"http_410","response":"gone"}})"},
        {DeliveryReplay{"dlv_1", 1731705300000, ""}, R"({"op":"delivery.replay","id":"dlv_1","at":1731705300000})"},
        {DeliveryReplay{"dlv_1", 1731705300000, "edge-2"},
         R"({"op":"delivery.replay","id":"dlv_1","at":1731705300000,"node":"edge-2"})"},
        {DeliveryUnreplay{"dlv_1", DeliveryStatus::failed}, R"({"op":"delivery.unreplay","id":"dlv_1","status":"failed"})"},
        {delivery_restore(),
         R"({"op":"delivery.restore","id":"dlv_1","event":"evt_1","endpoint":"wh_9ZxY","status":2,"attempts":4,"last_status":500,"last_time_ms":87,"created_at_ms":1731705121000,"next_attempt_at":1731705999000,"last_error":"http_500","history":"[{\"at\":1,\"time\":\"1970-01-01T00:00:00Z\",\"response_status\":500,\"response_time_ms\":87,\"error\":\"http_500\",\"response\":\"\"}]","node":"edge-1"})"},
        {DeliveryRestore{"dlv_2", "evt_2", "wh_1", DeliveryStatus::pending, 0, 0, 0, 5, 6, "", "[]", ""},
         R"({"op":"delivery.restore","id":"dlv_2","event":"evt_2","endpoint":"wh_1","status":0,"attempts":0,"last_status":0,"last_time_ms":0,"created_at_ms":5,"next_attempt_at":6,"last_error":"","history":"[]"})"},
        {IdempotencyRestore{"acme\x1fk", "evt_1", 2, 1731791521000},
         R"({"op":"idempotency.restore","key":"acme\u001Fk","event":"evt_1","deliveries":2,"expires":1731791521000})"},
        {DeliveryAdopt{"edge-1", "edge-2"}, R"({"op":"delivery.adopt","from":"edge-1","to":"edge-2"})"},
        {ReplaySeen{replay_key(), 1731705421},
         R"({"op":"replay.seen","key":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f","expires":1731705421})"},
        {ReplaySeen{hash_of_test(), 0},
         R"({"op":"replay.seen","key":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","expires":0})"},
        {delivery_recover(),
         R"({"op":"delivery.recover","endpoint":"wh_9ZxY","since_ms":1731705000123,"until_ms":1731705300000,"at":1731705300456,"node":"edge-2","tag":1515870810,"deliveries":["dlv_1","dlv_2","dlv_3"]})"},
        {DeliveryRecover{"wh_1", 0, 5, 6, "", 2, {}},
         R"({"op":"delivery.recover","endpoint":"wh_1","since_ms":0,"until_ms":5,"at":6,"tag":2,"deliveries":[]})"},
        {DeliveryUnrecover{"wh_1", 2, {"dlv_1"}},
         R"({"op":"delivery.unrecover","endpoint":"wh_1","tag":2,"deliveries":["dlv_1"]})"},
    };
    for (const auto& [m, text] : cases) {
        EXPECT_EQ(encode(m), text);
        // And the text reads back as the record.
        std::string err;
        auto back = decode(text, &err);
        ASSERT_TRUE(back) << text << ": " << err;
        EXPECT_EQ(encode(*back), text);
    }
}

TEST(Mutation, ReadsRecordsAsTheZoneWroteThem) {
    // fuzz/gen_seeds.cpp's journal records, byte for byte.
    const char* seeds[] = {
        R"({"op":"key.put","id":"key_4f8Kq2ZxVb7LmN3p","hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","display":"sk_AbCdE","resource":"room:r_42","label":"OBS","scopes":1,"created_at":1731705121,"expires_at":0})",
        R"({"op":"limits.put","tenant":"acme","max_keys":5,"max_webhooks":20})",
        R"({"op":"endpoint.put","id":"wh_9ZxY","tenant":"acme","url":"https://hooks.example.com/in","name":"prod","description":"","events":["room.*"],"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","old_secret":"","old_secret_until":0,"timeout_ms":10000,"enabled":true,"disabled_reason":"","created_at":1731705121,"updated_at":1731705121})",
        R"({"op":"attempt.done","delivery":"dlv_1","token":3,"number":1,"outcome":"retry","next_attempt_at":1731705181000,"attempt":{"at":1731705121000,"time":"2024-11-15T21:12:01Z","response_status":503,"response_time_ms":12,"error":"http_503","response":"busy"}})",
        R"({"op":"key.del","id":"key_4f8Kq2ZxVb7LmN3p"})",
    };
    for (const char* text : seeds) {
        std::string err;
        auto m = decode(text, &err);
        ASSERT_TRUE(m) << text << ": " << err;
        EXPECT_EQ(encode(*m), text);
    }
    std::string err;
    auto k = decode(seeds[0], &err);
    ASSERT_TRUE(k) << err;
    EXPECT_EQ(fields(std::get<KeyPut>(*k)), fields(key_put()));
    // Upper-case hex is read too (hex_decode accepts it); written lower.
    std::string upper = seeds[0];
    upper.replace(upper.find("9f86d0"), 6, "9F86D0");
    k = decode(upper, &err);
    ASSERT_TRUE(k) << err;
    EXPECT_EQ(std::get<KeyPut>(*k).hash, hash_of_test());
}

// Records written before fleets (no "node"): still read, with the node
// empty, and written again byte for byte.
TEST(Mutation, OlderRecordsWithoutNodeDecode) {
    const char* event =
        R"({"op":"event.put","id":"evt_1","tenant":"acme","type":"room.on_air","payload":"{}","created_at_ms":1731705121000,"deliveries":[{"id":"dlv_1","endpoint":"wh_9ZxY"}]})";
    const char* replay = R"({"op":"delivery.replay","id":"dlv_1","at":1731705300000})";
    const char* restore =
        R"({"op":"delivery.restore","id":"dlv_1","event":"evt_1","endpoint":"wh_9ZxY","status":0,"attempts":1,"last_status":503,"last_time_ms":12,"created_at_ms":1731705121000,"next_attempt_at":1731705181000,"last_error":"http_503","history":"[]"})";
    std::string err;
    auto m = decode(event, &err);
    ASSERT_TRUE(m) << err;
    const auto& ev = std::get<EventPut>(*m);
    EXPECT_TRUE(ev.node.empty());
    EXPECT_EQ(targets(ev.deliveries), (std::vector<std::pair<std::string, std::string>>{{"dlv_1", "wh_9ZxY"}}));
    EXPECT_EQ(encode(*m), event);
    m = decode(replay, &err);
    ASSERT_TRUE(m) << err;
    EXPECT_EQ(fields(std::get<DeliveryReplay>(*m)), fields(DeliveryReplay{"dlv_1", 1731705300000, ""}));
    EXPECT_EQ(encode(*m), replay);
    m = decode(restore, &err);
    ASSERT_TRUE(m) << err;
    const auto& r = std::get<DeliveryRestore>(*m);
    EXPECT_EQ(r.id, "dlv_1");
    EXPECT_EQ(r.status, DeliveryStatus::pending);
    EXPECT_EQ(r.attempts, 1u);
    EXPECT_TRUE(r.node.empty());
    EXPECT_EQ(encode(*m), restore);
    // An empty node written by hand reads as none, and is then left out.
    m = decode(R"({"op":"delivery.replay","id":"dlv_1","at":1,"node":""})", &err);
    ASSERT_TRUE(m) << err;
    EXPECT_TRUE(std::get<DeliveryReplay>(*m).node.empty());
    EXPECT_EQ(encode(*m), R"({"op":"delivery.replay","id":"dlv_1","at":1})");
}

// A recover record written without a node (state= and memory zones) reads
// with it empty, and is written again byte for byte; members a later
// writer may add are ignored.
TEST(Mutation, RecoverRecordsWithoutOptionalMembersDecode) {
    const char* text =
        R"({"op":"delivery.recover","endpoint":"wh_1","since_ms":1,"until_ms":2,"at":3,"tag":4,"deliveries":["dlv_1"]})";
    std::string err;
    auto m = decode(text, &err);
    ASSERT_TRUE(m) << err;
    EXPECT_EQ(fields(std::get<DeliveryRecover>(*m)), fields(DeliveryRecover{"wh_1", 1, 2, 3, "", 4, {"dlv_1"}}));
    EXPECT_EQ(encode(*m), text);
    m = decode(R"({"op":"delivery.unrecover","endpoint":"wh_1","tag":4,"deliveries":[],"later":{"x":1}})", &err);
    ASSERT_TRUE(m) << err;
    EXPECT_EQ(fields(std::get<DeliveryUnrecover>(*m)), fields(DeliveryUnrecover{"wh_1", 4, {}}));
    // Many deliveries in one record (a recover takes up to 1000 per call).
    DeliveryRecover big = delivery_recover();
    big.deliveries.clear();
    for (int i = 0; i < 1000; i++) big.deliveries.push_back("dlv_" + std::to_string(100000 + i) + "abcdefghijklmn");
    expect_round_trip(big);
}

TEST(Mutation, ReplaySeenKeyIsHex) {
    std::string text = std::string(R"({"op":"replay.seen","key":")") + replay_key_hex + R"(","expires":1731705421})";
    std::string err;
    auto m = decode(text, &err);
    ASSERT_TRUE(m) << err;
    EXPECT_EQ(fields(std::get<ReplaySeen>(*m)), fields(ReplaySeen{replay_key(), 1731705421}));
    EXPECT_EQ(std::get<ReplaySeen>(*m).key.size(), 32u);
    EXPECT_EQ(encode(*m), text);
    // Upper-case hex is read too; written lower.
    std::string upper = text;
    upper.replace(upper.find("0a0b0c0d0e0f"), 12, "0A0B0C0D0E0F");
    m = decode(upper, &err);
    ASSERT_TRUE(m) << err;
    EXPECT_EQ(std::get<ReplaySeen>(*m).key, replay_key());
    EXPECT_EQ(encode(*m), text);
    // Negative expiry times are not the decoder's business: read as written.
    m = decode(std::string(R"({"op":"replay.seen","key":")") + replay_key_hex + R"(","expires":-1})", &err);
    ASSERT_TRUE(m) << err;
    EXPECT_EQ(std::get<ReplaySeen>(*m).expires, -1);
}

TEST(Mutation, SnapshotEventsCarryRestore) {
    // A snapshot's events say so on the wire, for a reader that goes by the
    // flag rather than the mode (an older module after a rollback).
    const char* text =
        R"({"op":"event.put","id":"evt_1","tenant":"acme","type":"room.on_air","payload":"{}","created_at_ms":1731705121000,"deliveries":[],"restore":true})";
    std::string err;
    auto m = decode(text, &err);
    ASSERT_TRUE(m) << err;
    const auto& ev = std::get<EventPut>(*m);
    EXPECT_EQ(ev.id, "evt_1");
    EXPECT_EQ(ev.tenant, "acme");
    EXPECT_EQ(ev.type, "room.on_air");
    EXPECT_EQ(ev.payload, "{}");
    EXPECT_EQ(ev.created_at_ms, 1731705121000);
    EXPECT_TRUE(ev.idempotency.empty());
    EXPECT_TRUE(ev.deliveries.empty());
    EXPECT_TRUE(ev.restore);
    EXPECT_EQ(encode(*m), text);
    // A live event does not carry it; a non-boolean is refused.
    EventPut live = std::get<EventPut>(*m);
    live.restore = false;
    EXPECT_EQ(encode(live).find("restore"), std::string::npos);
    EXPECT_EQ(decode_error(R"({"op":"event.put","id":"e","tenant":"t","type":"x","payload":"","created_at_ms":1,"deliveries":[],"restore":1})"),
              R"(event.put: "restore" must be true or false)");
}

// The publisher's trace context: written only when there is one, read back
// as written, absent from an older module's records, and held to the form
// the publish path keeps (it goes into every attempt's request headers).
TEST(Mutation, EventTraceContext) {
    const char* older =
        R"({"op":"event.put","id":"evt_1","tenant":"acme","type":"room.on_air","payload":"{}","created_at_ms":1731705121000,"deliveries":[{"id":"dlv_1","endpoint":"wh_9ZxY"}],"node":"edge-1"})";
    std::string err;
    auto m = decode(older, &err);
    ASSERT_TRUE(m) << err;
    EXPECT_TRUE(std::get<EventPut>(*m).traceparent.empty());
    EXPECT_TRUE(std::get<EventPut>(*m).tracestate.empty());
    EXPECT_EQ(encode(*m), older);

    EventPut ev = event_put();
    expect_round_trip(ev);
    ev.tracestate.clear();
    expect_round_trip(ev);
    EXPECT_EQ(encode(ev).find("tracestate"), std::string::npos);
    ev.traceparent.clear();
    EXPECT_EQ(encode(ev).find("trace"), std::string::npos);

    const std::pair<const char*, const char*> bad[] = {
        {"traceparent", "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01"},
        {"traceparent", "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        {"traceparent", " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\nX: 1"},
        {"traceparent", "00-00000000000000000000000000000000-b7ad6b7169203331-01"},
        {"tracestate", "congo=t61rcWkgMzE\r\nX-Injected: 1"},
        {"tracestate", "a=1, b=2"},
        {"tracestate", "a=1,a=2"},
    };
    for (const auto& [key, value] : bad) {
        std::string text = with(event_put(), key, json_string(value));
        err = decode_error(text);
        EXPECT_EQ(err.rfind(std::string("event.put: \"") + key + "\" must be a W3C ", 0), 0u) << err;
    }
    EXPECT_EQ(decode_error(with(event_put(), "tracestate", json_string(("k=" + std::string(256, 'v') + ",l=" +
                                                                         std::string(256, 'v')).c_str()))),
              R"(event.put: "tracestate" must be a W3C tracestate of at most 512 bytes)");
}

TEST(Mutation, EventPutNeedsItsTimeInMilliseconds) {
    // No fallback to another field: a record says what it means or is refused.
    EXPECT_EQ(decode_error(R"({"op":"event.put","id":"e","tenant":"t","type":"x","payload":"","created_at":1731705121,"deliveries":[]})"),
              R"(event.put: "created_at_ms" must be an integer)");
}

TEST(Mutation, LimitsPutOptionalsAbsent) {
    std::string err;
    auto m = decode(R"({"op":"limits.put","tenant":"acme","max_webhooks":-1})", &err);
    ASSERT_TRUE(m) << err;
    const auto& l = std::get<LimitsPut>(*m);
    EXPECT_EQ(l.tenant, "acme");
    EXPECT_FALSE(l.max_keys.has_value());
    EXPECT_EQ(l.max_webhooks, std::optional<int64_t>(-1));
    EXPECT_FALSE(l.max_pending.has_value());
    m = decode(R"({"op":"limits.put","tenant":"acme"})", &err);
    ASSERT_TRUE(m) << err;
    EXPECT_EQ(fields(std::get<LimitsPut>(*m)), fields(LimitsPut{"acme", {}, {}, {}}));
}

// --- decode errors -------------------------------------------------------------------

TEST(MutationDecode, NotJsonOrNotAnObject) {
    for (const char* bad : {"", " ", "{", R"({"op":"key.del","id":"k"} x)", R"({"op":"key.del","op":"key.del","id":"k"})",
                            "{\"op\":\"key.del\",\"id\":\"\xff\"}", "{'op':'snapshot'}"}) {
        std::string err = decode_error(bad);
        EXPECT_EQ(err.rfind("not valid JSON: ", 0), 0u) << bad << " → " << err;
    }
    for (const char* bad : {"[]", R"(["op","snapshot"])", R"("snapshot")", "42", "null", "true"})
        EXPECT_EQ(decode_error(bad), "not a JSON object") << bad;
    for (const char* bad : {"{}", R"({"op":1})", R"({"op":null})", R"({"Op":"snapshot"})"})
        EXPECT_EQ(decode_error(bad), R"("op" must be a string)") << bad;
}

TEST(MutationDecode, UnknownOp) {
    EXPECT_EQ(decode_error(R"({"op":"key.bogus","id":"k"})"), R"(unknown op "key.bogus")");
    EXPECT_EQ(decode_error(R"({"op":""})"), R"(unknown op "")");
    EXPECT_EQ(decode_error(R"({"op":"KEY.PUT"})"), R"(unknown op "KEY.PUT")");
    // A long op is quoted short.
    std::string err = decode_error(R"({"op":")" + std::string(1000, 'x') + "\"}");
    EXPECT_LT(err.size(), 100u);
}

TEST(MutationDecode, EveryWrittenMemberIsRequired) {
    // Each member the encoder always writes: taken out, or given a value of
    // another kind, the record is refused, naming the op and the member.
    const std::vector<std::string> optional = {"max_keys", "max_webhooks", "max_pending", "expect_revision",
                                               "idempotency", "disable",         "node",        "traceparent",
                                               "tracestate"};
    for (const Mutation& m : samples()) {
        Json o = json_parse(encode(m), nullptr);
        const char* key;
        json_t* value;
        json_object_foreach(o.get(), key, value) {
            if (std::string_view(key) == "op") continue;
            std::string prefix = std::string(op_name(m)) + ": \"" + key + "\" ";
            std::string err = decode_error(with(m, key, wrong_kind(value)));
            EXPECT_EQ(err.rfind(prefix, 0), 0u) << err;
            bool opt = std::find(optional.begin(), optional.end(), key) != optional.end();
            std::string text = with(m, key, nullptr);
            if (opt) {
                EXPECT_TRUE(decode(text, nullptr).has_value()) << text;
                continue;
            }
            err = decode_error(text);
            EXPECT_EQ(err.rfind(prefix, 0), 0u) << err;
        }
    }
}

TEST(MutationDecode, EveryAttemptMemberIsRequired) {
    Json o = json_parse(encode(attempt_done()), nullptr);
    json_t* at = json_object_get(o.get(), "attempt");
    const char* key;
    json_t* value;
    json_object_foreach(at, key, value) {
        std::string prefix = std::string("attempt.done: \"attempt.") + key + "\" ";
        Json missing(json_deep_copy(o.get()));
        json_object_del(json_object_get(missing.get(), "attempt"), key);
        std::string err = decode_error(json_dump(missing.get()));
        EXPECT_EQ(err.rfind(prefix, 0), 0u) << err;
        Json wrong(json_deep_copy(o.get()));
        json_object_set_new(json_object_get(wrong.get(), "attempt"), key, json_array());
        err = decode_error(json_dump(wrong.get()));
        EXPECT_EQ(err.rfind(prefix, 0), 0u) << err;
    }
}

TEST(MutationDecode, ExactMessages) {
    const std::pair<std::string, const char*> cases[] = {
        {with(key_put(), "id", nullptr), R"(key.put: "id" must be a string)"},
        {with(key_put(), "id", json_string("")), R"(key.put: "id" must not be empty)"},
        {with(key_put(), "resource", json_string("")), R"(key.put: "resource" must not be empty)"},
        {with(key_put(), "scopes", json_string("1")), R"(key.put: "scopes" must be an integer)"},
        {with(key_put(), "scopes", json_real(1.0)), R"(key.put: "scopes" must be an integer)"},
        {with(key_put(), "scopes", json_integer(-1)), R"(key.put: "scopes" must be an integer from 0 to 4294967295)"},
        {with(key_put(), "scopes", json_integer(4294967296)),
         R"(key.put: "scopes" must be an integer from 0 to 4294967295)"},
        {with(key_put(), "label", json_null()), R"(key.put: "label" must be a string)"},
        {with(endpoint_put(), "enabled", json_integer(1)), R"(endpoint.put: "enabled" must be true or false)"},
        {with(endpoint_put(), "enabled", json_string("true")), R"(endpoint.put: "enabled" must be true or false)"},
        {with(endpoint_put(), "events", json_string("room.*")), R"(endpoint.put: "events" must be an array of strings)"},
        {with(endpoint_put(), "events", json_pack("[s,i]", "room.*", 1)),
         R"(endpoint.put: "events" must be an array of strings)"},
        {with(endpoint_put(), "expect_revision", json_integer(-1)),
         R"(endpoint.put: "expect_revision" must not be negative)"},
        {with(endpoint_put(), "expect_revision", json_null()), R"(endpoint.put: "expect_revision" must be an integer)"},
        {with(LimitsPut{"acme", 1, {}, {}}, "max_keys", json_string("5")), R"(limits.put: "max_keys" must be an integer)"},
        {with(LimitsPut{"acme", 1, {}, {}}, "tenant", json_string("")), R"(limits.put: "tenant" must not be empty)"},
        {with(event_put(), "deliveries", json_object()), R"(event.put: "deliveries" must be an array)"},
        {with(event_put(), "deliveries", json_pack("[s]", "dlv_1")), R"(event.put: "deliveries[0]" must be an object)"},
        {with(event_put(), "deliveries", json_pack("[{ssss}{ss}]", "id", "d1", "endpoint", "w", "id", "d2")),
         R"(event.put: "deliveries[1].endpoint" must be a string)"},
        {with(event_put(), "deliveries", json_pack("[{ss}]", "id", "", "endpoint", "w")),
         R"(event.put: "deliveries[0].id" must not be empty)"},
        {with(event_put(), "idempotency", json_integer(1)), R"(event.put: "idempotency" must be a string)"},
        {with(EventDel{"e", ""}, "idempotency", json_null()), R"(event.del: "idempotency" must be a string)"},
        {with(attempt_done(), "outcome", json_string("maybe")),
         R"(attempt.done: "outcome" must be "succeeded", "retry" or "failed")"},
        {with(attempt_done(), "token", json_integer(4294967296)),
         R"(attempt.done: "token" must be an integer from 0 to 4294967295)"},
        {with(attempt_done(), "number", json_integer(-1)),
         R"(attempt.done: "number" must be an integer from 0 to 4294967295)"},
        {with(attempt_done(), "attempt", json_null()), R"(attempt.done: "attempt" must be an object)"},
        {with(attempt_done(), "attempt", json_pack("{sIsssssIsnss}", "at", (json_int_t)1, "time", "x",
                                                   "response_status", "503", "response_time_ms", (json_int_t)1,
                                                   "error", "response", "")),
         R"(attempt.done: "attempt.response_status" must be an integer)"},
        {with(attempt_done(), "attempt", json_pack("{sIsssIsIsiss}", "at", (json_int_t)1, "time", "x",
                                                   "response_status", (json_int_t)2147483648, "response_time_ms",
                                                   (json_int_t)1, "error", 5, "response", "")),
         R"(attempt.done: "attempt.response_status" must be an integer from -2147483648 to 2147483647)"},
        {with(attempt_done(), "disable", json_false()), R"(attempt.done: "disable" must be a string)"},
        {with(DeliveryUnreplay{"d", DeliveryStatus::failed}, "status", json_string("done")),
         R"(delivery.unreplay: "status" must be "pending", "succeeded" or "failed")"},
        {with(DeliveryUnreplay{"d", DeliveryStatus::failed}, "status", json_integer(2)),
         R"(delivery.unreplay: "status" must be a string)"},
        {with(delivery_restore(), "status", json_integer(3)), R"(delivery.restore: "status" must be 0, 1 or 2)"},
        {with(delivery_restore(), "status", json_integer(-1)), R"(delivery.restore: "status" must be 0, 1 or 2)"},
        {with(delivery_restore(), "status", json_string("failed")), R"(delivery.restore: "status" must be an integer)"},
        {with(delivery_restore(), "last_time_ms", json_integer(2147483648)),
         R"(delivery.restore: "last_time_ms" must be an integer from -2147483648 to 2147483647)"},
        {with(delivery_restore(), "attempts", json_integer(-1)),
         R"(delivery.restore: "attempts" must be an integer from 0 to 4294967295)"},
        {with(delivery_restore(), "history", json_array()), R"(delivery.restore: "history" must be a string)"},
        {with(delivery_restore(), "event", json_string("")), R"(delivery.restore: "event" must not be empty)"},
        {with(IdempotencyRestore{"k", "e", 1, 2}, "deliveries", json_integer(-2)),
         R"(idempotency.restore: "deliveries" must be an integer from 0 to 4294967295)"},
        {with(IdempotencyRestore{"k", "e", 1, 2}, "expires", nullptr), R"(idempotency.restore: "expires" must be an integer)"},
        {with(DeliveryReplay{"d", 1, ""}, "at", json_string("now")), R"(delivery.replay: "at" must be an integer)"},
        {with(EndpointStatus{"w", "", 0, 0}, "last_error", nullptr), R"(endpoint.status: "last_error" must be a string)"},
        {with(KeyDel{"k"}, "id", json_string("")), R"(key.del: "id" must not be empty)"},
        {with(EndpointDel{"w"}, "id", json_integer(7)), R"(endpoint.del: "id" must be a string)"},
        {with(event_put(), "node", json_integer(1)), R"(event.put: "node" must be a string)"},
        {with(event_put(), "node", json_null()), R"(event.put: "node" must be a string)"},
        {with(DeliveryReplay{"d", 1, "n"}, "node", json_true()), R"(delivery.replay: "node" must be a string)"},
        {with(DeliveryReplay{"d", 1, ""}, "node", json_array()), R"(delivery.replay: "node" must be a string)"},
        {with(delivery_restore(), "node", json_integer(0)), R"(delivery.restore: "node" must be a string)"},
        {with(DeliveryAdopt{"a", "b"}, "from", json_string("")), R"(delivery.adopt: "from" must not be empty)"},
        {with(DeliveryAdopt{"a", "b"}, "to", json_string("")), R"(delivery.adopt: "to" must not be empty)"},
        {with(DeliveryAdopt{"a", "b"}, "from", nullptr), R"(delivery.adopt: "from" must be a string)"},
        {with(DeliveryAdopt{"a", "b"}, "to", json_integer(2)), R"(delivery.adopt: "to" must be a string)"},
        {R"({"op":"delivery.adopt"})", R"(delivery.adopt: "from" must be a string)"},
        {with(ReplaySeen{replay_key(), 1}, "key", json_string("00")), R"(replay.seen: "key" must be 64 hex digits)"},
        {with(ReplaySeen{replay_key(), 1}, "key", json_string("")), R"(replay.seen: "key" must be 64 hex digits)"},
        {with(ReplaySeen{replay_key(), 1}, "key", nullptr), R"(replay.seen: "key" must be a string)"},
        {with(ReplaySeen{replay_key(), 1}, "key", json_integer(1)), R"(replay.seen: "key" must be a string)"},
        {with(ReplaySeen{replay_key(), 1}, "expires", nullptr), R"(replay.seen: "expires" must be an integer)"},
        {with(ReplaySeen{replay_key(), 1}, "expires", json_string("1")), R"(replay.seen: "expires" must be an integer)"},
        {with(ReplaySeen{replay_key(), 1}, "expires", json_real(1.5)), R"(replay.seen: "expires" must be an integer)"},
        {R"({"op":"replay.seen"})", R"(replay.seen: "key" must be a string)"},
        {with(delivery_recover(), "endpoint", json_string("")), R"(delivery.recover: "endpoint" must not be empty)"},
        {with(delivery_recover(), "since_ms", nullptr), R"(delivery.recover: "since_ms" must be an integer)"},
        {with(delivery_recover(), "until_ms", json_string("now")), R"(delivery.recover: "until_ms" must be an integer)"},
        {with(delivery_recover(), "at", json_real(1.5)), R"(delivery.recover: "at" must be an integer)"},
        {with(delivery_recover(), "node", json_null()), R"(delivery.recover: "node" must be a string)"},
        {with(delivery_recover(), "tag", json_integer(-1)),
         R"(delivery.recover: "tag" must be an integer from 0 to 4294967295)"},
        {with(delivery_recover(), "deliveries", nullptr), R"(delivery.recover: "deliveries" must be an array of delivery ids)"},
        {with(delivery_recover(), "deliveries", json_string("dlv_1")),
         R"(delivery.recover: "deliveries" must be an array of delivery ids)"},
        {with(delivery_recover(), "deliveries", json_pack("[ss]", "dlv_1", "")),
         R"(delivery.recover: "deliveries[1]" must be a non-empty string)"},
        {with(delivery_recover(), "deliveries", json_pack("[i]", 1)),
         R"(delivery.recover: "deliveries[0]" must be a non-empty string)"},
        {with(DeliveryUnrecover{"w", 2, {}}, "deliveries", json_object()),
         R"(delivery.unrecover: "deliveries" must be an array of delivery ids)"},
        {with(DeliveryUnrecover{"w", 2, {}}, "tag", json_string("2")), R"(delivery.unrecover: "tag" must be an integer)"},
        {with(delivery_recover(), "tag", nullptr), R"(delivery.recover: "tag" must be an integer)"},
        {R"({"op":"delivery.unrecover","deliveries":[]})", R"(delivery.unrecover: "endpoint" must be a string)"},
    };
    for (const auto& [text, want] : cases) EXPECT_EQ(decode_error(text), want) << text;
}

TEST(MutationDecode, BadHash) {
    for (const char* hash : {"", "9f86", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0",
                             "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0800",
                             "zf86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                             " 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0"})
        EXPECT_EQ(decode_error(with(key_put(), "hash", json_string(hash))), R"(key.put: "hash" must be 64 hex digits)")
            << hash;
    EXPECT_EQ(decode_error(with(key_put(), "hash", json_integer(1))), R"(key.put: "hash" must be a string)");
}

TEST(MutationDecode, BadReplayKey) {
    // The key is checked as key.put's hash is: 64 hex digits, no more, no less.
    std::string hex = replay_key_hex;
    for (const std::string& key : {std::string(), hex.substr(0, 4), hex.substr(0, 63), hex + "0", hex + "00",
                                   "z" + hex.substr(1), " " + hex.substr(1), hex.substr(0, 62) + "g0",
                                   hex.substr(0, 32)})
        EXPECT_EQ(decode_error(with(ReplaySeen{replay_key(), 1}, "key", json_string(key.c_str()))),
                  R"(replay.seen: "key" must be 64 hex digits)")
            << key;
    // The raw 32 bytes in the record (not hex) are refused too.
    EXPECT_EQ(decode_error(std::string(R"({"op":"replay.seen","key":")") + std::string(32, 'a') + R"(","expires":1})"),
              R"(replay.seen: "key" must be 64 hex digits)");
}

TEST(MutationDecode, ErrorMayBeNull) {
    EXPECT_FALSE(decode("{", nullptr).has_value());
    EXPECT_FALSE(decode(R"({"op":"x"})", nullptr).has_value());
    EXPECT_FALSE(decode(R"({"op":"key.del"})", nullptr).has_value());
    EXPECT_TRUE(decode(R"({"op":"key.del","id":"k"})", nullptr).has_value());
}

TEST(MutationDecode, DamagedRecordsNeverThrow) {
    // Every prefix and a byte flipped at every position of every sample:
    // refused or read, never an exception (or, under the sanitizers, worse).
    size_t read = 0, refused = 0;
    for (const Mutation& m : samples()) {
        std::string text = encode(m);
        for (size_t n = 0; n <= text.size(); n++) {
            std::string err;
            EXPECT_NO_THROW((decode(text.substr(0, n), &err) ? read : refused)++);
        }
        for (size_t i = 0; i < text.size(); i++) {
            for (char x : {'\x01', '\x20', '\x80'}) {
                std::string bad = text;
                bad[i] ^= x;
                std::string err;
                EXPECT_NO_THROW((decode(bad, &err) ? read : refused)++);
            }
        }
    }
    EXPECT_GT(read, 0u);
    EXPECT_GT(refused, 0u);
}

// --- the attempt log ------------------------------------------------------------------

namespace {

AttemptRecord attempt_at(int64_t at_ms) {
    AttemptRecord a;
    a.at_ms = at_ms;
    a.response_status = 500;
    a.response_time_ms = 20;
    a.error = "http_500";
    a.response = "oops";
    return a;
}

// One integer member of each entry of an attempt log (0: none).
std::vector<int64_t> members(const std::string& log, const char* key) {
    std::string err;
    Json arr = json_parse(log, &err);
    EXPECT_TRUE(arr && json_is_array(arr.get())) << log << err;
    std::vector<int64_t> out;
    size_t i;
    json_t* item;
    json_array_foreach(arr.get(), i, item) out.push_back(json_integer_value(json_object_get(item, key)));
    return out;
}

std::vector<int64_t> ats(const std::string& log) { return members(log, "at"); }
std::vector<int64_t> numbers(const std::string& log) { return members(log, "attempt"); }

// attempt_log_numbered's array, as text.
std::string numbered(std::string_view log, uint32_t attempts) {
    return json_dump(attempt_log_numbered(log, attempts).get());
}

}  // namespace

TEST(AttemptLog, AppendsTheAttemptAsTheRecordHasItWithItsNumber) {
    AttemptDone done = attempt_done();
    std::string log = attempt_log_append("", 1, done.attempt, 10);
    Json record = json_parse(encode(done), nullptr);
    EXPECT_EQ(log, "[{\"attempt\":1," + json_dump(json_object_get(record.get(), "attempt")).substr(1) + "]");
    EXPECT_EQ(log,
              R"([{"attempt":1,"at":1731705121000,"time":"2024-11-15T21:12:01Z","response_status":503,"response_time_ms":12,"error":"http_503","response":"busy"}])");
    AttemptRecord quiet;
    quiet.at_ms = 1000;
    quiet.response_time_ms = 5;
    EXPECT_EQ(attempt_log_append(log, 2, quiet, 10),
              log.substr(0, log.size() - 1) +
                  R"(,{"attempt":2,"at":1000,"time":"1970-01-01T00:00:01Z","response_status":null,"response_time_ms":5,"error":null,"response":""}])");
}

TEST(AttemptLog, KeepsTheNewest) {
    std::string log;
    for (int64_t at = 1; at <= 3; at++) log = attempt_log_append(log, at, attempt_at(at), 5);
    EXPECT_EQ(ats(log), (std::vector<int64_t>{1, 2, 3}));
    for (int64_t at = 4; at <= 7; at++) log = attempt_log_append(log, at, attempt_at(at), 5);
    EXPECT_EQ(ats(log), (std::vector<int64_t>{3, 4, 5, 6, 7}));
    // A smaller keep trims the backlog in one step.
    EXPECT_EQ(ats(attempt_log_append(log, 8, attempt_at(8), 2)), (std::vector<int64_t>{7, 8}));
    EXPECT_EQ(attempt_log_append(log, 8, attempt_at(8), 0), "[]");
    // Entries are kept as they are, whatever they hold.
    EXPECT_EQ(attempt_log_append(R"([{"x":1}])", 9, attempt_at(9), 2).substr(0, 9), R"([{"x":1},)");
}

TEST(AttemptLog, StartsAgainFromALogThatIsNotAnArray) {
    for (const char* bad : {"", "not json", "[1,", R"({"at":1})", "null", "\"[]\"", "\xff"}) {
        std::string log = attempt_log_append(bad, 42, attempt_at(42), 5);
        EXPECT_EQ(ats(log), std::vector<int64_t>{42}) << bad;
    }
}

TEST(AttemptLog, NumberedAsWritten) {
    std::string log;
    for (uint32_t n = 1; n <= 7; n++) log = attempt_log_append(log, n, attempt_at(n), 5);
    EXPECT_EQ(numbered(log, 7), log);   // nothing to add
    EXPECT_EQ(numbers(log), (std::vector<int64_t>{3, 4, 5, 6, 7}));
    // The number written wins over the delivery's count (a report that came late).
    EXPECT_EQ(numbers(numbered(log, 9)), (std::vector<int64_t>{3, 4, 5, 6, 7}));
}

// A log an older module wrote has no numbers: they come from the places.
TEST(AttemptLog, NumbersAnOlderLogByPlace) {
    std::string old_entry = R"({"at":1,"time":"1970-01-01T00:00:00Z","response_status":500,"response_time_ms":3,"error":"http_500","response":""})";
    std::string old_log = "[" + old_entry + "," + old_entry + "," + old_entry + "]";
    std::string renumbered = numbered(old_log, 5);
    EXPECT_EQ(numbers(renumbered), (std::vector<int64_t>{3, 4, 5}));
    EXPECT_EQ(renumbered.substr(0, 22), R"([{"attempt":3,"at":1,")");
    // Older entries, then numbered ones: counted back from the first number.
    std::string mixed = attempt_log_append(old_log, 6, attempt_at(6), 10);
    EXPECT_EQ(numbers(numbered(mixed, 6)), (std::vector<int64_t>{3, 4, 5, 6}));
    // Places that would come before the first attempt get no number.
    EXPECT_EQ(numbers(numbered(old_log, 2)), (std::vector<int64_t>{0, 1, 2}));
    EXPECT_EQ(numbered("", 0), "[]");
    EXPECT_EQ(numbered("not json", 3), "[]");
    EXPECT_EQ(numbered(R"({"at":1})", 3), "[]");
}

// The journal's attempt.done record is unchanged: one written before the
// attempt log kept numbers still decodes, with its number.
TEST(AttemptLog, AnOlderAttemptRecordStillDecodes) {
    const char* old_record =
        R"({"op":"attempt.done","delivery":"dlv_1","token":7,"number":2,"outcome":"retry","next_attempt_at":5000,)"
        R"("attempt":{"at":1000,"time":"1970-01-01T00:00:01Z","response_status":500,"response_time_ms":4,"error":"http_500","response":"x"}})";
    std::string err;
    auto m = decode(old_record, &err);
    ASSERT_TRUE(m) << err;
    const auto& done = std::get<AttemptDone>(*m);
    EXPECT_EQ(done.number, 2u);
    EXPECT_EQ(numbers(attempt_log_append("", done.number, done.attempt, 5)), (std::vector<int64_t>{2}));
}

// ---- describe_state ----------------------------------------------------------------

TEST(DescribeState, CountsWhatTheZoneHolds) {
    EXPECT_EQ(describe_state({}),
              "0 keys, 0 endpoints, 0 events, 0 deliveries (0 pending), 0 idempotency keys, limits for 0 tenants");
    std::vector<Mutation> state;
    state.emplace_back(SnapshotHeader{});
    state.emplace_back(KeyPut{});
    EndpointPut ep;
    state.emplace_back(ep);
    state.emplace_back(ep);
    state.emplace_back(EventPut{});
    DeliveryRestore pending, done;
    done.status = DeliveryStatus::succeeded;
    state.emplace_back(pending);
    state.emplace_back(done);
    state.emplace_back(IdempotencyRestore{});
    state.emplace_back(LimitsPut{});
    // Fleet records are no part of the count.
    state.emplace_back(DeliveryAdopt{"a", "b"});
    state.emplace_back(ReplaySeen{replay_key(), 1});
    EXPECT_EQ(describe_state(state),
              "1 key, 2 endpoints, 1 event, 2 deliveries (1 pending), 1 idempotency key, limits for 1 tenant");
}

// --- the attempt's texts, written without jansson --------------------------------------

namespace {

// Strings that exercise every escape and repair: controls, quotes, DEL,
// multi-byte UTF-8, invalid UTF-8, NUL, and every byte value once.
std::vector<std::string> awkward_strings() {
    std::vector<std::string> out = {"", "plain", "q\"uo\\te/slash", "\b\f\n\r\t\x01\x1f\x7f", std::string("n\0ul", 4),
                                    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "cut \xe2\x82", "latin1 \xe9t\xe9",
                                    "\xed\xa0\x80 surrogate", "\xc0\xaf overlong"};
    std::string all;
    for (int c = 0; c < 256; c++) all.push_back(static_cast<char>(c));
    out.push_back(all);
    return out;
}

}  // namespace

TEST(AttemptText, RecordIsWhatTheTreeDumps) {
    size_t checked = 0;
    for (const std::string& s : awkward_strings()) {
        for (auto outcome : {AttemptOutcome::succeeded, AttemptOutcome::retry, AttemptOutcome::failed}) {
            AttemptDone m = attempt_done();
            m.delivery = "dlv_" + s;
            m.outcome = outcome;
            m.token = 4294967295u;
            m.number = outcome == AttemptOutcome::failed ? 0 : 7;
            m.next_attempt_at = outcome == AttemptOutcome::retry ? -1 : 9223372036854775807LL;
            m.disable = outcome == AttemptOutcome::failed ? s + "x" : "";
            m.attempt.at_ms = outcome == AttemptOutcome::retry ? -1500 : 1731705121999;
            m.attempt.response_status = outcome == AttemptOutcome::succeeded ? 0 : 599;
            m.attempt.response_time_ms = -3;
            m.attempt.error = s;
            m.attempt.response = s + s;
            std::string text = encode(m);
            EXPECT_EQ(text, encode_tree(m));
            std::string err;
            EXPECT_TRUE(decode(text, &err).has_value()) << err;
            checked++;
        }
    }
    EXPECT_EQ(checked, awkward_strings().size() * 3);
    // Every other record type goes by way of the tree.
    for (const Mutation& m : samples()) EXPECT_EQ(encode(m), encode_tree(m)) << op_name(m);
}

TEST(AttemptText, FirstLogEntryIsWhatTheTreeDumps) {
    for (const std::string& s : awkward_strings()) {
        AttemptRecord a = attempt_done().attempt;
        a.error = s;
        a.response = s;
        for (int status : {0, 204}) {
            a.response_status = status;
            AttemptDone m = attempt_done();
            m.attempt = a;
            Json record = json_parse(encode_tree(m), nullptr);
            ASSERT_TRUE(record);
            std::string want = "[{\"attempt\":3," + json_dump(json_object_get(record.get(), "attempt")).substr(1) + "]";
            std::string log = attempt_log_append("", 3, a, 20);
            EXPECT_EQ(log, want);
            // The next entry goes by way of jansson, which keeps the first as written.
            std::string next = attempt_log_append(log, 4, a, 20);
            EXPECT_EQ(next.substr(0, log.size() - 1), log.substr(0, log.size() - 1));
            EXPECT_EQ(ats(next).size(), 2u);
        }
    }
    EXPECT_EQ(attempt_log_append("", 1, attempt_at(1), 0), "[]");
}

TEST(AttemptText, EventRecordIsWhatTheTreeDumps) {
    for (const std::string& s : awkward_strings()) {
        for (size_t n : {0, 1, 3}) {
            EventPut m = event_put();
            m.id = "evt_" + s;
            m.tenant = s;
            m.type = s + "t";
            m.payload = "{\"data\":" + s + "}";
            m.created_at_ms = n == 1 ? -1 : 1731705121999;
            m.idempotency = n == 3 ? idempotency_slot(s, "k") : "";
            m.deliveries.clear();
            for (size_t i = 0; i < n; i++) m.deliveries.push_back({"dlv_" + std::to_string(i) + s, "wh_" + s});
            m.restore = n == 1;
            m.node = n == 0 ? "" : s + "n";
            m.traceparent = n == 0 ? "" : s + "p";
            m.tracestate = n == 3 ? s + "s" : "";
            EXPECT_EQ(encode(m), encode_tree(m));
        }
    }
}
