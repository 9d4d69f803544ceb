// HMAC (RFC 2104) and SHA-256 without allocation. An Hmac holds the hash
// states after the key's inner and outer blocks, so keying happens once (at
// configuration time for a literal secret) and each message starts from a
// plain copy of the object: no key schedule, no OpenSSL context to duplicate,
// no heap, on the request path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace webhook {

enum class HashAlg { sha1, sha256, sha512 };

std::optional<HashAlg> hash_alg_from_name(std::string_view name);
std::string_view hash_alg_name(HashAlg alg);
size_t hash_alg_size(HashAlg alg);

// A digest, or a MAC taken from a header: at most 64 bytes, by value.
struct Digest {
    static constexpr size_t kMax = 64;
    unsigned char bytes[kMax];
    size_t size = 0;

    std::string_view view() const { return {reinterpret_cast<const char*>(bytes), size}; }
    operator std::string_view() const { return view(); }
    std::string str() const { return std::string(view()); }
};

class Hmac {
public:
    // The key schedule: never fails (the hash functions are OpenSSL's
    // low-level ones, which cannot).
    Hmac(HashAlg alg, std::string_view key) noexcept;

    void update(const void* data, size_t len) noexcept;
    void update(std::string_view data) noexcept { update(data.data(), data.size()); }
    // Ends this computation; update() or finish() again is a fresh misuse
    // (the state is spent), so callers copy a keyed Hmac per message.
    Digest finish() noexcept;

    HashAlg alg() const { return alg_; }

    // Room for OpenSSL's largest state (SHA512_CTX, 216 bytes), checked in hmac.cpp.
    static constexpr size_t kStateSize = 224;

private:
    HashAlg alg_;
    alignas(8) unsigned char inner_[kStateSize];   // after key ^ ipad, then the message so far
    alignas(8) unsigned char outer_[kStateSize];   // after key ^ opad
};
static_assert(std::is_trivially_copyable_v<Hmac>, "a keyed Hmac is copied per message");

// Streaming SHA-256, by value like Hmac.
class Sha256 {
public:
    Sha256() noexcept;
    void update(const void* data, size_t len) noexcept;
    void update(std::string_view data) noexcept { update(data.data(), data.size()); }
    Digest finish() noexcept;

private:
    static constexpr size_t kStateSize = 112;   // SHA256_CTX, checked in hmac.cpp
    alignas(8) unsigned char state_[kStateSize];
};

// One-shot helpers.
std::string hmac(HashAlg alg, std::string_view key, std::string_view data);
std::string sha256(std::string_view data);
// Cryptographically secure random bytes (RAND_bytes); throws on failure.
std::string random_bytes(size_t n);

}  // namespace webhook
