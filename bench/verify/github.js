// The njs way to check a GitHub webhook signature (X-Hub-Signature-256:
// sha256=<hex HMAC-SHA256 of the body>): js_content has the body read, the
// handler hashes it and either answers 401 or passes the request on to the
// named location that proxies it.
import crypto from 'crypto';
import fs from 'fs';

function body(r) {
    // In memory: r.requestBuffer. Written to a temp file (larger than
    // client_body_buffer_size): njs does not expose it, read the file.
    let b;
    try {
        b = r.requestBuffer;
    } catch (e) {
        b = undefined;
    }
    if (b === undefined && r.variables.request_body_file) {
        b = fs.readFileSync(r.variables.request_body_file);
    }
    return b === undefined ? '' : b;
}

function verify(r) {
    const got = r.headersIn['X-Hub-Signature-256'];
    const want = 'sha256=' + crypto.createHmac('sha256', r.variables.webhook_secret)
                                   .update(body(r)).digest('hex');
    if (got !== want) {
        r.headersOut['Content-Type'] = 'application/json';
        r.return(401, '{"error":{"code":"bad_signature","message":"signature mismatch"}}');
        return;
    }
    r.internalRedirect('@backend');
}

export default { verify };
