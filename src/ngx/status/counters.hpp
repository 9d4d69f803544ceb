// The zone's counters (lock-free increments from any worker) and their
// Prometheus rendering for webhook_status (docs/directives.md#webhook_status).
#pragma once

#include <string>

#include "core/verify/signature.hpp"
#include "ngx/deliver/deliver_store.hpp"
#include "ngx/store/zone.hpp"

namespace webhook::ngx {

constexpr size_t kLatencyBuckets = 12;

// An api_key_auth check's result: ok or the refusal's code (docs/directives.md#api_key_auth).
// key_check_code names each (a switch: a new one without a name does not
// build); the last one sizes the counters, as Verdict's does.
// store_unavailable: a fleet node whose zone is not loaded from its store yet.
enum class KeyCheckResult { ok, missing_api_key, invalid_api_key, insufficient_scope, forbidden_resource,
                            store_unavailable };
constexpr size_t kKeyCheckResults = static_cast<size_t>(KeyCheckResult::store_unavailable) + 1;
std::string_view key_check_code(KeyCheckResult r);

struct Counters {
    uint64_t verifications[kVerdictCount];   // by Verdict
    uint64_t key_checks[kKeyCheckResults];   // by KeyCheckResult
    uint64_t events_published;
    uint64_t attempts_succeeded, attempts_failed;
    uint64_t latency_buckets[kLatencyBuckets];
    uint64_t latency_sum_ms, latency_count;
};

// Its part of a new zone (zone_init_shared): the size, and its setup in
// zeroed memory of that size.
size_t counters_shared_size();
void counters_init_shared(Zone* zone, void* mem);

void count_verification(Zone* zone, Verdict v);
void count_key_check(Zone* zone, KeyCheckResult r);
void count_event_published(Zone* zone);
// An attempt's outcome and how long it took.
void count_attempt(Zone* zone, bool succeeded, int64_t ms);

std::string status_text(Zone* zone, const QueueStats& queue);

}  // namespace webhook::ngx
