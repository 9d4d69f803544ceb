// The replay cache of webhook_verify replay= (docs/directives.md#webhook_verify): message ids seen,
// each reserved while its request is in flight and remembered for the
// replay window once the application accepted it.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>

#include "core/store/mutation.hpp"
#include "ngx/store/mutation_log.hpp"

namespace webhook::ngx {

// Its part of a new zone (zone_init_shared): the size, and its setup in
// zeroed memory of that size.
size_t replay_shared_size();
void replay_init_shared(Zone* zone, void* mem);

enum class ReplayResult { fresh, replayed };

// The replay cache holds at most 1/kReplayShare of the zone; past that the
// oldest ids are evicted (docs/directives.md#webhook_zone allows it for this cache only).
constexpr size_t kReplayShare = 4;
ngx_uint_t replay_capacity(const Zone* zone);

// A message id (32-byte key) is reserved while its request is in flight
// (until `pending_until` at most, should the worker die), and remembered for
// the replay window only once the application accepted it: a sender's retry
// after a 5xx is then accepted. `replayed` when the id is reserved or
// remembered already. *token identifies the reservation (0: none was made,
// the zone being full).
ReplayResult replay_reserve(Zone* zone, std::string_view key, time_t now, time_t pending_until, uint64_t* token);
// Ends a reservation: remembered until `expires`, or forgotten.
void replay_settle(Zone* zone, std::string_view key, uint64_t token, bool remember, time_t expires);

// An id accepted on another node of the fleet (store=): remembered here too.
StateResult apply_locked(Zone* zone, const store::ReplaySeen& m, store::Mode mode);

}  // namespace webhook::ngx
