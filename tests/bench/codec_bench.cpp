// codec_bench: Google Benchmark of the MQTT codec's hot paths. Decode and encode of CONNECT,
// PUBLISH 64 B and PUBLISH 16 KiB (MQTT 3.1.1 and 5.0): packets/s (items) and MB/s (bytes).
// Not a test: figures only. Run a release build: build/codec_bench.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <variant>
#include <vector>

#include "protocol/decoder.h"
#include "protocol/encoder.h"

using namespace protocol;

namespace {

constexpr int kPacketsPerRead = 64;  // decode benchmarks feed this many packets per read

std::vector<std::uint8_t>& payload_of(std::size_t n) {
  static std::vector<std::uint8_t> small(64, 0x61);
  static std::vector<std::uint8_t> large(16384, 0x62);
  return n == 64 ? small : large;
}

Connect sample_connect(ProtocolVersion v) {
  static const std::uint8_t password[] = {'s', 'e', 'c', 'r', 'e', 't', '-', 'p', 'w'};
  Connect c;
  c.version = v;
  c.keep_alive_s = 60;
  c.client_id = "sensor-0042-livingroom";
  c.username = "device-user";
  c.password = ByteSpan(password);
  if (v == ProtocolVersion::v5) {
    c.properties.session_expiry_interval = 3600;
    c.properties.receive_maximum = 100;
    c.properties.topic_alias_maximum = 16;
  }
  return c;
}

Publish sample_publish(std::size_t payload, ProtocolVersion v) {
  Publish p;
  p.topic = "home/livingroom/sensor/temperature";
  p.qos = QoS::at_least_once;
  p.id = 4242;
  p.payload = payload_of(payload);
  if (v == ProtocolVersion::v5) {
    p.properties.message_expiry_interval = 300;
    p.properties.content_type = "application/json";
  }
  return p;
}

ProtocolVersion version_arg(const benchmark::State& s) {
  return s.range(0) == 5 ? ProtocolVersion::v5 : ProtocolVersion::v311;
}

void decode_many(benchmark::State& state, const Packet& packet, ProtocolVersion v) {
  std::vector<std::uint8_t> wire;
  ByteWriter w(wire);
  for (int i = 0; i < kPacketsPerRead; ++i) encode(packet, v, w);
  Decoder d;
  d.set_version(v);
  for (auto _ : state) {
    ByteSpan in = wire;
    for (int i = 0; i < kPacketsPerRead; ++i) {
      DecodeStep s = d.next(in);
      if (!std::holds_alternative<Packet>(s)) state.SkipWithError("decode failed");
      benchmark::DoNotOptimize(s);
    }
  }
  state.SetItemsProcessed(state.iterations() * kPacketsPerRead);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
}

void encode_one(benchmark::State& state, const Packet& packet, ProtocolVersion v) {
  std::vector<std::uint8_t> buf;  // reused, as a connection's write buffer is
  buf.reserve(encoded_size(packet, v));
  for (auto _ : state) {
    buf.clear();
    ByteWriter w(buf);
    encode(packet, v, w);
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(encoded_size(packet, v)));
}

void BM_DecodeConnect(benchmark::State& s) {
  decode_many(s, sample_connect(version_arg(s)), version_arg(s));
}
void BM_DecodePublish64B(benchmark::State& s) {
  decode_many(s, sample_publish(64, version_arg(s)), version_arg(s));
}
void BM_DecodePublish16KiB(benchmark::State& s) {
  decode_many(s, sample_publish(16384, version_arg(s)), version_arg(s));
}
void BM_EncodeConnect(benchmark::State& s) {
  encode_one(s, sample_connect(version_arg(s)), version_arg(s));
}
void BM_EncodePublish64B(benchmark::State& s) {
  encode_one(s, sample_publish(64, version_arg(s)), version_arg(s));
}
void BM_EncodePublish16KiB(benchmark::State& s) {
  encode_one(s, sample_publish(16384, version_arg(s)), version_arg(s));
}

// Decoding a 16 KiB PUBLISH that arrives in 1460-byte TCP segments (reassembly path).
void BM_DecodePublish16KiBSegmented(benchmark::State& state) {
  const ProtocolVersion v = version_arg(state);
  const std::vector<std::uint8_t> wire = encode_to_vector(sample_publish(16384, v), v);
  Decoder d;
  d.set_version(v);
  for (auto _ : state) {
    for (std::size_t off = 0; off < wire.size(); off += 1460) {
      ByteSpan in = ByteSpan(wire).subspan(off, std::min<std::size_t>(1460, wire.size() - off));
      DecodeStep s = d.next(in);
      benchmark::DoNotOptimize(s);
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
}

// Fan-out: per-subscriber head + shared payload copy, as the write pump does it.
void BM_EncodePublishHead64B(benchmark::State& state) {
  const ProtocolVersion v = version_arg(state);
  const auto& payload = payload_of(64);
  const std::uint32_t sub_ids[] = {7};
  PublishHead h;
  h.topic = "home/livingroom/sensor/temperature";
  h.qos = QoS::at_least_once;
  h.id = 17;
  h.subscription_ids = sub_ids;
  h.payload_len = payload.size();
  std::vector<std::uint8_t> buf;
  buf.reserve(publish_packet_size(h, v));
  for (auto _ : state) {
    buf.clear();
    ByteWriter w(buf);
    encode_publish_head(h, v, w);
    w.bytes(payload);
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(buf.size()));
}

}  // namespace

BENCHMARK(BM_DecodeConnect)->Arg(4)->Arg(5);
BENCHMARK(BM_DecodePublish64B)->Arg(4)->Arg(5);
BENCHMARK(BM_DecodePublish16KiB)->Arg(4)->Arg(5);
BENCHMARK(BM_DecodePublish16KiBSegmented)->Arg(4)->Arg(5);
BENCHMARK(BM_EncodeConnect)->Arg(4)->Arg(5);
BENCHMARK(BM_EncodePublish64B)->Arg(4)->Arg(5);
BENCHMARK(BM_EncodePublish16KiB)->Arg(4)->Arg(5);
BENCHMARK(BM_EncodePublishHead64B)->Arg(4)->Arg(5);

BENCHMARK_MAIN();
