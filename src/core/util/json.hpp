// RAII ownership of jansson values, and the few accessors the API code needs.
#pragma once

#include <jansson.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/util/api_error.hpp"

namespace webhook {

struct JsonFree {
    void operator()(json_t* j) const { json_decref(j); }
};
using Json = std::unique_ptr<json_t, JsonFree>;

inline Json json_take(json_t* j) { return Json(j); }

// Compact serialisation; throws std::bad_alloc when jansson cannot allocate.
std::string json_dump(const json_t* j);

// Parses exactly one JSON value; nullopt with a reason on error. Rejects
// duplicate object keys and invalid UTF-8.
Json json_parse(std::string_view text, std::string* error);

inline std::string_view json_sv(const json_t* s) {
    return {json_string_value(s), json_string_length(s)};
}

// Fields of a mutation or request object; absent or mistyped → the default.
std::string_view json_str_field(const json_t* obj, const char* key);
int64_t json_int_field(const json_t* obj, const char* key, int64_t dflt);
bool json_bool_field(const json_t* obj, const char* key, bool dflt);

// A request object's first field outside `known`, as a 400 naming it.
std::optional<ApiError> reject_unknown_fields(const json_t* obj, std::initializer_list<const char*> known);

// UTF-8 checks (RFC 3629: no overlongs, surrogates or code points past
// U+10FFFF), and a copy with each byte outside a well-formed sequence
// replaced by U+FFFD.
bool utf8_valid(std::string_view s);
std::string utf8_sanitize(std::string_view s, bool* replaced = nullptr);

// Adds a string of any bytes: invalid UTF-8 is replaced (see utf8_sanitize),
// so the object can always be dumped.
// value as a JSON string may carry it: invalid UTF-8 and NUL become U+FFFD
// (in scratch, when anything changes).
std::string_view json_repaired(std::string_view value, std::string& scratch);
void json_set_str(json_t* obj, const char* key, std::string_view value);

// Appends s as a JSON string literal, byte for byte as json_dump writes it
// (quotes included; invalid UTF-8 as U+FFFD).
void json_quote(std::string& out, std::string_view s);

// {"error":{"code":…,"message":…}}: the one error body of the module.
std::string error_json(std::string_view code, std::string_view message);

}  // namespace webhook
