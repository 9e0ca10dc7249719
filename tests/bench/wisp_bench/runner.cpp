// Scenario plans, phase driver, aggregation and reporting; see runner.h.
#include "runner.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "payload.h"
#include "protocol/encoder.h"
#include "sink.h"
#include "worker.h"

namespace wisp_bench {
namespace {

std::string random_hex(int n) {
  std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < n; ++i) s += kHex[rng() % 16];
  return s;
}

struct Plan {
  std::vector<ConnSpec> specs;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> streams;  // (subscriber, publisher)
};

Plan make_plan(const Options& o, const std::string& run_id, std::uint32_t npubs,
               std::uint32_t nsubs) {
  Plan plan;
  const std::string base = o.topic_prefix + "/" + run_id;
  const std::string cid = "wb-" + run_id + "-";
  if (o.scenario == Scenario::connstorm) {
    for (std::uint32_t i = 0; i < o.clients; ++i) {
      plan.specs.push_back({Role::idle, i, cid + "c" + std::to_string(i), "", {}, {}});
    }
    return plan;
  }
  const bool shared_topic = o.scenario == Scenario::fanin || o.scenario == Scenario::fanout ||
                            o.scenario == Scenario::ceiling;
  auto topic_of = [&](std::uint32_t i) {
    return shared_topic ? base + "/" + to_string(o.scenario) : base + "/p" + std::to_string(i);
  };
  std::vector<ConnSpec> pubs(npubs);
  for (std::uint32_t p = 0; p < npubs; ++p) {
    pubs[p] = {Role::publisher, p, cid + "p" + std::to_string(p), topic_of(p), {}, {}};
  }
  for (std::uint32_t s = 0; s < nsubs; ++s) {
    ConnSpec sub{Role::subscriber, s, cid + "s" + std::to_string(s), topic_of(s), {}, {}};
    if (shared_topic) {
      for (std::uint32_t p = 0; p < npubs; ++p) sub.sources.push_back(p);
    } else {
      sub.sources.push_back(s);
    }
    for (std::uint32_t p : sub.sources) {
      pubs[p].streams.push_back(s * npubs + p);
      plan.streams.emplace_back(s, p);
    }
    plan.specs.push_back(std::move(sub));
  }
  for (auto& p : pubs) plan.specs.push_back(std::move(p));
  return plan;
}

bool resolve(const std::string& host, std::uint16_t port, Shared& sh, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    error = "cannot resolve " + host + ": " + ::gai_strerror(rc);
    return false;
  }
  sh.addr.assign(reinterpret_cast<const std::uint8_t*>(res->ai_addr),
                 reinterpret_cast<const std::uint8_t*>(res->ai_addr) + res->ai_addrlen);
  sh.addr_len = static_cast<std::uint32_t>(res->ai_addrlen);
  ::freeaddrinfo(res);
  return true;
}

void init_shared(Shared& sh, const Options& o, std::uint32_t npubs, std::uint32_t nsubs) {
  sh.opt = o;
  sh.npubs = npubs;
  sh.nsubs = nsubs;
  sh.sent = std::make_unique<std::atomic<std::uint64_t>[]>(std::max<std::uint32_t>(1, npubs));
  const std::size_t slots = std::max<std::size_t>(1, std::size_t{npubs} * nsubs);
  sh.progress = std::make_unique<std::atomic<std::uint64_t>[]>(slots);
  for (std::uint32_t i = 0; i < npubs; ++i) sh.sent[i] = 0;
  for (std::size_t i = 0; i < slots; ++i) sh.progress[i] = 0;
}

// Pushes the receive path (WS decode + MQTT decode + accounting + histogram) through a
// pre-encoded stream of publishes: the tool's own receive ceiling, messages/s.
double rx_ceiling(const Options& o) {
  Shared sh;
  init_shared(sh, o, 1, 1);
  Worker w(sh, 0);
  w.add({Role::subscriber, 0, "rx", "t", {}, {0}});
  Conn& c = *w.conns()[0];
  c.make_detached_ready();
  protocol::PublishHead head;
  head.topic = "wisp-bench/rx/ceiling";
  head.payload_len = o.size;
  const std::size_t pkt = protocol::publish_packet_size(head, o.version);
  const std::size_t n =
      std::max<std::size_t>(16, std::min<std::size_t>(2'000'000, (64u << 20) / pkt));
  std::vector<std::uint8_t> mqtt;
  mqtt.reserve(n * pkt);
  std::vector<std::uint8_t> payload(o.size, 'x');
  for (std::size_t i = 0; i < n; ++i) {
    protocol::ByteWriter wr(mqtt);
    protocol::encode_publish_head(head, o.version, wr);
    write_payload_header(payload.data(), PayloadHeader{0, i, 0});
    mqtt.insert(mqtt.end(), payload.begin(), payload.end());
  }
  std::vector<std::uint8_t> wire;
  if (o.transport == Transport::ws) {
    constexpr std::size_t kFrame = 16 * 1024;
    for (std::size_t at = 0; at < mqtt.size(); at += kFrame) {
      const std::size_t len = std::min(kFrame, mqtt.size() - at);
      ws_append_frame(wire, WsOpcode::binary, true, ByteSpan(mqtt.data() + at, len), std::nullopt);
    }
  } else {
    wire = std::move(mqtt);
  }
  const std::uint64_t t0 = mono_ns();
  constexpr std::size_t kChunk = 256 * 1024;
  for (std::size_t at = 0; at < wire.size(); at += kChunk) {
    c.on_bytes(ByteSpan(wire.data() + at, std::min(kChunk, wire.size() - at)));
  }
  const std::uint64_t t1 = mono_ns();
  if (c.trackers()[0].unique() != n) return 0;  // the path is broken: report 0, not a lie
  return static_cast<double>(n) / (static_cast<double>(t1 - t0) / 1e9);
}

double secs(std::uint64_t ns) { return static_cast<double>(ns) / 1e9; }
double round1(double v) { return std::round(v * 10) / 10; }

std::atomic<bool> g_done{false};

}  // namespace

std::int64_t read_rss_kib(int pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream is(line.substr(6));
      std::int64_t kb = -1;
      is >> kb;
      return kb;
    }
  }
  return -1;
}

std::string format_summary_line(const Summary& s) {
  std::string line;
  for (const auto& [k, v] : s) {
    if (!line.empty()) line += ' ';
    line += k;
    line += '=';
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
      line += std::to_string(*i);
    } else if (const auto* d = std::get_if<double>(&v)) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.1f", *d);
      line += buf;
    } else {
      const std::string& str = std::get<std::string>(v);
      const bool plain = !str.empty() && str.find_first_of(" \"'=\t\n") == std::string::npos;
      if (plain) {
        line += str;
      } else {
        line += '"';
        for (char c : str) {
          if (c == '"' || c == '\\') line += '\\';
          line += (c == '\n' || c == '\t') ? ' ' : c;
        }
        line += '"';
      }
    }
  }
  return line;
}

std::string format_summary_json(const Summary& s) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [k, v] : s) {
    std::visit([&j, &k = k](const auto& x) { j[k] = x; }, v);
  }
  return j.dump(2);
}

int run_bench(const Options& o_in, Summary& out) {
  Options o = o_in;
  Summary& s = out;
  auto put = [&s](const std::string& k, Value v) {
    for (auto& [key, val] : s) {
      if (key == k) {
        val = std::move(v);
        return;
      }
    }
    s.emplace_back(k, std::move(v));
  };
  auto i64 = [](auto v) { return Value{static_cast<std::int64_t>(v)}; };
  put("scenario", std::string(to_string(o.scenario)));
  put("transport", std::string(to_string(o.transport)));
  put("mqtt", i64(o.version == protocol::ProtocolVersion::v5 ? 5 : 3));
  put("qos", i64(static_cast<int>(o.qos)));
  put("size", i64(o.size));
  put("rate", o.rate);
  put("inflight", i64(o.inflight));
  const bool storm = o.scenario == Scenario::connstorm;
  const std::uint32_t npubs = storm ? 0 : o.pubs;
  const std::uint32_t nsubs = storm ? 0 : o.subs;
  put("pubs", i64(npubs));
  put("subs", i64(nsubs));
  put("clients", i64(storm ? o.clients : npubs + nsubs));
  put("duration_s", o.duration_s);
  put("status", std::string("fail"));
  auto fail_with = [&](const std::string& msg) {
    put("status", std::string("fail"));
    put("error", msg);
    std::cerr << "wisp-bench: " << msg << "\n";
    return 1;
  };

  ByteSink sink;
  if (o.scenario == Scenario::ceiling) {
    std::string err;
    o.port = sink.start(o.transport, o.version, err);
    if (o.port == 0) return fail_with(err);
    o.host = "127.0.0.1";
  }
  Shared sh;
  init_shared(sh, o, npubs, nsubs);
  sh.run_id = random_hex(8);
  {
    std::string err;
    if (!resolve(o.host, o.port, sh, err)) return fail_with(err);
  }
  Plan plan = make_plan(o, sh.run_id, npubs, nsubs);
  const std::size_t total = plan.specs.size();
  const std::uint32_t nthreads =
      static_cast<std::uint32_t>(std::max<std::size_t>(1, std::min<std::size_t>(o.threads, total)));
  std::vector<std::unique_ptr<Worker>> workers;
  for (std::uint32_t i = 0; i < nthreads; ++i) workers.push_back(std::make_unique<Worker>(sh, i));
  for (std::size_t i = 0; i < plan.specs.size(); ++i) {
    workers[i % nthreads]->add(std::move(plan.specs[i]));
  }

  // Hard deadline: whatever the broker does, the process ends.
  const double budget_s = o.setup_timeout_s + o.duration_s + o.drain_s + 10;
  std::thread([budget_s] {
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(static_cast<std::int64_t>(budget_s * 1000));
    while (std::chrono::steady_clock::now() < until) {
      if (g_done) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (g_done) return;
    std::fprintf(stderr, "wisp-bench: hard deadline (%.0f s) exceeded, exiting\n", budget_s);
    std::fprintf(stdout, "status=fail error=hard-deadline\n");
    std::fflush(stdout);
    ::_exit(2);
  }).detach();

  const std::int64_t rss_before = read_rss_kib(o.broker_pid);
  if (o.broker_pid > 0 && rss_before < 0) {
    std::cerr << "wisp-bench: cannot read /proc/" << o.broker_pid << "/status\n";
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  auto stop_and_join = [&] {
    sh.phase.store(static_cast<int>(Phase::stop), std::memory_order_release);
    for (auto& t : threads) t.join();
    threads.clear();
  };
  auto sum = [&workers](auto member) {
    std::uint64_t v = 0;
    for (auto& w : workers) v += ((*w).*member).load(std::memory_order_relaxed);
    return v;
  };
  auto sent_total = [&sh, npubs] {
    std::uint64_t v = 0;
    for (std::uint32_t p = 0; p < npubs; ++p) v += sh.sent[p].load(std::memory_order_relaxed);
    return v;
  };
  auto expected_total = [&sh, &plan] {
    std::uint64_t v = 0;
    for (auto [sub, pub] : plan.streams) v += sh.sent[pub].load(std::memory_order_relaxed);
    return v;
  };
  const auto tick = std::chrono::milliseconds(10);

  // ---- setup ----
  const std::uint64_t t_setup = mono_ns();
  std::uint64_t next_progress = t_setup + 1'000'000'000ull;
  std::string setup_error;
  for (;;) {
    const std::uint64_t ready = sum(&Worker::ready);
    const std::uint64_t failed = sum(&Worker::failed);
    if (ready + failed >= total) break;
    const std::uint64_t now = mono_ns();
    if (secs(now - t_setup) > o.setup_timeout_s) {
      setup_error = "setup timeout: " + std::to_string(ready) + "/" + std::to_string(total) +
                    " connections ready after " + std::to_string(o.setup_timeout_s) + " s";
      break;
    }
    if (!storm && failed > 0) break;
    if (o.progress && now >= next_progress) {
      next_progress += 1'000'000'000ull;
      std::fprintf(stderr, "[setup %.0fs] ready %llu/%zu failed %llu\n", secs(now - t_setup),
                   static_cast<unsigned long long>(ready), total,
                   static_cast<unsigned long long>(failed));
    }
    std::this_thread::sleep_for(tick);
  }
  const std::uint64_t ready_after_setup = sum(&Worker::ready);
  const std::uint64_t failed_after_setup = sum(&Worker::failed);
  const std::int64_t rss_connected = read_rss_kib(o.broker_pid);

  std::uint64_t t_start = 0;
  std::uint64_t t_run_end = 0;
  std::int64_t rss_hold_min = -1;
  std::int64_t rss_hold_max = -1;
  const bool setup_ok = setup_error.empty() && (storm || failed_after_setup == 0);
  if (setup_ok) {
    // ---- run (or hold) ----
    t_start = mono_ns();
    sh.t_start_ns.store(t_start, std::memory_order_relaxed);
    sh.phase.store(static_cast<int>(Phase::run), std::memory_order_release);
    const std::uint64_t t_end = t_start + static_cast<std::uint64_t>(o.duration_s * 1e9);
    next_progress = t_start + 1'000'000'000ull;
    std::uint64_t last_rx = 0;
    std::uint64_t last_tx = 0;
    std::uint64_t next_rss = t_start;
    for (;;) {
      const std::uint64_t now = mono_ns();
      if (now >= t_end) break;
      if (sum(&Worker::broken) > 0) break;  // the run is void: stop now, report why
      if (o.broker_pid > 0 && now >= next_rss) {
        next_rss += 500'000'000ull;
        const std::int64_t r = read_rss_kib(o.broker_pid);
        if (r >= 0) {
          rss_hold_min = rss_hold_min < 0 ? r : std::min(rss_hold_min, r);
          rss_hold_max = std::max(rss_hold_max, r);
        }
      }
      if (o.progress && now >= next_progress) {
        next_progress += 1'000'000'000ull;
        const std::uint64_t rx = sum(&Worker::rx_total);
        const std::uint64_t tx = sent_total();
        if (storm) {
          std::fprintf(stderr, "[hold %.0fs] connected %llu broker_rss_kb %lld\n",
                       secs(now - t_start), static_cast<unsigned long long>(ready_after_setup),
                       static_cast<long long>(read_rss_kib(o.broker_pid)));
        } else {
          std::fprintf(stderr, "[run %.0fs] sent %llu (%llu/s) received %llu (%llu/s)\n",
                       secs(now - t_start), static_cast<unsigned long long>(tx),
                       static_cast<unsigned long long>(tx - last_tx),
                       static_cast<unsigned long long>(rx),
                       static_cast<unsigned long long>(rx - last_rx));
        }
        last_rx = rx;
        last_tx = tx;
      }
      std::this_thread::sleep_for(tick);
    }
    // ---- drain ----
    t_run_end = mono_ns();
    sh.phase.store(static_cast<int>(Phase::drain), std::memory_order_release);
    // Wait until every worker has stopped publishing, so `sent` is final.
    for (int i = 0; i < 1000; ++i) {
      bool all = true;
      for (auto& w : workers) {
        all =
            all && w->phase_seen.load(std::memory_order_acquire) == static_cast<int>(Phase::drain);
      }
      if (all) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!storm && sum(&Worker::broken) == 0) {
      std::uint64_t last_change = t_run_end;
      std::uint64_t last_seen = 0;
      std::uint64_t last_unacked = 0;
      for (;;) {
        const std::uint64_t now = mono_ns();
        const std::uint64_t got = sum(&Worker::rx_unique);
        const std::uint64_t unacked = sum(&Worker::unacked);
        if (got >= expected_total() && unacked == 0) break;
        if (got != last_seen || unacked != last_unacked) {
          last_seen = got;
          last_unacked = unacked;
          last_change = now;
        }
        if (secs(now - last_change) > 1.0 || secs(now - t_run_end) > o.drain_s) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
  }
  const std::int64_t rss_end = read_rss_kib(o.broker_pid);
  stop_and_join();

  // ---- aggregate ----
  WorkerStats agg;
  std::uint64_t window_stalls = 0;
  std::uint64_t unique = 0, dup = 0, ooo = 0, lost = 0;
  for (auto& w : workers) {
    WorkerStats& st = w->stats();
    agg.latency.merge(st.latency);
    agg.connect_time.merge(st.connect_time);
    agg.received += st.received;
    agg.foreign += st.foreign;
    agg.payload_bytes += st.payload_bytes;
    agg.acked += st.acked;
    agg.ack_errors += st.ack_errors;
    agg.server_disconnects += st.server_disconnects;
    agg.broken += st.broken;
    agg.error_count += st.error_count;
    if (st.first_connect_ns &&
        (!agg.first_connect_ns || st.first_connect_ns < agg.first_connect_ns)) {
      agg.first_connect_ns = st.first_connect_ns;
    }
    agg.last_connack_ns = std::max(agg.last_connack_ns, st.last_connack_ns);
    agg.last_rx_ns = std::max(agg.last_rx_ns, st.last_rx_ns);
    for (const auto& e : st.errors) {
      if (agg.errors.size() < 5) agg.errors.push_back(e);
    }
    for (const auto& c : w->conns()) {
      window_stalls += c->window_stalls();
      if (c->spec().role != Role::subscriber) continue;
      for (std::uint32_t p : c->spec().sources) {
        const StreamTracker& t = c->trackers()[p];
        unique += t.unique();
        dup += t.duplicates();
        ooo += t.out_of_order();
        lost += t.lost(sh.sent[p].load());
      }
    }
  }
  const std::uint64_t sent = sent_total();
  const std::uint64_t expected = expected_total();

  if (!storm) {
    const std::uint64_t end = std::max(agg.last_rx_ns, t_run_end);
    const double elapsed = t_start && end > t_start ? secs(end - t_start) : 0;
    const double run_s = t_start && t_run_end > t_start ? secs(t_run_end - t_start) : 0;
    put("sent", i64(sent));
    put("expected", i64(expected));
    put("received", i64(agg.received));
    put("unique", i64(unique));
    put("lost", i64(lost));
    put("duplicated", i64(dup));
    put("out_of_order", i64(ooo));
    put("foreign", i64(agg.foreign));
    if (o.qos != protocol::QoS::at_most_once) {
      put("acked", i64(agg.acked));
      put("ack_errors", i64(agg.ack_errors));
    }
    put("sent_per_s", round1(run_s > 0 ? static_cast<double>(sent) / run_s : 0));
    double msgs = elapsed > 0 ? static_cast<double>(unique) / elapsed : 0;
    if (o.scenario == Scenario::ceiling) msgs = run_s > 0 ? static_cast<double>(sent) / run_s : 0;
    put("msgs_per_s", round1(msgs));
    put("mb_per_s", round1(msgs * static_cast<double>(o.size) / 1e6));
    put("p50_us", round1(static_cast<double>(agg.latency.percentile(0.50)) / 1e3));
    put("p99_us", round1(static_cast<double>(agg.latency.percentile(0.99)) / 1e3));
    put("p999_us", round1(static_cast<double>(agg.latency.percentile(0.999)) / 1e3));
    put("max_us", round1(static_cast<double>(agg.latency.max()) / 1e3));
    put("mean_us", round1(agg.latency.mean() / 1e3));
    put("window_stalls", i64(window_stalls));
  }
  const double connect_s = agg.last_connack_ns > agg.first_connect_ns
                               ? secs(agg.last_connack_ns - agg.first_connect_ns)
                               : 0;
  put("connected", i64(ready_after_setup));
  put("connect_failures", i64(failed_after_setup));
  put("connect_s", connect_s);
  put("connect_rate",
      round1(connect_s > 0 ? static_cast<double>(ready_after_setup) / connect_s : 0));
  put("connect_p50_ms", round1(static_cast<double>(agg.connect_time.percentile(0.5)) / 1e6));
  put("connect_p99_ms", round1(static_cast<double>(agg.connect_time.percentile(0.99)) / 1e6));
  put("connect_max_ms", round1(static_cast<double>(agg.connect_time.max()) / 1e6));
  if (o.broker_pid > 0) {
    put("broker_rss_kb", i64(rss_end));
    put("broker_rss_before_kb", i64(rss_before));
    put("broker_rss_connected_kb", i64(rss_connected));
    if (storm) {
      put("broker_rss_hold_min_kb", i64(rss_hold_min));
      put("broker_rss_hold_max_kb", i64(rss_hold_max));
      const double per_conn = ready_after_setup > 0 && rss_connected >= 0 && rss_before >= 0
                                  ? static_cast<double>(rss_connected - rss_before) * 1024.0 /
                                        static_cast<double>(ready_after_setup)
                                  : 0;
      put("rss_per_conn_b", round1(per_conn));
    }
  }
  if (o.scenario == Scenario::ceiling) {
    sink.stop();
    put("rx_ceiling_msgs_per_s", round1(rx_ceiling(o)));
  }
  put("server_disconnects", i64(agg.server_disconnects));
  put("broken", i64(agg.broken));
  put("errors", i64(agg.error_count));
  g_done = true;
  if (!setup_ok) {
    std::string msg = setup_error;
    if (msg.empty()) msg = std::to_string(failed_after_setup) + " connection(s) failed in setup";
    if (!agg.errors.empty()) msg += "; first: " + agg.errors.front();
    return fail_with(msg);
  }
  for (const auto& e : agg.errors) std::cerr << "wisp-bench: " << e << "\n";
  if (agg.broken > 0) {
    return fail_with(std::to_string(agg.broken) + " connection(s) broke during the run; first: " +
                     (agg.errors.empty() ? std::string("?") : agg.errors.front()));
  }
  put("status", std::string("ok"));
  if (!agg.errors.empty()) put("error", agg.errors.front());
  return 0;
}

}  // namespace wisp_bench
