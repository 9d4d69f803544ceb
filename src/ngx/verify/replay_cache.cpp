#include "ngx/verify/replay_cache.hpp"

#include <algorithm>
#include <cstring>

#include "ngx/common/shm.hpp"

namespace webhook::ngx {

constexpr ngx_uint_t kMinReplayEntries = 16;
constexpr size_t kNodeClass = 128;   // the slab class a ReplayNode takes (checked below)
constexpr int kEvictTries = 16;      // oldest ids evicted to make room, at most

// 32-byte keys in an rbtree, with an LRU queue for eviction.
struct ReplayShared {
    ngx_rbtree_t tree;
    ngx_rbtree_node_t sentinel;
    ngx_queue_t lru;       // most recent at the head
    ngx_uint_t entries;
};

namespace {

struct ReplayNode {
    ngx_rbtree_node_t node;   // key: the first bytes of hash
    ngx_queue_t lru;
    time_t expires;
    uint64_t token;           // non-zero while reserved by a request in flight
    u_char hash[32];
};
static_assert(sizeof(ReplayNode) > kNodeClass / 2 && sizeof(ReplayNode) <= kNodeClass, "a ReplayNode is in the 128-byte class");

ReplayNode* replay_node(ngx_rbtree_node_t* n) { return reinterpret_cast<ReplayNode*>(n); }

void replay_insert(ngx_rbtree_node_t* temp, ngx_rbtree_node_t* node, ngx_rbtree_node_t* sentinel) {
    ngx_rbtree_node_t** p;
    for (;;) {
        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;
        } else {
            p = (std::memcmp(replay_node(node)->hash, replay_node(temp)->hash, 32) < 0) ? &temp->left : &temp->right;
        }
        if (*p == sentinel) break;
        temp = *p;
    }
    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}

ngx_rbtree_key_t hash_key(const u_char* hash) {
    ngx_rbtree_key_t k;
    std::memcpy(&k, hash, sizeof(k));
    return k;
}

ReplayNode* replay_find(ReplayShared* sh, const u_char* hash) {
    ngx_rbtree_key_t key = hash_key(hash);
    ngx_rbtree_node_t* n = sh->tree.root;
    ngx_rbtree_node_t* sentinel = sh->tree.sentinel;
    while (n != sentinel) {
        if (key != n->key) {
            n = key < n->key ? n->left : n->right;
            continue;
        }
        int rc = std::memcmp(hash, replay_node(n)->hash, 32);
        if (rc == 0) return replay_node(n);
        n = rc < 0 ? n->left : n->right;
    }
    return nullptr;
}

void replay_remove(Zone* zone, ReplayNode* rn) {
    ngx_queue_remove(&rn->lru);
    ngx_rbtree_delete(&zone->sh->replay->tree, &rn->node);
    ngx_slab_free_locked(zone->shpool, rn);
    zone->sh->replay->entries--;
}

// Drops up to `n` entries from the cold end: expired ones only, unless
// `force` (the cache is at its bound and the oldest must make room).
void replay_expire(Zone* zone, time_t now, int n, bool force) {
    while (n-- > 0 && !ngx_queue_empty(&zone->sh->replay->lru)) {
        ngx_queue_t* q = ngx_queue_last(&zone->sh->replay->lru);
        auto* rn = ngx_queue_data(q, ReplayNode, lru);
        if (!force && rn->expires > now) return;
        replay_remove(zone, rn);
        force = false;
    }
}

// A new entry for hash, making room as the bound says (nullptr: the zone is
// full even so, logged).
ReplayNode* replay_add_locked(Zone* zone, const u_char* hash, time_t now, time_t expires) {
    ReplayShared* sh = zone->sh->replay;
    replay_expire(zone, now, 2, false);
    while (sh->entries >= replay_capacity(zone) && !ngx_queue_empty(&sh->lru))
        replay_expire(zone, now, 1, true);
    auto* rn = static_cast<ReplayNode*>(ngx_slab_alloc_locked(zone->shpool, sizeof(ReplayNode)));
    for (int tries = 0; rn == nullptr && tries < kEvictTries && !ngx_queue_empty(&sh->lru); tries++) {
        replay_expire(zone, now, 1, true);
        rn = static_cast<ReplayNode*>(ngx_slab_alloc_locked(zone->shpool, sizeof(ReplayNode)));
    }
    if (rn == nullptr) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "webhook_zone \"%V\" is full: replay id not remembered",
                      &zone->name());
        return nullptr;
    }
    std::memcpy(rn->hash, hash, 32);
    rn->node.key = hash_key(hash);
    rn->expires = expires;
    rn->token = 0;
    ngx_rbtree_insert(&sh->tree, &rn->node);
    ngx_queue_insert_head(&sh->lru, &rn->lru);
    sh->entries++;
    return rn;
}

}  // namespace

size_t replay_shared_size() { return sizeof(ReplayShared); }

void replay_init_shared(Zone* zone, void* mem) {
    auto* sh = new (mem) ReplayShared();
    ngx_rbtree_init(&sh->tree, &sh->sentinel, replay_insert);
    ngx_queue_init(&sh->lru);
    zone->sh->replay = sh;
}

ngx_uint_t replay_capacity(const Zone* zone) {
    // A quarter of the zone, at the slab's 128-byte class for a node: a flood
    // of verified webhooks evicts old ids instead of starving keys and
    // subscriptions (docs/directives.md#webhook_zone).
    size_t entries = zone->shm->shm.size / kReplayShare / kNodeClass;
    return std::max<ngx_uint_t>(entries, kMinReplayEntries);
}

ReplayResult replay_reserve(Zone* zone, std::string_view key, time_t now, time_t pending_until, uint64_t* token) {
    const auto* hash = reinterpret_cast<const u_char*>(key.data());
    Lock lock(zone->shpool);
    ReplayShared* sh = zone->sh->replay;

    ReplayNode* rn = replay_find(sh, hash);
    if (rn != nullptr && rn->expires > now) return ReplayResult::replayed;
    if (rn != nullptr) replay_remove(zone, rn);

    rn = replay_add_locked(zone, hash, now, pending_until);
    if (rn == nullptr) {
        *token = 0;
        return ReplayResult::fresh;
    }
    do {
        *token = (static_cast<uint64_t>(ngx_random()) << 32) ^ static_cast<uint64_t>(ngx_random());
    } while (*token == 0);
    rn->token = *token;
    return ReplayResult::fresh;
}

StateResult apply_locked(Zone* zone, const store::ReplaySeen& m, store::Mode) {
    if (m.key.size() != 32) return StateResult::invalid;
    const auto* hash = reinterpret_cast<const u_char*>(m.key.data());
    time_t now = ngx_time();
    if (m.expires <= now) return StateResult::ok;
    ReplayNode* rn = replay_find(zone->sh->replay, hash);
    if (rn == nullptr) {
        replay_add_locked(zone, hash, now, m.expires);   // a full zone evicts, as for a local id
        return StateResult::ok;
    }
    // Accepted on another node while a request here holds it, or seen here
    // too: remembered for the later of the two windows.
    rn->token = 0;
    rn->expires = std::max<time_t>(rn->expires, m.expires);
    return StateResult::ok;
}

void replay_settle(Zone* zone, std::string_view key, uint64_t token, bool remember, time_t expires) {
    if (token == 0) return;
    Lock lock(zone->shpool);
    ReplayNode* rn = replay_find(zone->sh->replay, reinterpret_cast<const u_char*>(key.data()));
    if (rn == nullptr || rn->token != token) return;   // evicted, or reserved again since
    if (!remember) {
        replay_remove(zone, rn);
        return;
    }
    rn->token = 0;
    rn->expires = expires;
}

}  // namespace webhook::ngx
