// Routes of the management API for outbound webhooks: /webhooks…,
// /deliveries…, /events, /event-types.
#pragma once

#include "ngx/api/api.hpp"

namespace webhook::ngx {

Outcome create_webhook(ApiRequest& q);
Outcome list_webhooks(ApiRequest& q);
Outcome get_webhook(ApiRequest& q);
Outcome update_webhook(ApiRequest& q);
Outcome delete_webhook(ApiRequest& q);
Outcome rotate_webhook_secret(ApiRequest& q);
Outcome test_webhook(ApiRequest& q);
Outcome list_deliveries(ApiRequest& q);
Outcome get_delivery(ApiRequest& q);
Outcome replay_delivery(ApiRequest& q);
Outcome recover_webhook(ApiRequest& q);
Outcome publish_events(ApiRequest& q);
Outcome list_event_types(ApiRequest& q);

}  // namespace webhook::ngx
