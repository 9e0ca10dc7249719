// core_bench: the engine alone (no sockets). Fan-out of one QoS 0 / QoS 1 publish to 1, 100 and
// 10,000 subscribers including the write pump (head build + payload copy per subscriber), and
// routing one publish among 100k subscriptions with wildcards.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "broker/core/broker.h"
#include "broker/core/clock.h"
#include "broker/core/connection.h"
#include "broker/core/peer.h"
#include "protocol/encoder.h"

namespace {

using namespace broker::core;
using protocol::ProtocolVersion;
using protocol::QoS;

class NullPeer final : public Peer {
 public:
  void want_write() noexcept override {}
  void close(protocol::ReasonCode) noexcept override {}
  void pause_reading(bool) noexcept override {}
};

class FixedClock final : public Clock {
 public:
  TimePoint now() const noexcept override { return t_; }
  TimePoint t_ = TimePoint{} + std::chrono::hours(24 * 365 * 50);
};

struct BenchClient {
  BenchClient(Broker& b, ProtocolVersion v, const std::string& id) : version(v) {
    conn = std::make_unique<Connection>(b, peer, ConnectionInfo{});
    protocol::Connect c;
    c.version = v;
    c.client_id = id;
    send(c);
    drain();
  }
  void send(const protocol::Packet& p) { conn->on_bytes(protocol::encode_to_vector(p, version)); }
  std::size_t drain() {
    std::size_t total = 0;
    while (conn->has_output()) total += conn->fill_output(buf);
    return total;
  }
  ProtocolVersion version;
  NullPeer peer;
  std::unique_ptr<Connection> conn;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(16 * 1024);
};

BrokerConfig bench_config() {
  BrokerConfig c;
  c.sys_interval = std::chrono::seconds(0);
  c.max_inflight_messages = 65535;
  return c;
}

void BM_FanOut(benchmark::State& state) {
  const auto subscribers = static_cast<int>(state.range(0));
  const auto qos = static_cast<QoS>(state.range(1));
  const auto version = state.range(2) == 5 ? ProtocolVersion::v5 : ProtocolVersion::v311;
  FixedClock clock;
  Broker broker(bench_config(), clock);
  std::vector<std::unique_ptr<BenchClient>> subs;
  for (int i = 0; i < subscribers; ++i) {
    auto c = std::make_unique<BenchClient>(broker, version, "s" + std::to_string(i));
    protocol::Subscribe s;
    s.id = 1;
    s.subscriptions.push_back({"bench/+/data", {.qos = qos}});
    c->send(s);
    c->drain();
    subs.push_back(std::move(c));
  }
  BenchClient pub(broker, version, "publisher");
  std::vector<std::uint8_t> payload(64, 'x');
  protocol::Publish p;
  p.topic = "bench/1/data";
  p.payload = payload;
  p.qos = qos;
  p.id = qos == QoS::at_most_once ? 0 : 1;
  const auto wire = protocol::encode_to_vector(p, version);
  std::vector<std::vector<std::uint8_t>> acks;  // QoS 1: each subscriber acks its packet id
  std::uint16_t next_id = 1;
  for (auto _ : state) {
    pub.conn->on_bytes(wire);
    pub.drain();
    std::size_t bytes = 0;
    for (auto& s : subs) bytes += s->drain();
    benchmark::DoNotOptimize(bytes);
    if (qos != QoS::at_most_once) {
      // The engine numbers ids per session from 1, in order: ack the one just sent.
      const auto ack = protocol::encode_to_vector(protocol::PubAck{next_id, {}, {}}, version);
      for (auto& s : subs) s->conn->on_bytes(ack);
      next_id = static_cast<std::uint16_t>(next_id == 65535 ? 1 : next_id + 1);
    }
  }
  state.counters["deliveries/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * subscribers, benchmark::Counter::kIsRate);
  state.counters["publishes/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["dropped"] = static_cast<double>(broker.stats().publish_dropped);
}
BENCHMARK(BM_FanOut)
    ->ArgNames({"subs", "qos", "v"})
    ->Args({1, 0, 4})
    ->Args({100, 0, 4})
    ->Args({10000, 0, 4})
    ->Args({1, 0, 5})
    ->Args({100, 0, 5})
    ->Args({10000, 0, 5})
    ->Args({100, 1, 4})
    ->Args({10000, 1, 5})
    ->Unit(benchmark::kMicrosecond);

// Routing one publish among 100k subscriptions (distinct sessions, exact, '+' and '#'
// filters), 100 of them matching; includes writing the 100 deliveries.
void BM_Route100k(benchmark::State& state) {
  FixedClock clock;
  Broker broker(bench_config(), clock);
  std::vector<std::unique_ptr<BenchClient>> subs;
  constexpr int kSubs = 100000;
  subs.reserve(kSubs);
  for (int i = 0; i < kSubs; ++i) {
    auto c = std::make_unique<BenchClient>(broker, ProtocolVersion::v311, "s" + std::to_string(i));
    protocol::Subscribe s;
    s.id = 1;
    std::string f;
    switch (i % 4) {
      case 0: f = "site/" + std::to_string(i % 1000) + "/dev/" + std::to_string(i) + "/temp"; break;
      case 1: f = "site/" + std::to_string(i % 1000) + "/dev/+/temp"; break;
      case 2: f = "site/" + std::to_string(i % 1000) + "/#"; break;
      default: f = "other/" + std::to_string(i) + "/x"; break;
    }
    s.subscriptions.push_back({f, {.qos = QoS::at_most_once}});
    c->send(s);
    c->drain();
    subs.push_back(std::move(c));
  }
  BenchClient pub(broker, ProtocolVersion::v311, "publisher");
  std::vector<std::uint8_t> payload(16, 'x');
  protocol::Publish p;
  p.topic = "site/5/dev/5/temp";  // matches "site/5/dev/+/temp" of 100 sessions
  p.payload = payload;
  const auto wire = protocol::encode_to_vector(p, ProtocolVersion::v311);
  for (auto _ : state) {
    pub.conn->on_bytes(wire);
    for (std::size_t i = 5; i < subs.size(); i += 1000) subs[i]->drain();
  }
  state.counters["publishes/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["subscriptions"] = static_cast<double>(broker.stats().subscriptions_count);
}
BENCHMARK(BM_Route100k)->Unit(benchmark::kNanosecond);

}  // namespace

BENCHMARK_MAIN();
