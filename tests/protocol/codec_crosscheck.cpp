// codec_crosscheck IN.jsonl OUT.jsonl: the C++ half of the mqtt-packet cross-check (driven by
// tests/node/codec_crosscheck.cmake). For each {v, hex, pkt} line written by mqtt-packet it
// decodes hex with Wisp's decoder and compares with pkt (the fields mqtt-packet parsed); then it
// builds a Wisp packet from pkt, encodes it with Wisp's encoder and writes {v, hex, pkt} to
// OUT.jsonl for `codec_crosscheck.js verify`. Exits 1 on any mismatch.
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/decoder.h"
#include "protocol/encoder.h"
#include "protocol/packets.h"

using json = nlohmann::json;
using namespace protocol;

namespace {

using Bytes = std::vector<std::uint8_t>;

std::string to_hex(ByteSpan b) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (std::uint8_t x : b) {
    s.push_back(digits[x >> 4]);
    s.push_back(digits[x & 0x0F]);
  }
  return s;
}

Bytes from_hex(const std::string& s) {
  auto nib = [](char c) -> std::uint8_t {
    if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
    return static_cast<std::uint8_t>(c - 'a' + 10);
  };
  Bytes out(s.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>((nib(s[2 * i]) << 4) | nib(s[2 * i + 1]));
  }
  return out;
}

std::string str(std::string_view s) { return std::string(s); }

// Views handed to Wisp packets built from JSON point into the JSON strings or into here.
struct Arena {
  std::deque<Bytes> bins;
  ByteSpan bin(const json& hex) {
    bins.push_back(from_hex(hex.get<std::string>()));
    return bins.back();
  }
};

std::string_view sv(const json& j) {
  const auto& s = j.get_ref<const std::string&>();
  return {s.data(), s.size()};
}

// ---- Wisp -> normalised JSON (same shape as norm() in codec_crosscheck.js) -----------------

// One entry per property: JSON name, and how to read / write it.
template <class F>
void for_each_property(F&& f) {
  f("payloadFormatIndicator", &Properties::payload_format_indicator);
  f("messageExpiryInterval", &Properties::message_expiry_interval);
  f("contentType", &Properties::content_type);
  f("responseTopic", &Properties::response_topic);
  f("correlationData", &Properties::correlation_data);
  f("sessionExpiryInterval", &Properties::session_expiry_interval);
  f("assignedClientIdentifier", &Properties::assigned_client_identifier);
  f("serverKeepAlive", &Properties::server_keep_alive);
  f("authenticationMethod", &Properties::authentication_method);
  f("authenticationData", &Properties::authentication_data);
  f("requestProblemInformation", &Properties::request_problem_information);
  f("willDelayInterval", &Properties::will_delay_interval);
  f("requestResponseInformation", &Properties::request_response_information);
  f("responseInformation", &Properties::response_information);
  f("serverReference", &Properties::server_reference);
  f("reasonString", &Properties::reason_string);
  f("receiveMaximum", &Properties::receive_maximum);
  f("topicAliasMaximum", &Properties::topic_alias_maximum);
  f("topicAlias", &Properties::topic_alias);
  f("maximumQoS", &Properties::maximum_qos);
  f("retainAvailable", &Properties::retain_available);
  f("maximumPacketSize", &Properties::maximum_packet_size);
  f("wildcardSubscriptionAvailable", &Properties::wildcard_subscription_available);
  f("subscriptionIdentifiersAvailable", &Properties::subscription_identifier_available);
  f("sharedSubscriptionAvailable", &Properties::shared_subscription_available);
}

json props_json(const Properties& p) {
  json o = json::object();
  for_each_property([&](const char* name, auto member) {
    const auto& v = p.*member;
    if (!v) return;
    using T = typename std::decay_t<decltype(v)>::value_type;
    if constexpr (std::is_same_v<T, std::string_view>) {
      o[name] = str(*v);
    } else if constexpr (std::is_same_v<T, ByteSpan>) {
      o[name] = to_hex(*v);
    } else {
      o[name] = *v;
    }
  });
  if (!p.subscription_identifiers.empty()) o["subscriptionIdentifier"] = p.subscription_identifiers;
  if (!p.user_properties.empty()) {
    // mqtt-packet groups values by key, keys in order of first appearance.
    json groups = json::array();
    for (const UserProperty& u : p.user_properties) {
      bool found = false;
      for (auto& g : groups) {
        if (g[0] == str(u.key)) {
          g[1].push_back(str(u.value));
          found = true;
        }
      }
      if (!found) groups.push_back(json::array({str(u.key), json::array({str(u.value)})}));
    }
    o["userProperties"] = groups;
  }
  return o;
}

int code(ReasonCode r) { return static_cast<int>(r); }
int qos(QoS q) { return static_cast<int>(q); }

json to_json(const Packet& packet, ProtocolVersion v) {
  const bool v5 = v == ProtocolVersion::v5;
  return std::visit(
      [&](const auto& p) -> json {
        using T = std::decay_t<decltype(p)>;
        json o;
        if constexpr (std::is_same_v<T, Connect>) {
          o["cmd"] = "connect";
          o["protocolId"] = p.version == ProtocolVersion::v31 ? "MQIsdp" : "MQTT";
          o["protocolVersion"] = static_cast<int>(p.version);
          o["bridge"] = p.bridge;
          o["clean"] = p.clean_start;
          o["keepalive"] = p.keep_alive_s;
          o["clientId"] = str(p.client_id);
          if (p.will) {
            o["will"] = {{"topic", str(p.will->topic)},
                         {"payload", to_hex(p.will->payload)},
                         {"qos", qos(p.will->qos)},
                         {"retain", p.will->retain},
                         {"properties", props_json(p.will->properties)}};
          } else {
            o["will"] = nullptr;
          }
          o["username"] = p.username ? json(str(*p.username)) : json(nullptr);
          o["password"] = p.password ? json(to_hex(*p.password)) : json(nullptr);
        } else if constexpr (std::is_same_v<T, ConnAck>) {
          o["cmd"] = "connack";
          o["sessionPresent"] = p.session_present;
          o["code"] = v5 ? code(p.reason) : static_cast<int>(to_connack_v311(p.reason));
        } else if constexpr (std::is_same_v<T, Publish>) {
          o["cmd"] = "publish";
          o["topic"] = str(p.topic);
          o["payload"] = to_hex(p.payload);
          o["qos"] = qos(p.qos);
          o["retain"] = p.retain;
          o["dup"] = p.dup;
          o["messageId"] = p.id;
        } else if constexpr (std::is_same_v<T, PubAck> || std::is_same_v<T, PubRec> ||
                             std::is_same_v<T, PubRel> || std::is_same_v<T, PubComp>) {
          o["cmd"] = std::is_same_v<T, PubAck>   ? "puback"
                     : std::is_same_v<T, PubRec> ? "pubrec"
                     : std::is_same_v<T, PubRel> ? "pubrel"
                                                 : "pubcomp";
          o["messageId"] = p.id;
          o["reasonCode"] = code(p.reason);
        } else if constexpr (std::is_same_v<T, Subscribe>) {
          o["cmd"] = "subscribe";
          o["messageId"] = p.id;
          o["subscriptions"] = json::array();
          for (const auto& s : p.subscriptions) {
            o["subscriptions"].push_back({{"topic", str(s.filter)},
                                          {"qos", qos(s.options.qos)},
                                          {"nl", s.options.no_local},
                                          {"rap", s.options.retain_as_published},
                                          {"rh", s.options.retain_handling}});
          }
        } else if constexpr (std::is_same_v<T, SubAck> || std::is_same_v<T, UnsubAck>) {
          o["cmd"] = std::is_same_v<T, SubAck> ? "suback" : "unsuback";
          o["messageId"] = p.id;
          o["granted"] = json::array();
          for (ReasonCode r : p.reasons) o["granted"].push_back(code(r));
        } else if constexpr (std::is_same_v<T, Unsubscribe>) {
          o["cmd"] = "unsubscribe";
          o["messageId"] = p.id;
          o["unsubscriptions"] = json::array();
          for (auto f : p.filters) o["unsubscriptions"].push_back(str(f));
        } else if constexpr (std::is_same_v<T, PingReq>) {
          o["cmd"] = "pingreq";
        } else if constexpr (std::is_same_v<T, PingResp>) {
          o["cmd"] = "pingresp";
        } else if constexpr (std::is_same_v<T, Disconnect> || std::is_same_v<T, Auth>) {
          o["cmd"] = std::is_same_v<T, Disconnect> ? "disconnect" : "auth";
          o["reasonCode"] = code(p.reason);
        }
        if constexpr (requires { p.properties; }) o["properties"] = props_json(p.properties);
        return o;
      },
      packet);
}

// ---- normalised JSON -> Wisp packet -------------------------------------------------------

Properties props_from(const json& j, Arena& a) {
  Properties p;
  for_each_property([&](const char* name, auto member) {
    if (!j.contains(name)) return;
    auto& v = p.*member;
    using T = typename std::decay_t<decltype(v)>::value_type;
    if constexpr (std::is_same_v<T, std::string_view>) {
      v = sv(j.at(name));
    } else if constexpr (std::is_same_v<T, ByteSpan>) {
      v = a.bin(j.at(name));
    } else {
      v = j.at(name).get<T>();
    }
  });
  if (j.contains("subscriptionIdentifier")) {
    p.subscription_identifiers = j.at("subscriptionIdentifier").get<std::vector<std::uint32_t>>();
  }
  if (j.contains("userProperties")) {
    for (const auto& g : j.at("userProperties")) {
      for (const auto& val : g[1]) p.user_properties.push_back({sv(g[0]), sv(val)});
    }
  }
  return p;
}

template <class T>
T with_id_reason(const json& j, Arena& a) {
  T t;
  t.id = j.at("messageId").get<PacketId>();
  t.reason = static_cast<ReasonCode>(j.at("reasonCode").get<int>());
  t.properties = props_from(j.at("properties"), a);
  return t;
}

Packet from_json(const json& j, ProtocolVersion v, Arena& a) {
  const std::string cmd = j.at("cmd").get<std::string>();
  if (cmd == "connect") {
    Connect c;
    c.version = static_cast<ProtocolVersion>(j.at("protocolVersion").get<int>());
    c.bridge = j.at("bridge").get<bool>();
    c.clean_start = j.at("clean").get<bool>();
    c.keep_alive_s = j.at("keepalive").get<std::uint16_t>();
    c.client_id = sv(j.at("clientId"));
    if (!j.at("will").is_null()) {
      const json& w = j.at("will");
      Will will;
      will.topic = sv(w.at("topic"));
      will.payload = a.bin(w.at("payload"));
      will.qos = static_cast<QoS>(w.at("qos").get<int>());
      will.retain = w.at("retain").get<bool>();
      will.properties = props_from(w.at("properties"), a);
      c.will = will;
    }
    if (!j.at("username").is_null()) c.username = sv(j.at("username"));
    if (!j.at("password").is_null()) c.password = a.bin(j.at("password"));
    c.properties = props_from(j.at("properties"), a);
    return c;
  }
  if (cmd == "connack") {
    ConnAck c;
    c.session_present = j.at("sessionPresent").get<bool>();
    const int rc = j.at("code").get<int>();
    c.reason = v == ProtocolVersion::v5 ? static_cast<ReasonCode>(rc)
                                        : from_connack_v311(static_cast<ConnackV311>(rc));
    c.properties = props_from(j.at("properties"), a);
    return c;
  }
  if (cmd == "publish") {
    Publish p;
    p.topic = sv(j.at("topic"));
    p.payload = a.bin(j.at("payload"));
    p.qos = static_cast<QoS>(j.at("qos").get<int>());
    p.retain = j.at("retain").get<bool>();
    p.dup = j.at("dup").get<bool>();
    p.id = j.at("messageId").get<PacketId>();
    p.properties = props_from(j.at("properties"), a);
    return p;
  }
  if (cmd == "puback") return with_id_reason<PubAck>(j, a);
  if (cmd == "pubrec") return with_id_reason<PubRec>(j, a);
  if (cmd == "pubrel") return with_id_reason<PubRel>(j, a);
  if (cmd == "pubcomp") return with_id_reason<PubComp>(j, a);
  if (cmd == "subscribe") {
    Subscribe s;
    s.id = j.at("messageId").get<PacketId>();
    for (const auto& e : j.at("subscriptions")) {
      TopicSubscription t;
      t.filter = sv(e.at("topic"));
      t.options.qos = static_cast<QoS>(e.at("qos").get<int>());
      t.options.no_local = e.at("nl").get<bool>();
      t.options.retain_as_published = e.at("rap").get<bool>();
      t.options.retain_handling = e.at("rh").get<std::uint8_t>();
      s.subscriptions.push_back(t);
    }
    s.properties = props_from(j.at("properties"), a);
    return s;
  }
  if (cmd == "suback" || cmd == "unsuback") {
    std::vector<ReasonCode> reasons;
    for (const auto& r : j.at("granted")) reasons.push_back(static_cast<ReasonCode>(r.get<int>()));
    const PacketId id = j.at("messageId").get<PacketId>();
    if (cmd == "suback") return SubAck{id, reasons, props_from(j.at("properties"), a)};
    return UnsubAck{id, reasons, props_from(j.at("properties"), a)};
  }
  if (cmd == "unsubscribe") {
    Unsubscribe u;
    u.id = j.at("messageId").get<PacketId>();
    for (const auto& f : j.at("unsubscriptions")) u.filters.push_back(sv(f));
    u.properties = props_from(j.at("properties"), a);
    return u;
  }
  if (cmd == "pingreq") return PingReq{};
  if (cmd == "pingresp") return PingResp{};
  if (cmd == "disconnect") {
    return Disconnect{static_cast<ReasonCode>(j.at("reasonCode").get<int>()),
                      props_from(j.at("properties"), a)};
  }
  return Auth{static_cast<ReasonCode>(j.at("reasonCode").get<int>()),
              props_from(j.at("properties"), a)};
}

ProtocolVersion version_of(int v) {
  return v == 3 ? ProtocolVersion::v31 : v == 4 ? ProtocolVersion::v311 : ProtocolVersion::v5;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: codec_crosscheck IN.jsonl OUT.jsonl\n");
    return 2;
  }
  std::ifstream in(argv[1]);
  std::ofstream out(argv[2]);
  if (!in || !out) {
    std::fprintf(stderr, "codec_crosscheck: cannot open %s or %s\n", argv[1], argv[2]);
    return 2;
  }
  int total = 0;
  int bad = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ++total;
    const json j = json::parse(line);
    const int vnum = j.at("v").get<int>();
    const ProtocolVersion v = version_of(vnum);
    const std::string hex = j.at("hex").get<std::string>();
    const json& pkt = j.at("pkt");
    auto report = [&](const std::string& what, const json& ours) {
      if (++bad <= 10) {
        std::fprintf(stderr, "%s (v%d) %s\n  mqtt-packet: %s\n  wisp:        %s\n", what.c_str(),
                     vnum, hex.substr(0, 120).c_str(), pkt.dump().c_str(), ours.dump().c_str());
      }
    };

    // mqtt-packet -> Wisp decoder.
    const Bytes wire = from_hex(hex);
    Decoder d;
    d.set_version(v);
    ByteSpan rest = wire;
    DecodeStep step = d.next(rest);
    if (const auto* e = std::get_if<DecodeError>(&step)) {
      report(std::string("wisp rejected: ") + e->detail, nullptr);
      continue;
    }
    if (!std::holds_alternative<Packet>(step) || !rest.empty()) {
      report("wisp did not decode exactly one packet", nullptr);
      continue;
    }
    const json ours = to_json(std::get<Packet>(step), v);
    if (ours != pkt) {
      report("decoded fields differ", ours);
      continue;
    }

    // Wisp encoder -> mqtt-packet (checked by codec_crosscheck.js verify).
    Arena arena;
    const Packet built = from_json(pkt, v, arena);
    const Bytes encoded = encode_to_vector(built, v);
    out << json{{"v", vnum}, {"hex", to_hex(encoded)}, {"pkt", pkt}}.dump() << '\n';
  }
  std::printf("wisp decoded %d/%d mqtt-packet packets identically\n", total - bad, total);
  return bad == 0 && total > 0 ? 0 : 1;
}
