#include "ngx/store/store.hpp"

namespace webhook::ngx {

namespace {

ngx_int_t memory_load(Zone*, ngx_log_t*) { return NGX_OK; }

void memory_write(Zone*, ngx_http_request_t* r, uint64_t, std::string, Committed done) {
    if (done) done(r, true);
}

ngx_int_t memory_init_process(ngx_cycle_t*, Zone*) { return NGX_OK; }
void memory_exit_process(Zone*) {}

}  // namespace

const StoreOps kMemoryStore = {false,        false,   nullptr,             memory_load,
                               memory_write, nullptr, memory_init_process, memory_exit_process};

}  // namespace webhook::ngx
