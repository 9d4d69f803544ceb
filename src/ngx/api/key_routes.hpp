// Routes of the management API for API keys and plan limits.
#pragma once

#include "ngx/api/api.hpp"

namespace webhook::ngx {

Outcome create_key(ApiRequest& q);
Outcome list_keys(ApiRequest& q);
Outcome get_key(ApiRequest& q);
Outcome delete_key(ApiRequest& q);
Outcome put_limits(ApiRequest& q);

}  // namespace webhook::ngx
