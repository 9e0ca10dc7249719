// Option parsing for wisp-bench; see options.h.
#include "options.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <map>

#include "payload.h"

namespace wisp_bench {

const char* to_string(Scenario s) noexcept {
  switch (s) {
    case Scenario::fanin: return "fanin";
    case Scenario::fanout: return "fanout";
    case Scenario::pairwise: return "pairwise";
    case Scenario::latency: return "latency";
    case Scenario::connstorm: return "connstorm";
    case Scenario::large: return "large";
    case Scenario::ceiling: return "ceiling";
  }
  return "?";
}

const char* to_string(Transport t) noexcept { return t == Transport::tcp ? "tcp" : "ws"; }

std::string usage() {
  return R"(usage: wisp-bench [options]
  --scenario S      fanin | fanout | pairwise | latency | connstorm | large | ceiling  [fanin]
  --transport T     tcp | ws                                             [tcp]
  --host H          broker address (IPv4/IPv6 literal or name)           [127.0.0.1]
  --port P          broker port                                          [1883 tcp, 8080 ws]
  --path P          WebSocket path                                       [/mqtt]
  --mqtt V          3 (MQTT 3.1.1) | 5 (MQTT 5.0)                        [3]
  --qos Q           0 | 1 | 2                                            [per scenario]
  --size N          payload bytes (>= 24; suffixes k, m = KiB, MiB)      [per scenario]
  --rate R          messages/s over all publishers, 0 = unlimited        [per scenario]
  --inflight W      per publisher: messages sent but not yet received by all its subscribers
                    (and, QoS 1/2, not yet acknowledged; capped by Receive Maximum)
                    [min(256, 4096 deliveries / publishers, 16 MiB / size), at least 8]
  --duration S      seconds of publishing (connstorm: seconds held idle) [5]
  --pubs N --subs N --pairs N --clients N   client counts                [per scenario]
  --threads N       load threads (connections spread round-robin)       [1]
  --broker-pid PID  report the broker's VmRSS from /proc/PID/status
  --json FILE       also write the results as JSON
  --connect-concurrency N   connections in setup at once, over all threads [256]
  --setup-timeout S connect + subscribe deadline                         [10 + 0.001*conns]
  --drain S         max wait for deliveries after publishing stops       [3]
  --keep-alive S    MQTT keep alive                                      [60]
  --topic-prefix P  topics are P/<run id>/...                            [wisp-bench]
  --persistent      persistent sessions: clean session/start 0 (v5: session expiry 600 s),
                    for durable-QoS comparisons with broker persistence on
  --no-progress     no progress lines on stderr
Prints progress on stderr once a second and one key=value summary line on stdout.
Exit status: 0 run completed (losses are reported, not fatal); 1 usage error, setup failed,
or connections broke during the run (status=fail); 2 hard deadline exceeded.
)";
}

namespace {

template <class T>
bool parse_num(const std::string& s, T& out) {
  const char* b = s.data();
  const char* e = s.data() + s.size();
  auto r = std::from_chars(b, e, out);
  return r.ec == std::errc() && r.ptr == e;
}

bool parse_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && out >= 0;
}

bool parse_size(std::string s, std::size_t& out) {
  std::size_t mult = 1;
  if (!s.empty() && (s.back() == 'k' || s.back() == 'K')) {
    mult = 1024;
    s.pop_back();
  } else if (!s.empty() && (s.back() == 'm' || s.back() == 'M')) {
    mult = 1024 * 1024;
    s.pop_back();
  }
  std::size_t v = 0;
  if (!parse_num(s, v)) return false;
  out = v * mult;
  return true;
}

}  // namespace

ParseResult parse_options(const std::vector<std::string>& args) {
  Options o;
  std::map<std::string, std::string> given;
  ParseResult r;
  auto bad = [&r](std::string msg) {
    r.options.reset();
    r.message = "wisp-bench: " + msg + "\n(see --help)";
    r.exit_code = 1;
    return r;
  };
  static const char* kFlags[] = {"--no-progress", "--persistent", "--help", "-h"};
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    bool is_flag = false;
    for (const char* f : kFlags) is_flag = is_flag || a == f;
    if (is_flag) {
      given[a] = "1";
      continue;
    }
    if (a.rfind("--", 0) != 0) return bad("unexpected argument '" + a + "'");
    std::string value;
    const std::size_t eq = a.find('=');
    if (eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else {
      if (i + 1 >= args.size()) return bad("option " + a + " needs a value");
      value = args[++i];
    }
    given[a] = value;
  }
  if (given.count("--help") || given.count("-h")) {
    r.message = usage();
    r.exit_code = 0;
    return r;
  }
  o.progress = given.count("--no-progress") == 0;
  given.erase("--no-progress");
  o.persistent = given.count("--persistent") != 0;
  given.erase("--persistent");

  auto take = [&given](const char* key) -> std::optional<std::string> {
    auto it = given.find(key);
    if (it == given.end()) return std::nullopt;
    std::string v = it->second;
    given.erase(it);
    return v;
  };

  if (auto v = take("--scenario")) {
    static const std::pair<const char*, Scenario> kNames[] = {
        {"fanin", Scenario::fanin},         {"fanout", Scenario::fanout},
        {"pairwise", Scenario::pairwise},   {"latency", Scenario::latency},
        {"connstorm", Scenario::connstorm}, {"large", Scenario::large},
        {"ceiling", Scenario::ceiling}};
    bool found = false;
    for (const auto& [n, s] : kNames) {
      if (*v == n) {
        o.scenario = s;
        found = true;
      }
    }
    if (!found) return bad("unknown scenario '" + *v + "'");
  }
  // Scenario defaults.
  switch (o.scenario) {
    case Scenario::fanin:
    case Scenario::ceiling: o.pubs = 10, o.subs = 1; break;
    case Scenario::fanout: o.pubs = 1, o.subs = 100; break;
    case Scenario::pairwise:
      o.pubs = o.subs = 100;
      o.qos = protocol::QoS::at_least_once;
      o.size = 256;
      break;
    case Scenario::latency:
      o.pubs = o.subs = 1;
      o.qos = protocol::QoS::at_least_once;
      o.rate = 1000;
      break;
    case Scenario::connstorm: o.clients = 1000; break;
    case Scenario::large:
      o.pubs = o.subs = 1;
      o.qos = protocol::QoS::at_least_once;
      o.size = 1024 * 1024;
      break;
  }
  if (o.scenario == Scenario::ceiling) o.subs = 0;

  if (auto v = take("--transport")) {
    if (*v == "tcp") {
      o.transport = Transport::tcp;
    } else if (*v == "ws") {
      o.transport = Transport::ws;
    } else {
      return bad("--transport must be tcp or ws");
    }
  }
  if (auto v = take("--host")) o.host = *v;
  if (auto v = take("--port")) {
    if (!parse_num(*v, o.port) || o.port == 0) return bad("bad --port");
  }
  if (auto v = take("--path")) o.path = *v;
  if (auto v = take("--mqtt")) {
    if (*v == "3" || *v == "3.1.1" || *v == "4") {
      o.version = protocol::ProtocolVersion::v311;
    } else if (*v == "5") {
      o.version = protocol::ProtocolVersion::v5;
    } else {
      return bad("--mqtt must be 3 or 5");
    }
  }
  if (auto v = take("--qos")) {
    if (*v == "0" || *v == "1" || *v == "2") {
      o.qos = static_cast<protocol::QoS>((*v)[0] - '0');
    } else {
      return bad("--qos must be 0, 1 or 2");
    }
  }
  if (auto v = take("--size")) {
    if (!parse_size(*v, o.size)) return bad("bad --size");
  }
  if (auto v = take("--rate")) {
    if (!parse_double(*v, o.rate)) return bad("bad --rate");
  }
  if (auto v = take("--inflight")) {
    if (!parse_num(*v, o.inflight) || o.inflight == 0) return bad("bad --inflight");
  }
  if (auto v = take("--duration")) {
    if (!parse_double(*v, o.duration_s) || o.duration_s <= 0) return bad("bad --duration");
  }
  if (auto v = take("--pairs")) {
    if (!parse_num(*v, o.pubs) || o.pubs == 0) return bad("bad --pairs");
    o.subs = o.pubs;
    if (o.scenario != Scenario::pairwise && o.scenario != Scenario::latency &&
        o.scenario != Scenario::large) {
      return bad("--pairs applies to pairwise, latency and large");
    }
  }
  if (auto v = take("--pubs")) {
    if (!parse_num(*v, o.pubs) || o.pubs == 0) return bad("bad --pubs");
  }
  if (auto v = take("--subs")) {
    if (!parse_num(*v, o.subs) || o.subs == 0) return bad("bad --subs");
  }
  if (auto v = take("--clients")) {
    if (!parse_num(*v, o.clients) || o.clients == 0) return bad("bad --clients");
  }
  if (auto v = take("--broker-pid")) {
    if (!parse_num(*v, o.broker_pid) || o.broker_pid <= 0) return bad("bad --broker-pid");
  }
  if (auto v = take("--json")) o.json_file = *v;
  if (auto v = take("--threads")) {
    if (!parse_num(*v, o.threads) || o.threads == 0 || o.threads > 64) return bad("bad --threads");
  }
  if (auto v = take("--connect-concurrency")) {
    if (!parse_num(*v, o.connect_concurrency) || o.connect_concurrency == 0) {
      return bad("bad --connect-concurrency");
    }
  }
  if (auto v = take("--setup-timeout")) {
    if (!parse_double(*v, o.setup_timeout_s) || o.setup_timeout_s <= 0) {
      return bad("bad --setup-timeout");
    }
  }
  if (auto v = take("--drain")) {
    if (!parse_double(*v, o.drain_s)) return bad("bad --drain");
  }
  if (auto v = take("--keep-alive")) {
    if (!parse_num(*v, o.keep_alive_s)) return bad("bad --keep-alive");
  }
  if (auto v = take("--topic-prefix")) o.topic_prefix = *v;
  if (!given.empty()) return bad("unknown option " + given.begin()->first);

  // Consistency and resolution.
  if (o.scenario == Scenario::pairwise || o.scenario == Scenario::latency ||
      o.scenario == Scenario::large) {
    if (o.pubs != o.subs) return bad("pairwise scenarios need --pubs == --subs (use --pairs)");
  }
  if (o.scenario == Scenario::fanin && o.subs != 1) return bad("fanin has exactly one subscriber");
  if (o.scenario == Scenario::fanout && o.pubs != 1) return bad("fanout has exactly one publisher");
  if (o.size < kPayloadHeaderBytes) {
    return bad("--size must be at least " + std::to_string(kPayloadHeaderBytes) +
               " (sequence number, timestamp and publisher id)");
  }
  if (o.size > 256u * 1024 * 1024) return bad("--size above 256 MiB");
  if (o.scenario == Scenario::ceiling && o.qos != protocol::QoS::at_most_once) {
    return bad("the ceiling scenario (byte sink) is QoS 0 only");
  }
  if (o.port == 0) o.port = o.transport == Transport::tcp ? 1883 : 8080;
  if (o.inflight == 0) {
    // Bound what the broker holds for us: at most ~4096 deliveries and 16 MiB of payload in
    // flight over all publishers, so a slow broker is measured, not flooded into dropping.
    const std::size_t fan = o.scenario == Scenario::fanout ? std::max<std::uint32_t>(1, o.subs) : 1;
    const std::size_t by_count = 4096 / (std::max<std::uint32_t>(1, o.pubs) * fan);
    const std::size_t by_bytes = (16u * 1024 * 1024) / o.size;
    o.inflight = static_cast<std::uint32_t>(std::max<std::size_t>(
        2, std::min<std::size_t>({256, by_bytes, std::max<std::size_t>(8, by_count)})));
  }
  const std::uint32_t conns = o.scenario == Scenario::connstorm ? o.clients : o.pubs + o.subs;
  if (o.setup_timeout_s == 0) o.setup_timeout_s = 10 + 0.001 * conns;
  r.options = o;
  return r;
}

}  // namespace wisp_bench
