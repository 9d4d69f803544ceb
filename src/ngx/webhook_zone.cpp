// Shared zone setup (limit_req's pattern: reuse on reload, slab + rbtree) and
// the replay cache: 32-byte keys in an rbtree with an LRU queue for eviction.

#include "ngx/webhook_zone.hpp"

#include "ngx/webhook_journal.hpp"
#include "ngx/webhook_shm.hpp"
#include "ngx/webhook_state.hpp"

#include <cstring>

namespace webhook::ngx {

namespace {

struct ReplayNode {
    ngx_rbtree_node_t node;   // key: the first bytes of hash
    ngx_queue_t lru;
    time_t expires;
    uint64_t token;           // non-zero while reserved by a request in flight
    u_char hash[32];
};

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

ReplayNode* replay_find(ZoneShared* sh, const u_char* hash) {
    ngx_rbtree_key_t key = hash_key(hash);
    ngx_rbtree_node_t* n = sh->replay_tree.root;
    ngx_rbtree_node_t* sentinel = sh->replay_tree.sentinel;
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
    ngx_rbtree_delete(&zone->sh->replay_tree, &rn->node);
    ngx_slab_free_locked(zone->shpool, rn);
    zone->sh->replay_entries--;
}

// Drops up to `n` entries from the cold end: expired ones only, unless
// `force` (the cache is at its bound and the oldest must make room).
void replay_expire(Zone* zone, time_t now, int n, bool force) {
    while (n-- > 0 && !ngx_queue_empty(&zone->sh->replay_lru)) {
        ngx_queue_t* q = ngx_queue_last(&zone->sh->replay_lru);
        auto* rn = ngx_queue_data(q, ReplayNode, lru);
        if (!force && rn->expires > now) return;
        replay_remove(zone, rn);
        force = false;
    }
}

}  // namespace

ngx_uint_t replay_capacity(const Zone* zone) {
    // A quarter of the zone, at the slab's 128-byte class for a node: a flood
    // of verified webhooks evicts old ids instead of starving keys and
    // subscriptions (SPEC §2).
    size_t entries = zone->shm->shm.size / kReplayShare / 128;
    return entries < 16 ? 16 : entries;
}

ReplayResult replay_reserve(Zone* zone, const std::string& key, time_t now, time_t pending_until, uint64_t* token) {
    const auto* hash = reinterpret_cast<const u_char*>(key.data());
    Lock lock(zone);
    ZoneShared* sh = zone->sh;

    ReplayNode* rn = replay_find(sh, hash);
    if (rn != nullptr && rn->expires > now) return ReplayResult::replayed;
    if (rn != nullptr) replay_remove(zone, rn);

    replay_expire(zone, now, 2, false);
    while (sh->replay_entries >= replay_capacity(zone) && !ngx_queue_empty(&sh->replay_lru))
        replay_expire(zone, now, 1, true);
    rn = static_cast<ReplayNode*>(ngx_slab_alloc_locked(zone->shpool, sizeof(ReplayNode)));
    for (int tries = 0; rn == nullptr && tries < 16 && !ngx_queue_empty(&sh->replay_lru); tries++) {
        replay_expire(zone, now, 1, true);
        rn = static_cast<ReplayNode*>(ngx_slab_alloc_locked(zone->shpool, sizeof(ReplayNode)));
    }
    if (rn == nullptr) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "webhook_zone \"%V\" is full: replay id not remembered",
                      &zone->shm->shm.name);
        *token = 0;
        return ReplayResult::fresh;
    }
    std::memcpy(rn->hash, hash, 32);
    rn->node.key = hash_key(hash);
    rn->expires = pending_until;
    do {
        *token = (static_cast<uint64_t>(ngx_random()) << 32) ^ static_cast<uint64_t>(ngx_random());
    } while (*token == 0);
    rn->token = *token;
    ngx_rbtree_insert(&sh->replay_tree, &rn->node);
    ngx_queue_insert_head(&sh->replay_lru, &rn->lru);
    sh->replay_entries++;
    return ReplayResult::fresh;
}

void replay_settle(Zone* zone, const std::string& key, uint64_t token, bool remember, time_t expires) {
    if (token == 0) return;
    Lock lock(zone);
    ReplayNode* rn = replay_find(zone->sh, reinterpret_cast<const u_char*>(key.data()));
    if (rn == nullptr || rn->token != token) return;   // evicted, or reserved again since
    if (!remember) {
        replay_remove(zone, rn);
        return;
    }
    rn->token = 0;
    rn->expires = expires;
}

}  // namespace webhook::ngx

using namespace webhook::ngx;

ngx_int_t ngx_http_webhook_init_zone(ngx_shm_zone_t* shm_zone, void* data) {
    auto* zone = static_cast<Zone*>(shm_zone->data);
    auto* old = static_cast<Zone*>(data);

    if (old != nullptr) {
        // Reload with the same name and size: keep everything.
        zone->shpool = old->shpool;
        zone->sh = old->sh;
        return NGX_OK;
    }

    zone->shpool = reinterpret_cast<ngx_slab_pool_t*>(shm_zone->shm.addr);
    if (shm_zone->shm.exists) {
        zone->sh = static_cast<ZoneShared*>(zone->shpool->data);
        return NGX_OK;
    }

    auto* sh = static_cast<ZoneShared*>(ngx_slab_calloc(zone->shpool, sizeof(ZoneShared)));
    if (sh == nullptr) return NGX_ERROR;
    zone->sh = sh;
    zone->shpool->data = sh;
    ngx_rbtree_init(&sh->replay_tree, &sh->replay_sentinel, replay_insert);
    ngx_queue_init(&sh->replay_lru);

    static const char ctx_fmt[] = " in webhook_zone \"%V\"%Z";
    size_t len = sizeof(ctx_fmt) + shm_zone->shm.name.len;
    zone->shpool->log_ctx = static_cast<u_char*>(ngx_slab_alloc(zone->shpool, len));
    if (zone->shpool->log_ctx == nullptr) return NGX_ERROR;
    ngx_sprintf(zone->shpool->log_ctx, ctx_fmt, &shm_zone->shm.name);
    zone->shpool->log_nomem = 0;   // a full zone is reported by the module, once per refusal
    state_init_shared(sh);

    if (zone->state_dir.len == 0 || ngx_test_config) return NGX_OK;
    // A reload that resized a durable zone would build it from DIR while the
    // old workers still append to their journals: their later changes would
    // be missing, sequence numbers would diverge and compaction could delete
    // what only they hold. Refused; the running configuration goes on.
    bool first_start = ngx_cycle->conf_ctx == nullptr;
    if (!first_start) {
        ngx_list_part_t* part = &const_cast<ngx_cycle_t*>(ngx_cycle)->shared_memory.part;
        auto* shm = static_cast<ngx_shm_zone_t*>(part->elts);
        for (ngx_uint_t i = 0;; i++) {
            if (i >= part->nelts) {
                if (part->next == nullptr) break;
                part = part->next;
                shm = static_cast<ngx_shm_zone_t*>(part->elts);
                i = 0;
            }
            if (shm[i].tag != shm_zone->tag || shm[i].shm.name.len != shm_zone->shm.name.len ||
                ngx_strncmp(shm[i].shm.name.data, shm_zone->shm.name.data, shm_zone->shm.name.len) != 0)
                continue;
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "webhook_zone \"%V\" with state=: its size changes only with a restart (nginx -s stop, "
                          "then start), not a reload (%uz now, %uz running)",
                          &shm_zone->shm.name, shm_zone->shm.size, shm[i].shm.size);
            return NGX_ERROR;
        }
    }
    return guarded(shm_zone->shm.log, static_cast<ngx_int_t>(NGX_ERROR),
                   [&] { return journal_load(zone, shm_zone->shm.log); });
}
