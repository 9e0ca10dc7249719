// Round trip through Wisp with MQTT.js over WebSocket (or tcp): subscriber subscribes (waits
// for SUBACK), publisher sends --count messages, all must arrive intact and in order.
// Usage: node mqttjs_roundtrip.js SUB_URL PUB_URL VERSION QOS COUNT
// Prints "OK <count>" and exits 0; exits 1 with a reason otherwise (hard 30 s deadline).
const path = require('path');
const mqtt = require(path.join(__dirname, '..', '..', 'node', 'node_modules', 'mqtt'));

const [subUrl, pubUrl, version = '4', qos = '1', count = '10'] = process.argv.slice(2);
const opts = { protocolVersion: Number(version), clean: true, reconnectPeriod: 0,
               connectTimeout: 10000 };
const n = Number(count);
const q = Number(qos);
const topic = 'mqttjs/test';
const deadline = setTimeout(() => { console.error('timeout'); process.exit(1); }, 30000);

const sub = mqtt.connect(subUrl, { ...opts, clientId: 'mqttjs-sub' });
const got = [];
let done = false;  // errors while closing after success (e.g. EPIPE) are not failures
sub.on('error', (e) => { if (!done) { console.error('sub error', e.message); process.exit(1); } });
sub.on('message', (t, payload) => {
  got.push(payload.toString());
  if (got.length === n) {
    const want = Array.from({ length: n }, (_, i) => `msg-${i}`);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      console.error('payloads differ', got);
      process.exit(1);
    }
    done = true;
    console.log(`OK ${n}`);
    clearTimeout(deadline);
    sub.end(); pub.end();
  }
});
let pub;
sub.on('connect', () => {
  sub.subscribe(topic, { qos: q }, (err) => {
    if (err) { console.error('subscribe', err.message); process.exit(1); }
    pub = mqtt.connect(pubUrl, { ...opts, clientId: 'mqttjs-pub' });
    pub.on('error', (e) => { if (!done) { console.error('pub error', e.message); process.exit(1); } });
    pub.on('connect', () => {
      for (let i = 0; i < n; i++) pub.publish(topic, `msg-${i}`, { qos: q });
    });
  });
});
