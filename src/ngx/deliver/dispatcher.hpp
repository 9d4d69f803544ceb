// The dispatcher (docs/delivery.md): in each worker, claims due deliveries from the
// zone and makes each attempt as a subrequest to webhook_delivery's
// location=, then records the outcome through the mutation log.
#pragma once

#include "ngx/deliver/delivery_conf.hpp"

namespace webhook::ngx {

ngx_int_t dispatcher_init_process(ngx_cycle_t* cycle, DeliveryConf& conf);
void dispatcher_exit_process(DeliveryConf& conf);
// New work is due now: look at once.
void dispatcher_wake(DeliveryConf& conf);

// $webhook_url, $webhook_id, … of an attempt's subrequest.
enum class AttemptVariable { url, id, event, endpoint_id, attempt, host, server_name, traceparent };
ngx_int_t attempt_variable(ngx_http_request_t* r, ngx_http_variable_value_t* v, uintptr_t which);
// An attempt's response body: an excerpt is kept, nothing goes on. Sets
// *handled for an attempt's subrequest.
ngx_int_t attempt_body_filter(ngx_http_request_t* r, ngx_chain_t* in, bool* handled);

}  // namespace webhook::ngx
