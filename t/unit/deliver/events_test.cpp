// Unit tests for src/core/deliver/events: event types, the filters endpoints
// subscribe with, and the payload an event is delivered as.
#include <gtest/gtest.h>

#include <cctype>
#include <set>

#include <string>

#include "core/deliver/events.hpp"
#include "core/util/json.hpp"

using namespace webhook;

// ---- valid_event_type ---------------------------------------------------------------

TEST(EventType, Valid) {
    for (const char* t : {"room.created", "a", "0", "a.b.c", "user_signed-up:v2", "invoice.payment_failed",
                          "room..created"})
        EXPECT_TRUE(valid_event_type(t)) << t;
    EXPECT_TRUE(valid_event_type(std::string(kMaxEventType, 'a')));
}

TEST(EventType, Invalid) {
    for (const char* t : {"", ".", ".room", "room.", "Room.created", "ROOM", "room created", "room/created",
                          "room*", "*", "room.*", "room\n", "caf\xc3\xa9", "room+x", "room@x", "room,x"})
        EXPECT_FALSE(valid_event_type(t)) << t;
    EXPECT_FALSE(valid_event_type(std::string(kMaxEventType + 1, 'a')));
    EXPECT_FALSE(valid_event_type(std::string_view("a\0b", 3)));
}

// ---- valid_event_filter -------------------------------------------------------------

TEST(EventFilter, Valid) {
    for (const char* f : {"*", "room.*", "a.*", "a.b.*", "room.created", "user_signed-up:v2"})
        EXPECT_TRUE(valid_event_filter(f)) << f;
    EXPECT_TRUE(valid_event_filter(std::string(kMaxEventType, 'a') + ".*"));
}

TEST(EventFilter, Invalid) {
    for (const char* f : {"", ".*", "*.*", "**", "* ", "room*", "room.**", "room.*.x", "*.room", "room..*",
                          ".room.*", "Room.*", "room.* ", "room.?", "room.%", "room*.*"})
        EXPECT_FALSE(valid_event_filter(f)) << f;
    EXPECT_FALSE(valid_event_filter(std::string(kMaxEventType + 1, 'a') + ".*"));
    EXPECT_FALSE(valid_event_filter(std::string(kMaxEventType + 1, 'a')));
}

// ---- event_matches ------------------------------------------------------------------

TEST(EventMatches, Star) {
    for (const char* t : {"room.created", "a", "x.y.z"}) EXPECT_TRUE(event_matches("*", t)) << t;
}

TEST(EventMatches, Exact) {
    EXPECT_TRUE(event_matches("room.created", "room.created"));
    for (const char* t : {"room.created.v2", "room.create", "room", "Room.created", "room.createdx", ""})
        EXPECT_FALSE(event_matches("room.created", t)) << t;
}

TEST(EventMatches, PrefixGlob) {
    for (const char* t : {"room.created", "room.a.b", "room.x"})
        EXPECT_TRUE(event_matches("room.*", t)) << t;
    // Something must follow the dot; the prefix is matched whole.
    for (const char* t : {"room", "room.", "rooms.created", "roo", "", "xroom.created", "room_created",
                          "ROOM.created", "a.room.created"})
        EXPECT_FALSE(event_matches("room.*", t)) << t;

    EXPECT_TRUE(event_matches("a.*", "a.b"));
    EXPECT_FALSE(event_matches("a.*", "a."));
    EXPECT_FALSE(event_matches("a.*", "a"));
    EXPECT_FALSE(event_matches("a.*", "b.a"));
    EXPECT_FALSE(event_matches("a.*", "ab.c"));

    EXPECT_TRUE(event_matches("a.b.*", "a.b.c"));
    EXPECT_TRUE(event_matches("a.b.*", "a.b.c.d"));
    EXPECT_FALSE(event_matches("a.b.*", "a.b"));
    EXPECT_FALSE(event_matches("a.b.*", "a.bc"));
    EXPECT_FALSE(event_matches("a.b.*", "a.c.d"));
}

TEST(EventMatches, OtherStarsAreLiteral) {
    // Only "*" and a trailing ".*" are globs.
    EXPECT_FALSE(event_matches("room*", "room.x"));
    EXPECT_FALSE(event_matches("room*", "rooms"));
    EXPECT_TRUE(event_matches("room*", "room*"));
    EXPECT_FALSE(event_matches(".*", ".x"));
    EXPECT_TRUE(event_matches(".*", ".*"));
    EXPECT_FALSE(event_matches("*.created", "room.created"));
}

// ---- build_payload ------------------------------------------------------------------

TEST(BuildPayload, ExactText) {
    EXPECT_EQ(build_payload("room.created", 1612325106, R"({"id":1})"),
              R"({"type":"room.created","timestamp":"2021-02-03T04:05:06Z","data":{"id":1}})");
    EXPECT_EQ(build_payload("a", 0, "null"), R"({"type":"a","timestamp":"1970-01-01T00:00:00Z","data":null})");
    // data_json is inserted as given, byte for byte.
    EXPECT_EQ(build_payload("x:y_z-1", 1893456000, R"([1, "caf\u00e9", {"k": true}])"),
              R"({"type":"x:y_z-1","timestamp":"2030-01-01T00:00:00Z","data":[1, "caf\u00e9", {"k": true}]})");
}

TEST(BuildPayload, ParsesBack) {
    std::string text = build_payload("invoice.paid", 1731705121, R"({"amount":42,"currency":"eur"})");
    std::string err;
    Json j = json_parse(text, &err);
    ASSERT_TRUE(j) << err;
    EXPECT_EQ(json_str_field(j.get(), "type"), "invoice.paid");
    EXPECT_EQ(json_str_field(j.get(), "timestamp"), "2024-11-15T21:12:01Z");
    const json_t* data = json_object_get(j.get(), "data");
    ASSERT_TRUE(json_is_object(data));
    EXPECT_EQ(json_int_field(data, "amount", -1), 42);
    EXPECT_EQ(json_str_field(data, "currency"), "eur");
    EXPECT_EQ(json_object_size(j.get()), 3u);
}

TEST(AnyFilterMatches, OneFilterPerLine) {
    EXPECT_TRUE(any_filter_matches("room.*\norder.created", "order.created"));
    EXPECT_TRUE(any_filter_matches("room.*\norder.created", "room.on_air"));
    EXPECT_TRUE(any_filter_matches("*", "anything"));
    EXPECT_FALSE(any_filter_matches("room.*\norder.created", "order.paid"));
    EXPECT_FALSE(any_filter_matches("", "room.on_air"));
    // A filter is a whole line: no match across the separator or on a part.
    EXPECT_FALSE(any_filter_matches("order.cre\nated", "order.created"));
    EXPECT_FALSE(any_filter_matches("order.created\n", "order"));
    EXPECT_TRUE(any_filter_matches("order.created\n", "order.created"));
}

TEST(RandomIds, PrefixedBase62OfTheLengthAllDistinct) {
    EXPECT_TRUE(random_ids("dlv_", 20, 0).empty());
    std::vector<std::string> ids = random_ids("dlv_", 20, 1000);
    ASSERT_EQ(ids.size(), 1000u);
    std::set<std::string> seen;
    std::set<char> chars;
    for (const std::string& id : ids) {
        ASSERT_EQ(id.size(), 24u) << id;
        EXPECT_EQ(id.substr(0, 4), "dlv_");
        for (char c : id.substr(4)) {
            EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << id;
            chars.insert(c);
        }
        seen.insert(id);
    }
    EXPECT_EQ(seen.size(), ids.size());
    EXPECT_EQ(chars.size(), 62u);   // 20 000 draws use the whole alphabet
    EXPECT_EQ(random_ids("", 3, 2).size(), 2u);
}

TEST(Events, OperationalTypesAreReservedAndOptIn) {
    for (const OperationalType& t : kOperationalTypes) {
        EXPECT_TRUE(valid_event_type(t.type)) << t.type;
        EXPECT_TRUE(reserved_event_type(t.type)) << t.type;
        EXPECT_FALSE(t.description.empty()) << t.type;
        EXPECT_FALSE(event_matches("*", t.type)) << "\"*\" must not subscribe to " << t.type;
        EXPECT_TRUE(event_matches("webhook.*", t.type));
        EXPECT_TRUE(event_matches(t.type, t.type));
    }
    EXPECT_TRUE(reserved_event_type("webhook.test"));
    EXPECT_FALSE(reserved_event_type("webhooks.created"));
    EXPECT_FALSE(reserved_event_type("room.webhook.x"));
    EXPECT_TRUE(event_matches("*", "webhooks.created"));
    EXPECT_FALSE(any_filter_matches("*\nroom.*", "webhook.delivery.failed"));
    EXPECT_TRUE(any_filter_matches("*\nwebhook.delivery.failed", "webhook.delivery.failed"));
}
