// The error model of the management API (docs/api.md): a status, a stable code
// and a message that names the field at fault.
#pragma once

#include <string>

namespace webhook {

struct ApiError {
    int status;
    std::string code;
    std::string message;
};

inline ApiError invalid_request(std::string message) { return {400, "invalid_request", std::move(message)}; }
inline ApiError unprocessable(std::string code, std::string message) { return {422, std::move(code), std::move(message)}; }

}  // namespace webhook
