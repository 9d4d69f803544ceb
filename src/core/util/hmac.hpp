// Streaming HMAC over OpenSSL's EVP_MAC. A keyed Hmac made at configuration
// time is cloned per request, so no key schedule runs on the request path.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct evp_mac_ctx_st;

namespace webhook {

enum class HashAlg { sha1, sha256, sha512 };

std::optional<HashAlg> hash_alg_from_name(std::string_view name);
std::string_view hash_alg_name(HashAlg alg);
size_t hash_alg_size(HashAlg alg);

class Hmac {
public:
    // Throws std::runtime_error when OpenSSL cannot set up the MAC.
    Hmac(HashAlg alg, std::string_view key);

    Hmac clone() const;
    void update(const void* data, size_t len);
    void update(std::string_view data) { update(data.data(), data.size()); }
    // Ends this computation; the object must not be updated afterwards.
    std::string finish();

    HashAlg alg() const { return alg_; }

private:
    struct Free {
        void operator()(evp_mac_ctx_st* ctx) const;
    };
    Hmac(HashAlg alg, evp_mac_ctx_st* ctx) : alg_(alg), ctx_(ctx) {}

    HashAlg alg_;
    std::unique_ptr<evp_mac_ctx_st, Free> ctx_;
};

// One-shot helpers.
std::string hmac(HashAlg alg, std::string_view key, std::string_view data);
std::string sha256(std::string_view data);
// Cryptographically secure random bytes (RAND_bytes); throws on failure.
std::string random_bytes(size_t n);

}  // namespace webhook
