-- The OpenResty way to check a GitHub webhook signature (X-Hub-Signature-256:
-- sha256=<hex HMAC-SHA256 of the body>) in access_by_lua: read the body, call
-- OpenSSL's one-shot HMAC() through the LuaJIT FFI, compare the hex.
local ffi = require("ffi")

ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
]]

local crypto = ffi.load("crypto")
local sha256 = crypto.EVP_sha256()
local md = ffi.new("unsigned char[64]")
local md_len = ffi.new("unsigned int[1]")

local hex = {}
for i = 0, 255 do hex[i] = string.format("%02x", i) end

local function hmac_sha256_hex(key, data)
    if crypto.HMAC(sha256, key, #key, data, #data, md, md_len) == nil then
        return nil
    end
    local out = {}
    for i = 0, md_len[0] - 1 do out[i + 1] = hex[md[i]] end
    return table.concat(out)
end

local function body()
    ngx.req.read_body()
    local data = ngx.req.get_body_data()
    if data then return data end
    local path = ngx.req.get_body_file()   -- larger than client_body_buffer_size
    if not path then return "" end
    local f = assert(io.open(path, "rb"))
    data = f:read("*a")
    f:close()
    return data
end

local M = {}

function M.verify()
    local got = ngx.var.http_x_hub_signature_256
    if not got then return ngx.exit(ngx.HTTP_UNAUTHORIZED) end
    local mac = hmac_sha256_hex(ngx.var.webhook_secret, body())
    if not mac or got ~= "sha256=" .. mac then return ngx.exit(ngx.HTTP_UNAUTHORIZED) end
end

return M
