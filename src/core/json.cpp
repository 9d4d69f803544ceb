#include "core/json.hpp"

#include <cstdlib>
#include <new>

namespace webhook {

std::string json_dump(const json_t* j) {
    char* text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == nullptr) throw std::bad_alloc();
    std::string out(text);
    std::free(text);
    return out;
}

Json json_parse(std::string_view text, std::string* error) {
    json_error_t err;
    Json j(json_loadb(text.data(), text.size(), JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err));
    if (!j && error != nullptr) *error = err.text;
    return j;
}

std::string_view json_str_field(const json_t* obj, const char* key) {
    json_t* v = json_object_get(obj, key);
    return json_is_string(v) ? json_sv(v) : std::string_view();
}

int64_t json_int_field(const json_t* obj, const char* key, int64_t dflt) {
    json_t* v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

bool json_bool_field(const json_t* obj, const char* key, bool dflt) {
    json_t* v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

std::optional<ApiError> reject_unknown_fields(const json_t* obj, std::initializer_list<const char*> known) {
    const char* key;
    json_t* value;
    json_object_foreach(const_cast<json_t*>(obj), key, value) {
        bool ok = false;
        for (const char* k : known) ok |= std::string_view(k) == key;
        if (!ok) return invalid_request(std::string("unknown field \"") + key + "\"");
    }
    return std::nullopt;
}

void json_set_str(json_t* obj, const char* key, std::string_view value) {
    json_t* s = value.empty() ? json_string("") : json_stringn_nocheck(value.data(), value.size());
    if (s == nullptr || json_object_set_new(obj, key, s) != 0) throw std::bad_alloc();
}

}  // namespace webhook
