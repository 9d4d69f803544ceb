// The mutation log's vocabulary: every change to a zone's durable state is
// one of these typed records. They are defined here once, with their
// encoding (a JSON object with an "op" member, the payload of a journal
// record, see records.hpp); the glue applies them (ngx/store/mutation_log)
// and a store writes them (the journal files today, PostgreSQL next).
//
// A record is built and encoded completely before anything is applied: a
// change that cannot be encoded never takes effect.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/util/json.hpp"

namespace webhook::store {

// How a record is applied: by a running worker (plan limits and revisions
// are checked, new deliveries wait for their record to be durable, counters
// move), from the journal at start (accepted already: applied as written),
// or from a snapshot (state as it was: deliveries carry their progress).
enum class Mode { live, replay, restore };

enum class DeliveryStatus : uint8_t { pending = 0, succeeded = 1, failed = 2 };
std::string_view delivery_status_name(DeliveryStatus s);
std::optional<DeliveryStatus> delivery_status_from_name(std::string_view name);

// --- keys and plan limits --------------------------------------------------------

struct KeyPut {
    static constexpr std::string_view op = "key.put";
    std::string id;
    std::string hash;   // SHA-256 of the secret, 32 bytes (hex in the record)
    std::string display, resource, label;
    uint32_t scopes = 0;
    int64_t created_at = 0, expires_at = 0;   // Unix seconds; expires_at 0: never
};

struct KeyDel {
    static constexpr std::string_view op = "key.del";
    std::string id;
};

// A tenant's plan-limit overrides. nullopt: unchanged; -1: back to the zone's
// default.
struct LimitsPut {
    static constexpr std::string_view op = "limits.put";
    std::string tenant;
    std::optional<int64_t> max_keys, max_webhooks, max_pending;
};

// --- endpoints ---------------------------------------------------------------------

struct EndpointPut {
    static constexpr std::string_view op = "endpoint.put";
    std::string id, tenant, url, name, description;
    std::vector<std::string> events;   // filters
    std::string secret, old_secret;
    int64_t old_secret_until = 0;      // Unix seconds
    int64_t timeout_ms = 10000;
    bool enabled = true;
    std::string disabled_reason;
    int64_t created_at = 0, updated_at = 0;   // Unix seconds
    // An update made from a read at this revision (live only): a change or a
    // delete since then refuses it.
    std::optional<uint64_t> expect_revision;
};

struct EndpointDel {
    static constexpr std::string_view op = "endpoint.del";
    std::string id;
};

// Snapshot only: an endpoint's error state.
struct EndpointStatus {
    static constexpr std::string_view op = "endpoint.status";
    std::string id, last_error;
    int64_t last_error_at = 0, failing_since = 0;   // ms
};

// --- events and deliveries -----------------------------------------------------------

struct DeliveryTarget {
    std::string id, endpoint;
};

struct EventPut {
    static constexpr std::string_view op = "event.put";
    std::string id, tenant, type, payload;
    int64_t created_at_ms = 0;
    std::string idempotency;   // idempotency_slot(tenant, key), empty: none
    std::vector<DeliveryTarget> deliveries;   // none in a snapshot: delivery.restore follows
    // The fleet node that makes its deliveries' attempts (store=); empty:
    // any worker of this node (state= and memory zones).
    std::string node;
    // A snapshot's event. The mode of the apply says as much; the flag is
    // written for readers that go by it (an older module, after a rollback).
    bool restore = false;
    // The publisher's W3C trace context, sent with every attempt: a
    // traceparent in version 00's form (55 characters) or empty, and a
    // tracestate (at most 512 bytes; empty without a traceparent). Written
    // only when there is one; a record without them has none.
    std::string traceparent, tracestate;
};

// Takes back an event whose record could not be made durable.
struct EventDel {
    static constexpr std::string_view op = "event.del";
    std::string id, idempotency;
};

// One attempt as its delivery's attempt log shows it.
struct AttemptRecord {
    int64_t at_ms = 0;            // when it started
    int response_status = 0;      // 0: no response
    int64_t response_time_ms = 0;
    std::string error;            // empty: none
    std::string response;         // an excerpt of the response body
};

enum class AttemptOutcome { succeeded, retry, failed };

struct AttemptDone {
    static constexpr std::string_view op = "attempt.done";
    std::string delivery;
    uint32_t token = 0;           // the lease the attempt held
    uint32_t number = 0;          // 1 for the first attempt
    AttemptOutcome outcome = AttemptOutcome::failed;
    int64_t next_attempt_at = 0;  // ms, with retry
    std::string disable;          // non-empty: disable the endpoint, for this reason
    AttemptRecord attempt;
};

struct DeliveryReplay {
    static constexpr std::string_view op = "delivery.replay";
    std::string id;
    int64_t at_ms = 0;
    std::string node;   // the node that makes its attempts now (as EventPut::node)
};

// A fleet node takes over the unfinished deliveries of a node whose lease in
// the store expired (it died, or lost the store): the same deliveries, the
// same webhook-id, attempts made by `to` from now on.
struct DeliveryAdopt {
    static constexpr std::string_view op = "delivery.adopt";
    std::string from, to;
};

// A message id that webhook_verify replay= accepted on one node of a fleet,
// so that the others refuse it too.
struct ReplaySeen {
    static constexpr std::string_view op = "replay.seen";
    std::string key;        // 32 bytes (hex in the record)
    int64_t expires = 0;    // Unix seconds
};

// Takes back a replay whose record could not be made durable.
struct DeliveryUnreplay {
    static constexpr std::string_view op = "delivery.unreplay";
    std::string id;
    DeliveryStatus status = DeliveryStatus::failed;   // what it was before
};

// Puts failed deliveries of one endpoint back in the queue (POST
// /webhooks/{id}/recover), as one change: the deliveries chosen when the
// request was read are listed (oldest first), so that the journal at start
// and every node of a fleet re-queue the same ones, whatever else their
// zone holds; a listed delivery that is not failed where the record is
// applied (replayed, succeeded or deleted since) is left as it is. The
// window asked for is kept for the people reading the journal.
struct DeliveryRecover {
    static constexpr std::string_view op = "delivery.recover";
    std::string endpoint;
    int64_t since_ms = 0, until_ms = 0;   // the window: since <= created_at < until
    int64_t at_ms = 0;
    std::string node;                     // as DeliveryReplay::node
    uint32_t tag = 0;                     // marks the deliveries it re-queued, for its undo
    std::vector<std::string> deliveries;
};

// Takes back a recover whose record could not be made durable: the
// deliveries it re-queued (its tag) and no attempt took yet are failed again.
struct DeliveryUnrecover {
    static constexpr std::string_view op = "delivery.unrecover";
    std::string endpoint;
    uint32_t tag = 0;
    std::vector<std::string> deliveries;
};

// Snapshot only: a delivery with its progress.
struct DeliveryRestore {
    static constexpr std::string_view op = "delivery.restore";
    std::string id, event, endpoint;
    DeliveryStatus status = DeliveryStatus::pending;
    uint32_t attempts = 0;
    int last_status = 0;
    int last_time_ms = 0;
    int64_t created_at_ms = 0, next_attempt_at = 0;
    std::string last_error;
    std::string history;   // the attempt log, a JSON array
    std::string node;      // as EventPut::node
};

// Snapshot only: the first answer to an Idempotency-Key.
struct IdempotencyRestore {
    static constexpr std::string_view op = "idempotency.restore";
    std::string key, event;
    uint32_t deliveries = 0;
    int64_t expires_ms = 0;
};

// The first record of a snapshot.
struct SnapshotHeader {
    static constexpr std::string_view op = "snapshot";
};

using Mutation = std::variant<SnapshotHeader, KeyPut, KeyDel, LimitsPut, EndpointPut, EndpointDel, EndpointStatus,
                              EventPut, EventDel, AttemptDone, DeliveryReplay, DeliveryUnreplay, DeliveryRestore,
                              IdempotencyRestore, DeliveryAdopt, ReplaySeen, DeliveryRecover, DeliveryUnrecover>;

std::string_view op_name(const Mutation& m);

// The record's JSON text. Strings of any bytes are stored (invalid UTF-8
// becomes U+FFFD); throws std::bad_alloc only.
std::string encode(const Mutation& m);
// The same text built as a jansson tree, for every record type: encode()
// writes the attempt records directly (one per delivery attempt), and the
// unit tests hold the two to the same bytes.
std::string encode_tree(const Mutation& m);

// A record read back: nullopt (and why, naming the op and the field) when
// it is not valid JSON, names no known op, or lacks a field of its op.
std::optional<Mutation> decode(std::string_view text, std::string* error);

// What a zone's state holds, for the start's log line: "2 keys, 1
// endpoint, 3 events, 3 deliveries (1 pending), 1 idempotency key, limits
// for 0 tenants" (counted from the records a snapshot would have).
std::string describe_state(const std::vector<Mutation>& records);

// The idempotency slot of a tenant's Idempotency-Key.
std::string idempotency_slot(std::string_view tenant, std::string_view key);

// The attempt log with `attempt` appended as entry number `number` (its
// "attempt" member, 1 for the first), the oldest dropped past `keep`
// entries (a log that is not a JSON array starts again).
std::string attempt_log_append(std::string_view log, uint32_t number, const AttemptRecord& attempt, size_t keep);

// The attempt log as the API shows it: every entry with its "attempt"
// number. Entries written before numbers were kept (an older module's log)
// get theirs from their place: one less than the entry after them, the last
// one `attempts` (the delivery's count); none when that leaves less than 1.
// A JSON array, empty for a log that is not one (parsed once, for the API's
// answer to embed).
Json attempt_log_numbered(std::string_view log, uint32_t attempts);

}  // namespace webhook::store
