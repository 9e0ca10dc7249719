// Implementation of the codec test helpers: deep copy of packets and the chunked decode loop.
#include "codec_test_util.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <variant>

namespace wisp_test {
namespace {

using namespace protocol;

class Copier {
 public:
  explicit Copier(Owned& o) : o_(o) {}
  ByteSpan bytes(ByteSpan s) {
    auto buf = std::make_unique<std::uint8_t[]>(s.size() + 1);
    if (!s.empty()) std::memcpy(buf.get(), s.data(), s.size());
    ByteSpan out(buf.get(), s.size());
    o_.store.push_back(std::move(buf));
    return out;
  }
  std::string_view str(std::string_view s) {
    const ByteSpan b = bytes(span_of(s));
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }
  template <class T>
  void opt(std::optional<T>& v) {
    if (!v) return;
    if constexpr (std::is_same_v<T, std::string_view>) {
      v = str(*v);
    } else {
      v = bytes(*v);
    }
  }
  void props(Properties& p) {
    opt(p.content_type);
    opt(p.response_topic);
    opt(p.correlation_data);
    opt(p.assigned_client_identifier);
    opt(p.authentication_method);
    opt(p.authentication_data);
    opt(p.response_information);
    opt(p.server_reference);
    opt(p.reason_string);
    for (UserProperty& u : p.user_properties) {
      u.key = str(u.key);
      u.value = str(u.value);
    }
  }
  void fix(Connect& c) {
    c.client_id = str(c.client_id);
    if (c.will) {
      c.will->topic = str(c.will->topic);
      c.will->payload = bytes(c.will->payload);
      props(c.will->properties);
    }
    opt(c.username);
    opt(c.password);
    props(c.properties);
  }
  void fix(Publish& p) {
    p.topic = str(p.topic);
    p.payload = bytes(p.payload);
    props(p.properties);
  }
  void fix(Subscribe& s) {
    for (auto& t : s.subscriptions) t.filter = str(t.filter);
    props(s.properties);
  }
  void fix(Unsubscribe& u) {
    for (auto& f : u.filters) f = str(f);
    props(u.properties);
  }
  void fix(PingReq&) {}
  void fix(PingResp&) {}
  template <class T>
  void fix(T& p) {
    props(p.properties);
  }

 private:
  Owned& o_;
};

}  // namespace

Owned own(const Packet& p) {
  Owned o{p, {}};
  Copier c(o);
  std::visit([&c](auto& x) { c.fix(x); }, o.packet);
  return o;
}

DecodeResult decode_all(const Chunks& chunks, std::optional<ProtocolVersion> version,
                        Limits limits) {
  DecodeResult out;
  Decoder d(limits);
  if (version) d.set_version(*version);
  for (ByteSpan chunk : chunks) {
    ByteSpan in = chunk;
    // Bounded: each iteration consumes input or returns an error / NeedMore.
    for (;;) {
      DecodeStep step = d.next(in);
      if (std::holds_alternative<NeedMore>(step)) {
        REQUIRE(in.empty());
        break;
      }
      if (auto* e = std::get_if<DecodeError>(&step)) {
        out.error = *e;
        return out;
      }
      out.packets.push_back(own(std::get<Packet>(step)));
      if (in.empty()) break;
    }
  }
  return out;
}

Owned decode_one(ByteSpan wire, ProtocolVersion version) {
  DecodeResult r = decode_bytes(wire, version);
  if (r.error) FAIL_CHECK("unexpected decode error: " << std::string(r.error->detail));
  REQUIRE(r.size() == 1);
  return std::move(r.packets.front());
}

void expect_error(ByteSpan wire, std::optional<ProtocolVersion> version, ReasonCode reason) {
  for_each_split(wire, [&](const Chunks& chunks) {
    DecodeResult r = decode_all(chunks, version);
    REQUIRE(r.error.has_value());
    CHECK_MESSAGE(r.error->reason == reason, std::string(r.error->detail));
    CHECK(r.packets.empty());
  });
}

}  // namespace wisp_test
