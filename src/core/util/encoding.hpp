// Byte encodings used by the signature schemes: hex and base64, strict decoders
// that reject anything a sender would not produce.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace webhook {

std::string hex_encode(std::string_view bytes);
// Accepts upper and lower case; rejects odd length and non-hex characters.
std::optional<std::string> hex_decode(std::string_view text);
// The same into out[0..cap): the length written, nullopt when invalid or
// longer than cap (no allocation: the request path decodes MACs with it).
std::optional<size_t> hex_decode_into(std::string_view text, unsigned char* out, size_t cap);

std::string base64_encode(std::string_view bytes);
// Standard alphabet; padding optional but must be correct when present.
std::optional<std::string> base64_decode(std::string_view text);
std::optional<size_t> base64_decode_into(std::string_view text, unsigned char* out, size_t cap);

// Compares in time that depends only on the lengths (which are public).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace webhook
