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

void json_set_str(json_t* obj, const char* key, std::string_view value) {
    json_t* s = value.empty() ? json_string("") : json_stringn_nocheck(value.data(), value.size());
    if (s == nullptr || json_object_set_new(obj, key, s) != 0) throw std::bad_alloc();
}

}  // namespace webhook
