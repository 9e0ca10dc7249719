// End-to-end durability of the real `wisp` binary with persistence on: kill -9 mid-stream,
// restart on the same files, and every message the publisher got a PUBACK for is there
// (retained value and queued delivery to an offline persistent session, in order); QoS 2
// exactly-once holds across the restart; a graceful restart keeps everything.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "support/mqtt_bytes.h"
#include "support/process.h"
#include "support/raw_client.h"

// Set (or not) by tests/storage/CMakeLists.txt: the end-to-end tests need the app to wire
// SqlitePersistence into the broker (see the storage report). Until then they are skipped.
#ifndef WISP_PERSISTENCE_WIRED
#define WISP_PERSISTENCE_WIRED 0
#endif

using namespace wisp_test;

namespace {

constexpr auto kReadTimeout = std::chrono::milliseconds(10'000);

class Dir {
 public:
  Dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "wisp-crash-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path = tmpl;
  }
  ~Dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path path;
};

// The broker on a fixed data directory; restartable on the same files.
class Wisp {
 public:
  explicit Wisp(const Dir& dir) : dir_(dir) {}

  bool start() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      port = free_port();
      const auto conf = dir_.path / "wisp.conf";
      std::ofstream(conf) << "allow_anonymous true\n"
                          << "persistence true\n"
                          << "persistence_location " << (dir_.path / "data").string() << "\n"
                          << "listener " << port << " 127.0.0.1\n"
                          << "protocol mqtt\n";
      proc_ = std::make_unique<Process>(std::vector<std::string>{WISP_BINARY, "-c", conf.string()});
      auto line = proc_->wait_line(
          [](const std::string& l) {
            return l.find("wisp ready") != std::string::npos ||
                   l.find("cannot listen") != std::string::npos ||
                   l.find(" error ") != std::string::npos;
          },
          std::chrono::seconds(20), true);
      if (line && line->find("wisp ready") != std::string::npos) return true;
      if (line && line->find("cannot listen") == std::string::npos) {
        MESSAGE(*line);  // e.g. a damaged database: final, no retry
        return false;
      }
      proc_.reset();
    }
    return false;
  }
  void kill9() {
    if (!proc_) return;
    proc_->signal(SIGKILL);
    (void)proc_->wait_exit(std::chrono::seconds(10));
    proc_.reset();
  }
  std::optional<int> stop() {
    if (!proc_) return std::nullopt;
    proc_->signal(SIGTERM);
    auto rc = proc_->wait_exit(std::chrono::seconds(10));
    proc_.reset();
    return rc;
  }
  ~Wisp() { kill9(); }

  std::uint16_t port = 0;

 private:
  const Dir& dir_;
  std::unique_ptr<Process> proc_;
};

void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v & 0xff));
}
void put_str(Bytes& b, const std::string& s) {
  put16(b, static_cast<std::uint16_t>(s.size()));
  b.insert(b.end(), s.begin(), s.end());
}
Bytes frame(std::uint8_t header, const Bytes& body) {
  Bytes out{header};
  Bytes len = mqtt_varint(body.size());
  out.insert(out.end(), len.begin(), len.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}
// MQTT 3.1.1 CONNECT; clean = false keeps the session across disconnects and restarts.
Bytes connect_packet(const std::string& id, bool clean) {
  Bytes body;
  put_str(body, "MQTT");
  body.push_back(4);
  body.push_back(clean ? 0x02 : 0x00);
  put16(body, 60);
  put_str(body, id);
  return frame(0x10, body);
}
Bytes ack(std::uint8_t header, std::uint16_t id) {
  Bytes body;
  put16(body, id);
  return frame(header, body);
}
Bytes publish(const std::string& topic, const std::string& payload, std::uint8_t qos,
              std::uint16_t id, bool retain, bool dup = false) {
  Bytes p = mqtt_publish(topic, bytes_of(payload), qos, id, 4, retain);
  if (dup) p[0] |= 0x08;
  return p;
}
std::uint16_t packet_id(const MqttPacket& p) {
  return p.body.size() >= 2 ? static_cast<std::uint16_t>(p.body[0] << 8 | p.body[1]) : 0;
}
std::string topic_of(const MqttPacket& p) {
  if (p.body.size() < 2) return {};
  const std::size_t n = static_cast<std::size_t>(p.body[0] << 8 | p.body[1]);
  return std::string(p.body.begin() + 2, p.body.begin() + 2 + static_cast<long>(n));
}
std::uint16_t publish_id(const MqttPacket& p) {
  const std::size_t n = static_cast<std::size_t>(p.body[0] << 8 | p.body[1]);
  if (((p.header >> 1) & 3) == 0 || p.body.size() < n + 4) return 0;
  return static_cast<std::uint16_t>(p.body[2 + n] << 8 | p.body[3 + n]);
}
std::string payload_str(const MqttPacket& p) {
  Bytes b = publish_payload(p, 4);
  return std::string(b.begin(), b.end());
}

// Connects and checks the CONNACK; `session_present` receives its flag. Held by pointer:
// TcpClient's move constructor does not carry bytes already buffered past the CONNACK.
std::unique_ptr<TcpClient> connect_client(std::uint16_t port, const std::string& id, bool clean,
                                          bool* session_present = nullptr) {
  auto opened = TcpClient::connect(port);
  if (!opened) return nullptr;
  auto c = std::make_unique<TcpClient>(std::move(*opened));
  if (!c->send_all(connect_packet(id, clean))) return nullptr;
  auto ack_packet = read_packet(*c, kReadTimeout);
  if (!ack_packet || ack_packet->type() != 2 || ack_packet->body.size() != 2 ||
      ack_packet->body[1] != 0) {
    return nullptr;
  }
  if (session_present != nullptr) *session_present = (ack_packet->body[0] & 1) != 0;
  return c;
}

bool subscribe(TcpClient& c, const std::string& filter, std::uint8_t qos) {
  if (!c.send_all(mqtt_subscribe(1, filter, qos))) return false;
  for (;;) {
    auto p = read_packet(c, kReadTimeout);
    if (!p) return false;
    if (p->type() == 9) return true;  // SUBACK (retained PUBLISHes may come first or after)
  }
}

// An offline persistent session subscribed to `filter`.
bool make_offline_subscriber(std::uint16_t port, const std::string& id, const std::string& filter,
                             std::uint8_t qos) {
  auto c = connect_client(port, id, true);  // start from a clean slate...
  if (!c) return false;
  c->send_all(mqtt_disconnect());
  c->wait_closed();
  c = connect_client(port, id, false);  // ...then a persistent session
  if (!c || !subscribe(*c, filter, qos)) return false;
  c->send_all(mqtt_disconnect());
  return c->wait_closed();
}

struct StreamResult {
  std::set<int> acked_queue;   // indexes whose "crash/queue" publish was PUBACKed
  int max_acked_retained = 0;  // highest index whose retained publish was PUBACKed
  int sent = 0;
};

// Publishes i = 1, 2, ... as a QoS 1 retained message to crash/retained and a QoS 1 message
// to crash/queue, up to `window` unacknowledged at once, and kill -9s the broker as soon as
// `kill_after` acknowledgements arrived. PUBACKs already on the wire are still counted.
StreamResult stream_and_kill(Wisp& wisp, int kill_after, int window) {
  StreamResult r;
  auto c = connect_client(wisp.port, "crash-pub", true);
  REQUIRE(c != nullptr);
  std::map<std::uint16_t, std::pair<bool, int>> inflight;  // id -> (retained?, index)
  std::uint16_t next_id = 1;
  int acks = 0;
  bool killed = false;
  auto on_packet = [&](const MqttPacket& p) {
    if (p.type() != 4) return;
    auto it = inflight.find(packet_id(p));
    if (it == inflight.end()) return;
    if (it->second.first) {
      r.max_acked_retained = std::max(r.max_acked_retained, it->second.second);
    } else {
      r.acked_queue.insert(it->second.second);
    }
    inflight.erase(it);
    ++acks;
  };
  while (!killed) {
    while (static_cast<int>(inflight.size()) < window) {
      const int i = ++r.sent;
      const std::string v = std::to_string(i);
      inflight[next_id] = {true, i};
      REQUIRE(c->send_all(publish("crash/retained", v, 1, next_id++, true)));
      inflight[next_id] = {false, i};
      REQUIRE(c->send_all(publish("crash/queue", v, 1, next_id++, false)));
    }
    auto p = read_packet(*c, kReadTimeout);
    REQUIRE(p.has_value());
    on_packet(*p);
    if (acks >= kill_after) {
      wisp.kill9();
      killed = true;
    }
  }
  // Whatever the broker had written to the socket before it died still counts.
  while (auto p = read_packet(*c, std::chrono::milliseconds(2000))) on_packet(*p);
  return r;
}

}  // namespace

TEST_CASE("kill -9 mid-stream loses no acknowledged message" *
          doctest::skip(!WISP_PERSISTENCE_WIRED)) {
  int kill_after = 0;
  SUBCASE("after the first acknowledgement") { kill_after = 1; }
  SUBCASE("after 150 acknowledgements") { kill_after = 150; }
  SUBCASE("after 700 acknowledgements") { kill_after = 700; }
  CAPTURE(kill_after);
  Dir dir;
  Wisp wisp(dir);
  REQUIRE(wisp.start());
  REQUIRE(make_offline_subscriber(wisp.port, "crash-sub", "crash/queue", 1));

  const StreamResult r = stream_and_kill(wisp, kill_after, 40);
  REQUIRE(static_cast<int>(r.acked_queue.size()) + (r.max_acked_retained > 0 ? 1 : 0) >= 1);
  MESSAGE("sent " << r.sent << ", acknowledged queue " << r.acked_queue.size()
                  << ", highest acknowledged retained " << r.max_acked_retained);

  REQUIRE(wisp.start());  // same files
  // The offline session kept its queue: every acknowledged message, in order.
  bool present = false;
  auto sub = connect_client(wisp.port, "crash-sub", false, &present);
  REQUIRE(sub != nullptr);
  CHECK(present);
  std::vector<int> received;
  std::set<int> missing = r.acked_queue;
  while (!missing.empty()) {
    auto p = read_packet(*sub, kReadTimeout);
    if (!p) break;
    if (p->type() != 3) continue;
    if (const auto id = publish_id(*p); id != 0) sub->send_all(ack(0x40, id));
    const int i = std::stoi(payload_str(*p));
    received.push_back(i);
    missing.erase(i);
  }
  CHECK_MESSAGE(missing.empty(), missing.size() << " acknowledged messages missing, first "
                                                << (missing.empty() ? 0 : *missing.begin()));
  CHECK(std::is_sorted(received.begin(), received.end()));
  CHECK(std::adjacent_find(received.begin(), received.end()) == received.end());

  // The retained value is the last acknowledged one or a later (stored, unacknowledged) one.
  auto reader = connect_client(wisp.port, "crash-reader", true);
  REQUIRE(reader != nullptr);
  REQUIRE(reader->send_all(mqtt_subscribe(1, "crash/retained", 1)));
  int retained = 0;
  for (int n = 0; n < 4 && retained == 0; ++n) {
    auto p = read_packet(*reader, kReadTimeout);
    if (!p) break;
    if (p->type() == 3 && topic_of(*p) == "crash/retained") retained = std::stoi(payload_str(*p));
  }
  CHECK(retained >= r.max_acked_retained);
  CHECK(retained <= r.sent);
}

TEST_CASE("QoS 2 exactly once across kill -9" * doctest::skip(!WISP_PERSISTENCE_WIRED)) {
  Dir dir;
  Wisp wisp(dir);
  REQUIRE(wisp.start());
  REQUIRE(make_offline_subscriber(wisp.port, "q2-sub", "crash/q2", 2));
  {
    auto pub = connect_client(wisp.port, "q2-pub", true);
    REQUIRE(pub != nullptr);
    pub->send_all(mqtt_disconnect());
    pub->wait_closed();
  }
  auto pub = connect_client(wisp.port, "q2-pub", false);
  REQUIRE(pub != nullptr);
  REQUIRE(pub->send_all(publish("crash/q2", "once", 2, 7, false)));
  auto rec = read_packet(*pub, kReadTimeout);
  REQUIRE(rec.has_value());
  REQUIRE(rec->type() == 5);  // PUBREC: stored
  wisp.kill9();               // before PUBREL

  REQUIRE(wisp.start());
  // The publisher did not see the PUBREC (say) and sends the PUBLISH again, DUP set.
  bool present = false;
  pub = connect_client(wisp.port, "q2-pub", false, &present);
  REQUIRE(pub != nullptr);
  CHECK(present);
  REQUIRE(pub->send_all(publish("crash/q2", "once", 2, 7, false, true)));
  rec = read_packet(*pub, kReadTimeout);
  REQUIRE(rec.has_value());
  CHECK(rec->type() == 5);
  REQUIRE(pub->send_all(ack(0x62, 7)));  // PUBREL
  auto comp = read_packet(*pub, kReadTimeout);
  REQUIRE(comp.has_value());
  CHECK(comp->type() == 7);
  // A marker after it: anything delivered twice would arrive before the marker.
  REQUIRE(pub->send_all(publish("crash/q2", "marker", 1, 8, false)));

  auto sub = connect_client(wisp.port, "q2-sub", false, &present);
  REQUIRE(sub != nullptr);
  CHECK(present);
  std::vector<std::string> got;
  while (got.empty() || got.back() != "marker") {
    auto p = read_packet(*sub, kReadTimeout);
    if (!p) break;
    if (p->type() == 3) {
      got.push_back(payload_str(*p));
      const auto id = publish_id(*p);
      if (((p->header >> 1) & 3) == 2) {
        sub->send_all(ack(0x50, id));  // PUBREC
      } else if (id != 0) {
        sub->send_all(ack(0x40, id));
      }
    } else if (p->type() == 6) {
      sub->send_all(ack(0x70, packet_id(*p)));  // PUBCOMP
    }
  }
  CHECK(got == std::vector<std::string>{"once", "marker"});
}

TEST_CASE("graceful restart keeps retained messages, sessions, subscriptions and queues" *
          doctest::skip(!WISP_PERSISTENCE_WIRED)) {
  Dir dir;
  Wisp wisp(dir);
  REQUIRE(wisp.start());
  REQUIRE(make_offline_subscriber(wisp.port, "keep-sub", "keep/#", 1));
  {
    auto pub = connect_client(wisp.port, "keep-pub", true);
    REQUIRE(pub != nullptr);
    REQUIRE(pub->send_all(publish("keep/retained", "r1", 1, 1, true)));
    REQUIRE(pub->send_all(publish("keep/a", "q1", 1, 2, false)));
    REQUIRE(pub->send_all(publish("keep/b", "q2", 1, 3, false)));
    for (int n = 0; n < 3; ++n) {
      auto p = read_packet(*pub, kReadTimeout);
      REQUIRE(p.has_value());
      CHECK(p->type() == 4);
    }
  }
  REQUIRE(wisp.stop() == std::optional<int>(0));
  REQUIRE(wisp.start());

  bool present = false;
  auto sub = connect_client(wisp.port, "keep-sub", false, &present);
  REQUIRE(sub != nullptr);
  CHECK(present);
  std::vector<std::string> got;
  while (got.size() < 3) {
    auto p = read_packet(*sub, kReadTimeout);
    if (!p) break;
    if (p->type() != 3) continue;
    if (const auto id = publish_id(*p); id != 0) sub->send_all(ack(0x40, id));
    got.push_back(topic_of(*p) + "=" + payload_str(*p));
  }
  CHECK(got == std::vector<std::string>{"keep/retained=r1", "keep/a=q1", "keep/b=q2"});
  // The subscription itself survived: a new publish reaches the resumed session.
  auto pub = connect_client(wisp.port, "keep-pub", true);
  REQUIRE(pub != nullptr);
  REQUIRE(pub->send_all(publish("keep/c", "live", 1, 4, false)));
  bool live = false;
  for (int n = 0; n < 4 && !live; ++n) {
    auto p = read_packet(*sub, kReadTimeout);
    if (!p) break;
    if (p->type() != 3) continue;
    if (const auto id = publish_id(*p); id != 0) sub->send_all(ack(0x40, id));
    live = payload_str(*p) == "live";
  }
  CHECK(live);
  // And the retained message answers a new subscriber.
  auto reader = connect_client(wisp.port, "keep-reader", true);
  REQUIRE(reader != nullptr);
  REQUIRE(reader->send_all(mqtt_subscribe(1, "keep/retained", 0)));
  std::string value;
  for (int n = 0; n < 3 && value.empty(); ++n) {
    auto p = read_packet(*reader, kReadTimeout);
    if (!p) break;
    if (p->type() == 3) value = payload_str(*p);
  }
  CHECK(value == "r1");

  // What was delivered and acknowledged after the restart is gone for good: after one more
  // restart only a new message arrives (loaded queue entries were popped by their new seq).
  sub->send_all(mqtt_disconnect());
  sub->wait_closed();
  REQUIRE(wisp.stop() == std::optional<int>(0));
  REQUIRE(wisp.start());
  pub = connect_client(wisp.port, "keep-pub", true);
  REQUIRE(pub != nullptr);
  REQUIRE(pub->send_all(publish("keep/d", "marker", 1, 5, false)));
  auto puback = read_packet(*pub, kReadTimeout);
  REQUIRE(puback.has_value());
  CHECK(puback->type() == 4);
  sub = connect_client(wisp.port, "keep-sub", false, &present);
  REQUIRE(sub != nullptr);
  CHECK(present);
  std::string first;
  for (int n = 0; n < 4 && first.empty(); ++n) {
    auto p = read_packet(*sub, kReadTimeout);
    if (!p) break;
    if (p->type() == 3) first = topic_of(*p) + "=" + payload_str(*p);
  }
  CHECK(first == "keep/d=marker");
}

TEST_CASE("wisp retained clear empties a filter in a stopped broker's database" *
          doctest::skip(!WISP_PERSISTENCE_WIRED)) {
  Dir dir;
  Wisp wisp(dir);
  REQUIRE(wisp.start());
  {
    auto pub = connect_client(wisp.port, "clear-pub", true);
    REQUIRE(pub != nullptr);
    std::uint16_t id = 1;
    for (const char* t : {"sensors/a", "sensors/b/c", "sensors", "other/x"}) {
      REQUIRE(pub->send_all(publish(t, "v", 1, id++, true)));
    }
    for (int n = 0; n < 4; ++n) {
      auto p = read_packet(*pub, kReadTimeout);
      REQUIRE(p.has_value());
      CHECK(p->type() == 4);
    }
  }
  REQUIRE(wisp.stop() == std::optional<int>(0));
  const std::string db = (dir.path / "data" / "wisp.db").string();
  auto r = run_command({WISP_BINARY, "retained", "clear", "sensors/#", "--db", db});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("deleted 3 retained messages") != std::string::npos);
  auto bad = run_command({WISP_BINARY, "retained", "clear", "a/#/b", "--db", db});
  CHECK(bad.exit_code != 0);

  REQUIRE(wisp.start());
  auto reader = connect_client(wisp.port, "clear-reader", true);
  REQUIRE(reader != nullptr);
  REQUIRE(reader->send_all(mqtt_subscribe(1, "sensors/#", 0)));
  REQUIRE(reader->send_all(mqtt_subscribe(2, "other/#", 0)));
  std::vector<std::string> topics;
  int subacks = 0;
  while (subacks < 2 || topics.empty()) {
    auto p = read_packet(*reader, kReadTimeout);
    if (!p) break;
    if (p->type() == 9) ++subacks;
    if (p->type() == 3) topics.push_back(topic_of(*p));
  }
  // Retained messages come right after each SUBACK, so by the second SUBACK plus the
  // other/x delivery, any sensors/ message would have arrived.
  CHECK(topics == std::vector<std::string>{"other/x"});
}

#if WISP_PERSISTENCE_WIRED
// A damaged database is never silently replaced: the broker refuses to start and names the
// file; `persistence_recover true` moves it aside and starts empty.
TEST_CASE("a damaged database stops the broker unless persistence_recover is set") {
  Dir dir;
  const auto data = dir.path / "data";
  std::filesystem::create_directories(data);
  std::ofstream(data / "wisp.db") << std::string(16384, 'x');  // not an SQLite file
  const auto conf = [&](bool recover) {
    const auto path = dir.path / "wisp.conf";
    std::ofstream(path) << "allow_anonymous true\n"
                        << "persistence true\n"
                        << (recover ? "persistence_recover true\n" : "") << "persistence_location "
                        << data.string() << "\n"
                        << "listener " << free_port() << " 127.0.0.1\n";
    return path.string();
  };

  const CommandResult refused = run_command({WISP_BINARY, "-c", conf(false)});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find((data / "wisp.db").string()) != std::string::npos);
  CHECK(refused.err.find("persistence_recover") != std::string::npos);
  CHECK(std::filesystem::file_size(data / "wisp.db") == 16384);  // left untouched

  Process recovered({WISP_BINARY, "-c", conf(true)});
  CHECK(recovered.wait_line_containing("wisp ready", std::chrono::seconds(20), true));
  bool moved_aside = false;
  for (const auto& e : std::filesystem::directory_iterator(data)) {
    moved_aside |= e.path().filename().string().rfind("wisp.db.damaged-", 0) == 0;
  }
  CHECK(moved_aside);
  recovered.signal(SIGTERM);
  CHECK(recovered.wait_exit(std::chrono::seconds(10)) == 0);
}
#endif
