// bench/lib/http.mjs — the HTTP client the bench's Node scripts share:
// keepalive connections (one agent per node), JSON bodies, a bearer key.
import http from "node:http";

const agents = new Map();
const agentOf = (base) => {
  if (!agents.has(base)) agents.set(base, new http.Agent({ keepAlive: true, maxSockets: 32 }));
  return agents.get(base);
};

// Resolves to { status, body } (body as text); rejects on a network error
// or after 30 s.
export function request(base, method, path, { admin, key, body } = {}) {
  return new Promise((resolve, reject) => {
    const headers = {};
    if (admin || key) headers.Authorization = `Bearer ${admin || key}`;
    let data;
    if (body !== undefined) {
      data = Buffer.from(JSON.stringify(body));
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = data.length;
    }
    const req = http.request(base + path, { method, headers, agent: agentOf(base), timeout: 30000 }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.on("error", reject);
    req.end(data);
  });
}
