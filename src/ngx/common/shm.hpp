// Shared-memory helpers: the zone lock, strings in the slab, rbtree lookups
// by string, and records found from their embedded links.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <string_view>
#include <vector>

#include "ngx/common/http.hpp"

namespace webhook::ngx {

// The slab's mutex, held for a scope. Every read and write of a zone's
// shared state is made under it.
class Lock {
public:
    explicit Lock(ngx_slab_pool_t* pool) : pool_(pool) { ngx_shmtx_lock(&pool_->mutex); }
    ~Lock() { ngx_shmtx_unlock(&pool_->mutex); }
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

private:
    ngx_slab_pool_t* pool_;
};

// The record that embeds `member` at `offset` (offsetof(T, field)).
template <class T>
T* container_of(void* member, size_t offset) {
    return reinterpret_cast<T*>(static_cast<u_char*>(member) - offset);
}

inline uint32_t str_hash(std::string_view s) { return ngx_crc32_short((u_char*) s.data(), s.size()); }

// The record whose ngx_str_node_t at node_offset has this string.
template <class T>
T* lookup(ngx_rbtree_t* tree, std::string_view key, size_t node_offset) {
    ngx_str_t name = str_of(key);
    ngx_str_node_t* n = ngx_str_rbtree_lookup(tree, &name, str_hash(key));
    return n ? container_of<T>(n, node_offset) : nullptr;
}

// Visits every node of a tree (any order).
template <class Fn>
void for_each_node(ngx_rbtree_t* tree, Fn&& fn) {
    std::vector<ngx_rbtree_node_t*> stack;
    if (tree->root != tree->sentinel) stack.push_back(tree->root);
    while (!stack.empty()) {
        ngx_rbtree_node_t* n = stack.back();
        stack.pop_back();
        if (n->left != tree->sentinel) stack.push_back(n->left);
        if (n->right != tree->sentinel) stack.push_back(n->right);
        fn(n);
    }
}

// Visits every element of a queue whose link is at `offset` in T; fn may
// remove the element it is given.
template <class T, class Fn>
void for_each_in_queue(ngx_queue_t* head, size_t offset, Fn&& fn) {
    for (ngx_queue_t* q = ngx_queue_head(head); q != ngx_queue_sentinel(head);) {
        ngx_queue_t* next = ngx_queue_next(q);
        fn(container_of<T>(q, offset));
        q = next;
    }
}

// A copy of s in the slab (nothing for an empty string); false when full.
inline bool shm_dup(ngx_slab_pool_t* pool, std::string_view s, ngx_str_t* out) {
    out->len = s.size();
    out->data = nullptr;
    if (s.empty()) return true;
    out->data = static_cast<u_char*>(ngx_slab_alloc_locked(pool, s.size()));
    if (out->data == nullptr) return false;
    std::memcpy(out->data, s.data(), s.size());
    return true;
}

inline void shm_free(ngx_slab_pool_t* pool, ngx_str_t* s) {
    if (s->data != nullptr) ngx_slab_free_locked(pool, s->data);
    s->data = nullptr;
    s->len = 0;
}

// Replaces *dst with a slab copy of s; on failure *dst is unchanged.
inline bool shm_replace(ngx_slab_pool_t* pool, ngx_str_t* dst, std::string_view s) {
    ngx_str_t copy;
    if (!shm_dup(pool, s, &copy)) return false;
    shm_free(pool, dst);
    *dst = copy;
    return true;
}

// A record with its id stored right after it, in one zeroed slab allocation
// (T has an ngx_str_node_t `node`).
template <class T>
T* shm_new_with_id(ngx_slab_pool_t* pool, std::string_view id) {
    auto* mem = static_cast<u_char*>(ngx_slab_calloc_locked(pool, sizeof(T) + id.size()));
    if (mem == nullptr) return nullptr;
    T* rec = new (mem) T();
    u_char* p = mem + sizeof(T);
    std::memcpy(p, id.data(), id.size());
    rec->node.str = {id.size(), p};
    rec->node.node.key = str_hash(id);
    return rec;
}

// What an allocation of n bytes takes in the slab: its power-of-two class,
// or whole pages past half a page.
inline int64_t slab_bytes(size_t n) {
    if (n == 0) return 0;
    if (n > ngx_pagesize / 2) return static_cast<int64_t>((n + ngx_pagesize - 1) / ngx_pagesize * ngx_pagesize);
    size_t c = 8;
    while (c < n) c <<= 1;
    return static_cast<int64_t>(c);
}

}  // namespace webhook::ngx
