// Hand-encoded MQTT packets (see mqtt_bytes.h).
#include "mqtt_bytes.h"

namespace wisp_test {

namespace {

void put16(Bytes& b, std::size_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void put_str(Bytes& b, const std::string& s) {
  put16(b, s.size());
  b.insert(b.end(), s.begin(), s.end());
}
Bytes frame(std::uint8_t header, const Bytes& body) {
  Bytes out{header};
  const Bytes len = mqtt_varint(body.size());
  out.insert(out.end(), len.begin(), len.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// Parses a packet from the front of buf; nullopt if incomplete.
std::optional<MqttPacket> take_packet(Bytes& buf) {
  if (buf.size() < 2) return std::nullopt;
  std::size_t len = 0, i = 1;
  for (int shift = 0;; shift += 7, ++i) {
    if (i >= buf.size()) return std::nullopt;
    len |= static_cast<std::size_t>(buf[i] & 0x7f) << shift;
    if (!(buf[i] & 0x80)) break;
    if (shift > 21) return std::nullopt;
  }
  const std::size_t head = i + 1;
  if (buf.size() < head + len) return std::nullopt;
  MqttPacket p;
  p.header = buf[0];
  p.body.assign(buf.begin() + static_cast<long>(head), buf.begin() + static_cast<long>(head + len));
  buf.erase(buf.begin(), buf.begin() + static_cast<long>(head + len));
  return p;
}

}  // namespace

Bytes mqtt_varint(std::size_t n) {
  Bytes b;
  do {
    std::uint8_t d = n % 128;
    n /= 128;
    if (n) d |= 0x80;
    b.push_back(d);
  } while (n);
  return b;
}

Bytes mqtt_connect(const std::string& client_id, int version, std::uint16_t keepalive) {
  Bytes body;
  put_str(body, "MQTT");
  body.push_back(static_cast<std::uint8_t>(version));
  body.push_back(0x02);  // clean session / clean start
  put16(body, keepalive);
  if (version == 5) body.push_back(0);  // no properties
  put_str(body, client_id);
  return frame(0x10, body);
}

Bytes mqtt_subscribe(std::uint16_t packet_id, const std::string& filter, std::uint8_t qos,
                     int version) {
  Bytes body;
  put16(body, packet_id);
  if (version == 5) body.push_back(0);
  put_str(body, filter);
  body.push_back(qos);
  return frame(0x82, body);
}

Bytes mqtt_publish(const std::string& topic, const Bytes& payload, std::uint8_t qos,
                   std::uint16_t packet_id, int version, bool retain) {
  Bytes body;
  put_str(body, topic);
  if (qos > 0) put16(body, packet_id);
  if (version == 5) body.push_back(0);
  body.insert(body.end(), payload.begin(), payload.end());
  return frame(static_cast<std::uint8_t>(0x30 | qos << 1 | (retain ? 1 : 0)), body);
}

Bytes mqtt_disconnect(int version) {
  return version == 5 ? Bytes{0xe0, 0x01, 0x00} : Bytes{0xe0, 0x00};
}
Bytes mqtt_pingreq() { return {0xc0, 0x00}; }

std::optional<MqttPacket> read_packet(TcpClient& c, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Bytes& buf = c.pending;
  for (;;) {
    if (auto p = take_packet(buf)) return p;
    Bytes stash = std::move(buf);
    buf.clear();
    auto chunk = c.read_some(std::max(Millis(0), std::chrono::duration_cast<Millis>(
                                                     deadline - std::chrono::steady_clock::now())));
    buf = std::move(stash);
    if (!chunk || chunk->empty()) return std::nullopt;
    buf.insert(buf.end(), chunk->begin(), chunk->end());
  }
}

std::optional<MqttPacket> read_packet(WsClient& c, Millis timeout) {
  Bytes& buf = c.stream;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto p = take_packet(buf)) return p;
    auto f = c.read_frame(std::max(Millis(0), std::chrono::duration_cast<Millis>(
                                                  deadline - std::chrono::steady_clock::now())));
    if (!f || f->opcode == 8) return std::nullopt;
    if (f->opcode == 9) {
      c.send_frame(10, f->payload);
      continue;
    }
    buf.insert(buf.end(), f->payload.begin(), f->payload.end());
  }
}

Bytes publish_payload(const MqttPacket& p, int version) {
  const std::size_t tlen = static_cast<std::size_t>(p.body[0] << 8 | p.body[1]);
  std::size_t off = 2 + tlen;
  if (((p.header >> 1) & 3) != 0) off += 2;
  if (version == 5) {
    std::size_t plen = 0;
    int shift = 0;
    while (p.body[off] & 0x80) {
      plen |= static_cast<std::size_t>(p.body[off++] & 0x7f) << shift;
      shift += 7;
    }
    plen |= static_cast<std::size_t>(p.body[off++]) << shift;
    off += plen;
  }
  return Bytes(p.body.begin() + static_cast<long>(off), p.body.end());
}

}  // namespace wisp_test
