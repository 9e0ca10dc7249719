#!/usr/bin/env node
// Cross-check of Wisp's codec against mqtt-packet (an independent implementation).
//   node codec_crosscheck.js generate OUT.jsonl  packets of every type for MQTT 3.1, 3.1.1 and 5
//                                                with many field combinations, encoded by
//                                                mqtt-packet: one {v, hex, pkt} per line, where
//                                                pkt is the normalised packet mqtt-packet parses
//                                                back from hex.
//   node codec_crosscheck.js verify IN.jsonl     parses every hex (written by Wisp's encoder)
//                                                with mqtt-packet and compares with pkt.
// The C++ side (tests/protocol/codec_crosscheck.cpp) decodes the generated lines, compares the
// same normalised form, and re-encodes each pkt with Wisp's encoder for `verify`.
'use strict'

const fs = require('fs')
const path = require('path')
const mqtt = require(path.join(__dirname, 'node_modules', 'mqtt-packet'))

// ---- normalised form (shared with the C++ side) --------------------------------------------

const BYTE_PROPS = new Set(['requestResponseInformation', 'requestProblemInformation',
  'payloadFormatIndicator', 'retainAvailable', 'wildcardSubscriptionAvailable',
  'subscriptionIdentifiersAvailable', 'sharedSubscriptionAvailable'])
const BINARY_PROPS = new Set(['authenticationData', 'correlationData'])

const hex = (b) => Buffer.from(b).toString('hex')

function normProps (p) {
  const out = {}
  if (!p) return out
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined || v === null) continue
    if (k === 'userProperties') {
      const pairs = []
      for (const [uk, uv] of Object.entries(v)) {
        pairs.push([uk, (Array.isArray(uv) ? uv : [uv]).map(String)])
      }
      if (pairs.length) out.userProperties = pairs
    } else if (k === 'subscriptionIdentifier') {
      out.subscriptionIdentifier = Array.isArray(v) ? v : [v]
    } else if (BYTE_PROPS.has(k)) {
      out[k] = v ? 1 : 0
    } else if (BINARY_PROPS.has(k)) {
      out[k] = hex(v)
    } else {
      out[k] = v
    }
  }
  return out
}

function norm (p, v) {
  const o = { cmd: p.cmd }
  const props = () => { o.properties = v === 5 ? normProps(p.properties) : {} }
  switch (p.cmd) {
    case 'connect':
      o.protocolId = p.protocolId
      o.protocolVersion = p.protocolVersion
      o.bridge = !!p.bridgeMode
      o.clean = !!p.clean
      o.keepalive = p.keepalive
      o.clientId = p.clientId
      o.will = p.will
        ? {
            topic: String(p.will.topic),
            payload: hex(p.will.payload),
            qos: p.will.qos || 0,
            retain: !!p.will.retain,
            properties: p.protocolVersion === 5 ? normProps(p.will.properties) : {}
          }
        : null
      o.username = p.username != null ? String(p.username) : null
      o.password = p.password != null ? hex(p.password) : null
      o.properties = p.protocolVersion === 5 ? normProps(p.properties) : {}
      break
    case 'connack':
      o.sessionPresent = !!p.sessionPresent
      o.code = v === 5 ? (p.reasonCode || 0) : p.returnCode
      props()
      break
    case 'publish':
      o.topic = String(p.topic)
      o.payload = hex(p.payload)
      o.qos = p.qos
      o.retain = !!p.retain
      o.dup = !!p.dup
      o.messageId = p.qos > 0 ? p.messageId : 0
      props()
      break
    case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp':
      o.messageId = p.messageId
      o.reasonCode = v === 5 ? (p.reasonCode || 0) : 0
      props()
      break
    case 'subscribe':
      o.messageId = p.messageId
      o.subscriptions = p.subscriptions.map((s) => ({
        topic: s.topic,
        qos: s.qos,
        nl: v === 5 ? !!s.nl : false,
        rap: v === 5 ? !!s.rap : false,
        rh: v === 5 ? (s.rh || 0) : 0
      }))
      props()
      break
    case 'suback':
      o.messageId = p.messageId
      o.granted = p.granted
      props()
      break
    case 'unsubscribe':
      o.messageId = p.messageId
      o.unsubscriptions = p.unsubscriptions
      props()
      break
    case 'unsuback':
      o.messageId = p.messageId
      o.granted = v === 5 ? p.granted : []
      props()
      break
    case 'pingreq': case 'pingresp':
      break
    case 'disconnect': case 'auth':
      o.reasonCode = v === 5 ? (p.reasonCode || 0) : 0
      props()
      break
    default:
      throw new Error('unexpected cmd ' + p.cmd)
  }
  return o
}

// Parses exactly one packet from buf with mqtt-packet.
function parseOne (buf, v) {
  const parser = mqtt.parser({ protocolVersion: v === 3 ? 4 : v })
  const packets = []
  const errors = []
  parser.on('packet', (p) => packets.push(p))
  parser.on('error', (e) => errors.push(e))
  const left = parser.parse(buf)
  if (errors.length) throw new Error('mqtt-packet: ' + errors[0].message)
  if (packets.length !== 1 || left !== 0) {
    throw new Error(`mqtt-packet parsed ${packets.length} packets, ${left} bytes left`)
  }
  return packets[0]
}

// Deep equality of normalised packets (plain JSON values).
function same (a, b) {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b))
}
function sortKeys (x) {
  if (Array.isArray(x)) return x.map(sortKeys)
  if (x && typeof x === 'object') {
    const o = {}
    for (const k of Object.keys(x).sort()) o[k] = sortKeys(x[k])
    return o
  }
  return x
}

// ---- generator --------------------------------------------------------------------------

function mulberry32 (seed) {
  return function () {
    seed |= 0; seed = seed + 0x6D2B79F5 | 0
    let t = Math.imul(seed ^ seed >>> 15, 1 | seed)
    t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t
    return ((t ^ t >>> 14) >>> 0) / 4294967296
  }
}
const rnd = mulberry32(20261124)
const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1))
const chance = (p) => rnd() < p
const pick = (a) => a[int(0, a.length - 1)]
const bytes = (n) => Buffer.from(Array.from({ length: n }, () => int(0, 255)))

const TOPICS = ['a', 'a/b', 'sport/tennis/player1', '$SYS/broker/load', 'ü/ß/€', '/', 'a//b',
  'x'.repeat(300), '😀/emoji', 'with space', 'trailing/']
const FILTERS = ['#', '+', 'a/+/c', 'sport/#', '$share/grp/a/b', '$SYS/#', 'ü/+', '+/+', 'a/b',
  '$share/g2/#', '/']
const STRINGS = ['', 'x', 'text/plain', 'ünïcødé', 'a longer string with spaces', '😀']
const KEYS = ['k', 'key', 'ключ', 'a-b', '', 'z']
const PAYLOAD_SIZES = [0, 1, 10, 127, 128, 300, 16384, 70000]

function userProps () {
  const o = {}
  const n = int(1, 3)
  for (let i = 0; i < n; i++) {
    const k = pick(KEYS)
    // Repeated keys carry no empty value: mqtt-packet's parser drops an empty first value of a
    // repeated key (it tests the value for truthiness); Wisp keeps it.
    const nonEmpty = STRINGS.filter((s) => s !== '')
    o[k] = chance(0.3) ? [pick(nonEmpty), pick(nonEmpty)] : pick(STRINGS)
  }
  return o
}

// Random subset of properties, each with a value the spec allows.
const PROP_GEN = {
  sessionExpiryInterval: () => pick([0, 1, 3600, 0xFFFFFFFF, int(0, 0xFFFFFFFF)]),
  receiveMaximum: () => pick([1, 10, 65535]),
  maximumPacketSize: () => pick([1, 1024, 268435460, 0xFFFFFFFF]),
  topicAliasMaximum: () => pick([0, 1, 10, 65535]),
  requestResponseInformation: () => chance(0.5),
  requestProblemInformation: () => chance(0.5),
  userProperties: userProps,
  authenticationMethod: () => pick(['SCRAM-SHA-1', 'x', 'ünï']),
  authenticationData: () => bytes(int(0, 20)),
  willDelayInterval: () => int(0, 0xFFFFFFFF),
  payloadFormatIndicator: () => chance(0.5),
  messageExpiryInterval: () => pick([0, 60, 0xFFFFFFFF]),
  contentType: () => pick(STRINGS),
  responseTopic: () => pick(TOPICS),
  correlationData: () => bytes(int(0, 16)),
  maximumQoS: () => int(0, 1),
  retainAvailable: () => chance(0.5),
  assignedClientIdentifier: () => pick(STRINGS),
  reasonString: () => pick(STRINGS),
  wildcardSubscriptionAvailable: () => chance(0.5),
  subscriptionIdentifiersAvailable: () => chance(0.5),
  sharedSubscriptionAvailable: () => chance(0.5),
  serverKeepAlive: () => int(0, 65535),
  responseInformation: () => pick(STRINGS),
  serverReference: () => pick(STRINGS),
  topicAlias: () => int(1, 65535),
  subscriptionIdentifier: () => int(1, 268435455)
}

function props (names, v) {
  if (v !== 5 || chance(0.2)) return undefined
  const p = {}
  for (const n of names) if (chance(0.5)) p[n] = PROP_GEN[n]()
  if (p.authenticationData && !p.authenticationMethod) delete p.authenticationData
  return p
}

const CONNECT_PROPS = ['sessionExpiryInterval', 'receiveMaximum', 'maximumPacketSize',
  'topicAliasMaximum', 'requestResponseInformation', 'requestProblemInformation',
  'userProperties', 'authenticationMethod', 'authenticationData']
const WILL_PROPS = ['willDelayInterval', 'payloadFormatIndicator', 'messageExpiryInterval',
  'contentType', 'responseTopic', 'correlationData', 'userProperties']
const CONNACK_PROPS = ['sessionExpiryInterval', 'receiveMaximum', 'maximumQoS', 'retainAvailable',
  'maximumPacketSize', 'assignedClientIdentifier', 'topicAliasMaximum', 'reasonString',
  'userProperties', 'wildcardSubscriptionAvailable', 'subscriptionIdentifiersAvailable',
  'sharedSubscriptionAvailable', 'serverKeepAlive', 'responseInformation', 'serverReference',
  'authenticationMethod', 'authenticationData']
const PUBLISH_PROPS = ['payloadFormatIndicator', 'messageExpiryInterval', 'topicAlias',
  'responseTopic', 'correlationData', 'userProperties', 'subscriptionIdentifier', 'contentType']
const ACK_PROPS = ['reasonString', 'userProperties']
const DISCONNECT_PROPS = ['sessionExpiryInterval', 'reasonString', 'userProperties',
  'serverReference']
const AUTH_PROPS = ['authenticationMethod', 'authenticationData', 'reasonString', 'userProperties']

const V5_PUBACK_REASONS = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]
const V5_PUBREL_REASONS = [0x00, 0x92]
const V5_SUBACK_REASONS = [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2]
const V5_UNSUBACK_REASONS = [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91]
const V5_CONNACK_REASONS = [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
  0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F]
const V5_DISCONNECT_REASONS = [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E,
  0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0,
  0xA1, 0xA2]

function genConnect (v) {
  const p = {
    cmd: 'connect',
    protocolId: v === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: v,
    clean: chance(0.5),
    keepalive: pick([0, 1, 60, 65535]),
    clientId: v === 3 ? pick(['c', 'client-1', 'ü']) : pick(['', 'c', 'client-1', 'ünï'])
  }
  if (v !== 3 && p.clientId === '') p.clean = true
  if (v !== 5 && chance(0.2)) p.bridgeMode = true  // mqtt-packet writes 0x80 only for 3 and 4
  if (chance(0.5)) {
    p.will = {
      topic: pick(TOPICS),
      payload: bytes(pick([0, 1, 50])),
      qos: int(0, 2),
      retain: chance(0.5)
    }
    const wp = props(WILL_PROPS, v)
    if (wp) p.will.properties = wp
  }
  if (chance(0.6)) {
    p.username = pick(STRINGS)
    if (chance(0.6)) p.password = bytes(int(0, 12))
  }
  const cp = props(CONNECT_PROPS, v)
  if (cp) p.properties = cp
  return p
}

function genPublish (v) {
  const qos = int(0, 2)
  const p = {
    cmd: 'publish',
    topic: pick(TOPICS),
    payload: bytes(pick(PAYLOAD_SIZES)),
    qos,
    retain: chance(0.5),
    dup: qos > 0 && chance(0.3)
  }
  if (qos > 0) p.messageId = int(1, 65535)
  const pp = props(PUBLISH_PROPS, v)
  if (pp) {
    if (pp.subscriptionIdentifier && chance(0.5)) {
      pp.subscriptionIdentifier = [pp.subscriptionIdentifier, int(1, 127), int(128, 16383)]
    }
    p.properties = pp
    if (pp.topicAlias && chance(0.3)) p.topic = ''
  }
  return p
}

function genAck (cmd, v) {
  const p = { cmd, messageId: int(1, 65535) }
  if (v === 5) {
    if (chance(0.7)) {
      p.reasonCode = pick(cmd === 'pubrel' || cmd === 'pubcomp' ? V5_PUBREL_REASONS : V5_PUBACK_REASONS)
    }
    const ap = props(ACK_PROPS, v)
    if (ap) p.properties = ap
  }
  return p
}

function genSubscribe (v) {
  const n = int(1, 4)
  const subs = []
  for (let i = 0; i < n; i++) {
    const s = { topic: pick(FILTERS), qos: int(0, 2) }
    if (v === 5) {
      s.nl = chance(0.3) && !s.topic.startsWith('$share/')
      s.rap = chance(0.3)
      s.rh = int(0, 2)
    }
    subs.push(s)
  }
  const p = { cmd: 'subscribe', messageId: int(1, 65535), subscriptions: subs }
  if (v === 5) {
    const sp = props(['subscriptionIdentifier', 'userProperties'], v)
    if (sp) p.properties = sp
  }
  return p
}

function genSuback (v) {
  const n = int(1, 5)
  const granted = []
  for (let i = 0; i < n; i++) granted.push(pick(v === 5 ? V5_SUBACK_REASONS : [0, 1, 2, 128]))
  const p = { cmd: 'suback', messageId: int(1, 65535), granted }
  const sp = props(ACK_PROPS, v)
  if (sp) p.properties = sp
  return p
}

function genUnsubscribe (v) {
  const n = int(1, 4)
  const p = { cmd: 'unsubscribe', messageId: int(1, 65535), unsubscriptions: [] }
  for (let i = 0; i < n; i++) p.unsubscriptions.push(pick(FILTERS))
  const up = props(['userProperties'], v)
  if (up) p.properties = up
  return p
}

function genUnsuback (v) {
  const p = { cmd: 'unsuback', messageId: int(1, 65535) }
  if (v === 5) {
    p.granted = []
    const n = int(1, 4)
    for (let i = 0; i < n; i++) p.granted.push(pick(V5_UNSUBACK_REASONS))
    const up = props(ACK_PROPS, v)
    if (up) p.properties = up
  }
  return p
}

function genConnack (v) {
  const p = { cmd: 'connack' }
  if (v === 5) {
    p.reasonCode = pick(V5_CONNACK_REASONS)
    const cp = props(CONNACK_PROPS, v)
    if (cp) p.properties = cp
  } else {
    p.returnCode = int(0, 5)
  }
  p.sessionPresent = (p.reasonCode || p.returnCode) ? false : chance(0.5)
  return p
}

function genDisconnect (v) {
  const p = { cmd: 'disconnect' }
  if (v === 5) {
    if (chance(0.7)) p.reasonCode = pick(V5_DISCONNECT_REASONS)
    const dp = props(DISCONNECT_PROPS, v)
    if (dp) p.properties = dp
  }
  return p
}

function genAuth () {
  const p = { cmd: 'auth', reasonCode: pick([0x00, 0x18, 0x19]) }
  const ap = props(AUTH_PROPS, 5)
  if (ap) p.properties = ap
  return p
}

function generate (out) {
  const lines = []
  let skipped = 0
  const counts = {}
  const emit = (obj, v) => {
    let buf
    try {
      buf = mqtt.generate(obj, { protocolVersion: v === 3 ? 4 : v })
    } catch (e) {
      skipped++
      return
    }
    let parsed
    try {
      parsed = parseOne(buf, v)
    } catch (e) {
      console.error(JSON.stringify(obj), hex(buf))
      throw e
    }
    const pkt = norm(parsed, v)
    const key = `${obj.cmd}/v${v}`
    counts[key] = (counts[key] || 0) + 1
    lines.push(JSON.stringify({ v, hex: hex(buf), pkt }))
  }
  const N = 40
  for (let i = 0; i < N; i++) emit(genConnect(3), 3)
  for (const v of [4, 5]) {
    for (let i = 0; i < N; i++) {
      emit(genConnect(v), v)
      emit(genConnack(v), v)
      emit(genPublish(v), v)
      for (const c of ['puback', 'pubrec', 'pubrel', 'pubcomp']) emit(genAck(c, v), v)
      emit(genSubscribe(v), v)
      emit(genSuback(v), v)
      emit(genUnsubscribe(v), v)
      emit(genUnsuback(v), v)
      emit(genDisconnect(v), v)
      if (v === 5) emit(genAuth(), v)
    }
    emit({ cmd: 'pingreq' }, v)
    emit({ cmd: 'pingresp' }, v)
  }
  fs.writeFileSync(out, lines.join('\n') + '\n')
  const types = Object.keys(counts).length
  console.log(`generated ${lines.length} packets (${types} type/version pairs, ${skipped} ` +
              'rejected by mqtt-packet\'s generator)')
  // 15 types in v5 + 14 in 3.1.1 + CONNECT in 3.1.
  if (types !== 30) {
    console.error('missing packet types: ' + JSON.stringify(counts))
    process.exit(1)
  }
}

function verify (input) {
  const lines = fs.readFileSync(input, 'utf8').split('\n').filter((l) => l.length)
  let bad = 0
  for (const line of lines) {
    const { v, hex: h, pkt } = JSON.parse(line)
    try {
      const got = norm(parseOne(Buffer.from(h, 'hex'), v), v)
      if (!same(got, pkt)) {
        bad++
        if (bad <= 10) {
          console.error(`mismatch (v${v}) ${h.slice(0, 120)}\n  wisp:        ` +
                        JSON.stringify(sortKeys(pkt)) + '\n  mqtt-packet: ' +
                        JSON.stringify(sortKeys(got)))
        }
      }
    } catch (e) {
      bad++
      if (bad <= 10) console.error(`mqtt-packet rejected (v${v}) ${h.slice(0, 120)}: ${e.message}`)
    }
  }
  console.log(`mqtt-packet parsed ${lines.length - bad}/${lines.length} Wisp-encoded packets identically`)
  if (bad || lines.length === 0) process.exit(1)
}

const [mode, file] = process.argv.slice(2)
if (mode === 'generate' && file) generate(file)
else if (mode === 'verify' && file) verify(file)
else {
  console.error('usage: codec_crosscheck.js generate OUT.jsonl | verify IN.jsonl')
  process.exit(2)
}
