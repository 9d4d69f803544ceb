// A receiver for ngx_webhook deliveries (Node.js 18+): verifies the Standard
// Webhooks signature with the `standardwebhooks` library, answers 2xx fast,
// deduplicates on webhook-id (deliveries are at least once).
//   npm install standardwebhooks
//   WEBHOOK_SECRET=whsec_... PORT=9000 node receiver.mjs
import http from "node:http";
import { Webhook } from "standardwebhooks";

const wh = new Webhook(process.env.WEBHOOK_SECRET);
const seen = new Set();           // use your database in production

http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    let event;
    try {
      event = wh.verify(body, req.headers);   // throws on a bad signature or an old timestamp
    } catch (err) {
      res.writeHead(400).end("bad signature\n");
      return;
    }
    const id = req.headers["webhook-id"];
    if (!seen.has(id)) {
      seen.add(id);
      console.log(`received ${event.type} ${id}: ${JSON.stringify(event.data)}`);
    }
    res.writeHead(204).end();
  });
}).listen(Number(process.env.PORT || 9000), "127.0.0.1");
