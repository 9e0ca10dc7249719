// Packet helpers: type of a Packet, names, and field-wise equality of the packets with views.
#include "protocol/packets.h"

#include <algorithm>

namespace protocol {
namespace {

bool same_bytes(ByteSpan a, ByteSpan b) noexcept {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

}  // namespace

bool operator==(const Will& a, const Will& b) noexcept {
  return a.topic == b.topic && same_bytes(a.payload, b.payload) && a.qos == b.qos &&
         a.retain == b.retain && a.properties == b.properties;
}

bool operator==(const Connect& a, const Connect& b) noexcept {
  const bool same_password = a.password.has_value() == b.password.has_value() &&
                             (!a.password.has_value() || same_bytes(*a.password, *b.password));
  return a.version == b.version && a.bridge == b.bridge && a.clean_start == b.clean_start &&
         a.keep_alive_s == b.keep_alive_s && a.client_id == b.client_id && a.will == b.will &&
         a.username == b.username && same_password && a.properties == b.properties;
}

bool operator==(const Publish& a, const Publish& b) noexcept {
  return a.topic == b.topic && same_bytes(a.payload, b.payload) && a.qos == b.qos &&
         a.retain == b.retain && a.dup == b.dup && a.id == b.id && a.properties == b.properties;
}

PacketType type_of(const Packet& p) noexcept {
  // Variant alternatives are declared in PacketType order, starting at CONNECT = 1.
  return static_cast<PacketType>(p.index() + 1);
}

const char* to_string(PacketType t) noexcept {
  switch (t) {
    case PacketType::connect: return "CONNECT";
    case PacketType::connack: return "CONNACK";
    case PacketType::publish: return "PUBLISH";
    case PacketType::puback: return "PUBACK";
    case PacketType::pubrec: return "PUBREC";
    case PacketType::pubrel: return "PUBREL";
    case PacketType::pubcomp: return "PUBCOMP";
    case PacketType::subscribe: return "SUBSCRIBE";
    case PacketType::suback: return "SUBACK";
    case PacketType::unsubscribe: return "UNSUBSCRIBE";
    case PacketType::unsuback: return "UNSUBACK";
    case PacketType::pingreq: return "PINGREQ";
    case PacketType::pingresp: return "PINGRESP";
    case PacketType::disconnect: return "DISCONNECT";
    case PacketType::auth: return "AUTH";
  }
  return "RESERVED";
}

static_assert(std::variant_size_v<Packet> == 15);
static_assert(std::is_same_v<std::variant_alternative_t<14, Packet>, Auth>);
static_assert(std::is_same_v<std::variant_alternative_t<2, Packet>, Publish>);

}  // namespace protocol
