#include "core/util/hmac.hpp"

// OpenSSL 3 deprecates the low-level hash functions, but they are the only
// API whose state is a plain struct: EVP contexts are heap objects that cost
// a fetch, a reference count and a cleanse each time one is duplicated.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>
#include <stdexcept>

#if defined(OPENSSL_NO_DEPRECATED_3_0)
#error "ngx_webhook needs OpenSSL's SHA1_/SHA256_/SHA512_ functions (built without no-deprecated)"
#endif

namespace webhook {

static_assert(sizeof(SHA_CTX) <= Hmac::kStateSize && sizeof(SHA256_CTX) <= Hmac::kStateSize &&
                  sizeof(SHA512_CTX) <= Hmac::kStateSize,
              "Hmac::kStateSize holds every hash state");
static_assert(alignof(SHA512_CTX) <= 8 && alignof(SHA256_CTX) <= 8 && alignof(SHA_CTX) <= 8);

namespace {

size_t block_size(HashAlg alg) { return alg == HashAlg::sha512 ? SHA512_CBLOCK : SHA256_CBLOCK; }

// The three hash functions behind one switch; `state` is an Hmac's buffer.
void hash_init(HashAlg alg, void* state) {
    switch (alg) {
    case HashAlg::sha1: SHA1_Init(static_cast<SHA_CTX*>(state)); return;
    case HashAlg::sha512: SHA512_Init(static_cast<SHA512_CTX*>(state)); return;
    case HashAlg::sha256: break;
    }
    SHA256_Init(static_cast<SHA256_CTX*>(state));
}

void hash_update(HashAlg alg, void* state, const void* data, size_t len) {
    switch (alg) {
    case HashAlg::sha1: SHA1_Update(static_cast<SHA_CTX*>(state), data, len); return;
    case HashAlg::sha512: SHA512_Update(static_cast<SHA512_CTX*>(state), data, len); return;
    case HashAlg::sha256: break;
    }
    SHA256_Update(static_cast<SHA256_CTX*>(state), data, len);
}

void hash_final(HashAlg alg, void* state, Digest* out) {
    out->size = hash_alg_size(alg);
    switch (alg) {
    case HashAlg::sha1: SHA1_Final(out->bytes, static_cast<SHA_CTX*>(state)); return;
    case HashAlg::sha512: SHA512_Final(out->bytes, static_cast<SHA512_CTX*>(state)); return;
    case HashAlg::sha256: break;
    }
    SHA256_Final(out->bytes, static_cast<SHA256_CTX*>(state));
}

}  // namespace

std::optional<HashAlg> hash_alg_from_name(std::string_view name) {
    if (name == "sha256") return HashAlg::sha256;
    if (name == "sha1") return HashAlg::sha1;
    if (name == "sha512") return HashAlg::sha512;
    return std::nullopt;
}

std::string_view hash_alg_name(HashAlg alg) {
    switch (alg) {
    case HashAlg::sha1: return "sha1";
    case HashAlg::sha512: return "sha512";
    case HashAlg::sha256: break;
    }
    return "sha256";
}

size_t hash_alg_size(HashAlg alg) {
    switch (alg) {
    case HashAlg::sha1: return 20;
    case HashAlg::sha512: return 64;
    case HashAlg::sha256: break;
    }
    return 32;
}

Hmac::Hmac(HashAlg alg, std::string_view key) noexcept : alg_(alg) {
    // RFC 2104: a key longer than a block is hashed first; the block is the
    // key zero-padded, XORed with ipad (inner) and opad (outer).
    unsigned char block[SHA512_CBLOCK] = {};
    const size_t bs = block_size(alg);
    if (key.size() > bs) {
        hash_init(alg, inner_);
        hash_update(alg, inner_, key.data(), key.size());
        Digest d;
        hash_final(alg, inner_, &d);
        std::memcpy(block, d.bytes, d.size);
        OPENSSL_cleanse(d.bytes, sizeof(d.bytes));
    } else if (!key.empty()) {
        std::memcpy(block, key.data(), key.size());
    }
    unsigned char pad[SHA512_CBLOCK];
    for (size_t i = 0; i < bs; i++) pad[i] = block[i] ^ 0x36;
    hash_init(alg, inner_);
    hash_update(alg, inner_, pad, bs);
    for (size_t i = 0; i < bs; i++) pad[i] = block[i] ^ 0x5c;
    hash_init(alg, outer_);
    hash_update(alg, outer_, pad, bs);
    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(pad, sizeof(pad));
}

void Hmac::update(const void* data, size_t len) noexcept {
    if (len > 0) hash_update(alg_, inner_, data, len);
}

Digest Hmac::finish() noexcept {
    Digest inner;
    hash_final(alg_, inner_, &inner);
    hash_update(alg_, outer_, inner.bytes, inner.size);
    Digest out;
    hash_final(alg_, outer_, &out);
    return out;
}

Sha256::Sha256() noexcept {
    static_assert(sizeof(SHA256_CTX) <= kStateSize);
    SHA256_Init(reinterpret_cast<SHA256_CTX*>(state_));
}

void Sha256::update(const void* data, size_t len) noexcept {
    if (len > 0) SHA256_Update(reinterpret_cast<SHA256_CTX*>(state_), data, len);
}

Digest Sha256::finish() noexcept {
    Digest out;
    out.size = SHA256_DIGEST_LENGTH;
    SHA256_Final(out.bytes, reinterpret_cast<SHA256_CTX*>(state_));
    return out;
}

std::string hmac(HashAlg alg, std::string_view key, std::string_view data) {
    Hmac h(alg, key);
    h.update(data);
    return h.finish().str();
}

std::string sha256(std::string_view data) {
    Sha256 h;
    h.update(data);
    return h.finish().str();
}

std::string random_bytes(size_t n) {
    std::string out(n, '\0');
    if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
        throw std::runtime_error("RAND_bytes failed");
    return out;
}

}  // namespace webhook
