// An independent SCRAM client (RFC 5802 / 7677, written from the RFC on node's crypto) on
// MQTT.js 5 enhanced authentication, for scram_mqttjs_test.cpp. Prints one line per outcome:
//   CONNACK <rc> server verified <ms> | ERROR <rc> ... | REAUTH OK server verified | DISCONNECT <rc>
// usage: node scram_mqttjs_client.js MQTTJS_DIR PORT USER PASSWORD 256|512 [reauth]
const [mqttDir, port, user, pass, bits, reauth] = process.argv.slice(2);
const mqtt = require(mqttDir);
const crypto = require('crypto');
const algo = bits === '512' ? 'sha512' : 'sha256';
const len = bits === '512' ? 64 : 32;
const method = `SCRAM-SHA-${bits}`;
const hmac = (k, m) => crypto.createHmac(algo, k).update(m).digest();
function exchange() {
  const cnonce = crypto.randomBytes(18).toString('base64');
  const bare = `n=${user},r=${cnonce}`;
  const st = { first: Buffer.from('n,,' + bare) };
  st.respond = (sfirst) => {
    const a = Object.fromEntries(sfirst.split(',').map((kv) => [kv[0], kv.slice(2)]));
    if (!a.r.startsWith(cnonce)) throw new Error('server nonce does not extend ours');
    const salted = crypto.pbkdf2Sync(pass, Buffer.from(a.s, 'base64'), +a.i, len, algo);
    const ck = hmac(salted, 'Client Key');
    const stored = crypto.createHash(algo).update(ck).digest();
    const without = `c=biws,r=${a.r}`;
    const msg = `${bare},${sfirst},${without}`;
    const sig = hmac(stored, msg);
    const proof = Buffer.alloc(ck.length);
    for (let i = 0; i < ck.length; i++) proof[i] = ck[i] ^ sig[i];
    st.expected = 'v=' + hmac(hmac(salted, 'Server Key'), msg).toString('base64');
    return Buffer.from(`${without},p=${proof.toString('base64')}`);
  };
  return st;
}
let cur = exchange();
const t0 = process.hrtime.bigint();
const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
  protocolVersion: 5, clientId: 'js-scram-' + user, reconnectPeriod: 0, connectTimeout: 5000,
  properties: { authenticationMethod: method, authenticationData: cur.first },
});
const timer = setTimeout(() => { console.log('TIMEOUT'); process.exit(3); }, 10000);
client.handleAuth = (packet, cb) => {
  if (packet.reasonCode === 0) {  // re-authentication done
    const v = packet.properties.authenticationData.toString();
    console.log('REAUTH', v === cur.expected ? 'OK server verified' : 'BAD server-final ' + v);
    clearTimeout(timer); client.end(); cb(null); return;
  }
  const data = cur.respond(packet.properties.authenticationData.toString());
  cb(null, { cmd: 'auth', reasonCode: 24,
             properties: { authenticationMethod: method, authenticationData: data } });
};
client.on('connect', (ack) => {
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const v = ack.properties?.authenticationData?.toString();
  console.log('CONNACK', ack.reasonCode, v === cur.expected ? 'server verified' : 'BAD ' + v,
              `${ms.toFixed(1)} ms`);
  if (reauth) {
    cur = exchange();
    client._sendPacket({ cmd: 'auth', reasonCode: 25,
                         properties: { authenticationMethod: method, authenticationData: cur.first } });
  } else { clearTimeout(timer); client.end(); }
});
client.on('error', (e) => { console.log('ERROR', e.code, e.message); clearTimeout(timer); process.exit(1); });
client.on('disconnect', (p) => { console.log('DISCONNECT', p.reasonCode); clearTimeout(timer); process.exit(2); });
