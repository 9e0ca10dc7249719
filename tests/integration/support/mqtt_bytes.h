// Hand-encoded MQTT packets for raw-socket tests (exact bytes, independent of the broker's own
// codec) and a tiny stream reader that splits received bytes into packets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "raw_client.h"

namespace wisp_test {

Bytes mqtt_varint(std::size_t n);
// version 4 = 3.1.1, 5 = 5.0 (v5 packets carry an empty property block).
Bytes mqtt_connect(const std::string& client_id, int version = 4, std::uint16_t keepalive = 60);
Bytes mqtt_subscribe(std::uint16_t packet_id, const std::string& filter, std::uint8_t qos,
                     int version = 4);
Bytes mqtt_publish(const std::string& topic, const Bytes& payload, std::uint8_t qos = 0,
                   std::uint16_t packet_id = 0, int version = 4, bool retain = false);
Bytes mqtt_disconnect(int version = 4);
Bytes mqtt_pingreq();

struct MqttPacket {
  std::uint8_t header = 0;  // type << 4 | flags
  Bytes body;
  int type() const { return header >> 4; }
};

// Reads one whole packet from the stream (bytes past it stay buffered in the client).
std::optional<MqttPacket> read_packet(TcpClient& c, Millis timeout = 5000ms);
std::optional<MqttPacket> read_packet(WsClient& c, Millis timeout = 5000ms);
// Payload of a PUBLISH body (given the topic-length prefix, QoS and version).
Bytes publish_payload(const MqttPacket& p, int version = 4);

}  // namespace wisp_test
