// SqlitePersistence against real SQLite files (and :memory:): round trips of every stored
// item, expiry across reopen, group commit and when_durable ordering, the writer thread.
#include "storage/sqlite_persistence.h"

#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "storage/sqlite_db.h"
#include "storage_test_support.h"

using broker::core::InflightState;
using broker::core::LoadedState;
using broker::core::StoredOutbound;
using broker::core::StoredSession;
using broker::core::StoredSubscription;
using broker::core::StoredWill;
using protocol::QoS;
using storage::PersistenceOptions;
using storage::SqlitePersistence;
using namespace storage_test;

namespace {

std::unique_ptr<SqlitePersistence> open_store(const std::string& path, Waker* waker = nullptr,
                                              std::function<broker::core::TimePoint()> now = {}) {
  PersistenceOptions o;
  o.path = path;
  if (waker != nullptr) o.wake_loop = waker->function();
  o.now = std::move(now);
  auto p = SqlitePersistence::open(std::move(o));
  REQUIRE_MESSAGE(p.has_value(), (p ? std::string() : p.error().message));
  return std::move(p.value());
}

std::int64_t count_rows(const std::string& path, const char* sql) {
  storage::OpenOptions o;
  o.create = false;
  auto db = storage::Db::open(path, o);
  REQUIRE(db.has_value());
  return db.value()->scalar(sql);
}

StoredOutbound outbound(broker::core::MessageRef m, QoS qos, protocol::PacketId id = 0,
                        std::vector<std::uint32_t> sub_ids = {}) {
  StoredOutbound e;
  e.message = std::move(m);
  e.qos = qos;
  e.retain = false;
  e.id = id;
  e.subscription_ids = std::move(sub_ids);
  return e;
}

const StoredSession* find_session(const LoadedState& st, const std::string& id) {
  for (const auto& s : st.sessions) {
    if (s.client_id == id) return &s;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("retained messages round trip through a file, byte for byte") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  const auto expiry = at_ms(4'000'000'000'000);  // far future, ms precision
  auto with_props = make_message("sensors/a", "21.5", QoS::exactly_once, true,
                                 std::string("\x03\x00\x04text", 7), expiry, "dev-1");
  auto plain = make_message("sensors/b", "on", QoS::at_most_once);
  auto replaced = make_message("x", "old");
  auto replacement = make_message("x", "new", QoS::at_least_once);
  auto deleted = make_message("gone", "bye");
  auto binary = make_message("bin", std::string("\x00\xff\x01", 3));
  {
    auto p = open_store(path);
    p->retained_set(with_props);
    p->retained_set(plain);
    p->retained_set(replaced);
    p->retained_set(deleted);
    p->retained_set(binary);
    p->retained_set(replacement);
    p->retained_delete("gone");
    p->retained_delete("never-there");
    p->flush();
    CHECK(p->failed_batches() == 0);
  }
  CHECK(std::filesystem::exists(path));
  auto p = open_store(path);
  LoadedState st = p->load();
  REQUIRE(st.retained.size() == 4);
  std::map<std::string, broker::core::MessageRef> by_topic;
  for (auto& m : st.retained) by_topic[m->topic] = m;
  REQUIRE(by_topic.count("sensors/a") == 1);
  check_same_message(*by_topic["sensors/a"], *with_props);
  CHECK(payload_of(by_topic["sensors/a"]) == "21.5");
  check_same_message(*by_topic["sensors/b"], *plain);
  check_same_message(*by_topic["x"], *replacement);
  check_same_message(*by_topic["bin"], *binary);
  CHECK(by_topic.count("gone") == 0);
}

TEST_CASE("retained $SYS/ topics are not stored; their when_durable still completes") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  Waker waker;
  {
    auto p = open_store(path, &waker);
    p->retained_set(make_message("$SYS/broker/uptime", "12"));
    p->retained_set(make_message("$SYSTEM/not-sys", "kept"));
    p->retained_set(make_message("x/$SYS/y", "kept"));
    p->retained_delete("$SYS/broker/clients");
    bool done = false;
    p->when_durable([&done] { done = true; });
    REQUIRE(run_loop_until(*p, waker, [&] { return done; }));
    CHECK(p->failed_batches() == 0);
  }
  CHECK(count_rows(path, "SELECT count(*) FROM retained") == 2);
  CHECK(count_rows(path, "SELECT count(*) FROM retained WHERE topic LIKE '$SYS/%'") == 0);
}

TEST_CASE("sessions round trip: subscriptions, will, queue, in flight, incoming QoS 2") {
  TempDir dir;
  const std::string path = dir.file("data/wisp.db");  // the directory is created
  StoredSession s;
  s.client_id = "client-1";
  s.version = protocol::ProtocolVersion::v5;
  s.expiry_s = 3600;
  s.disconnected_at = at_ms(1'700'000'000'123);
  StoredSubscription a;
  a.filter = "sensors/+/temp";
  a.options.qos = QoS::exactly_once;
  a.options.no_local = true;
  a.options.retain_as_published = true;
  a.options.retain_handling = 2;
  a.subscription_id = 42;
  StoredSubscription b;
  b.filter = "$share/g1/jobs/#";
  b.options.qos = QoS::at_least_once;
  s.subscriptions = {a, b};
  auto will = make_message("clients/client-1/status", "offline", QoS::at_least_once, true,
                           std::string("\x01\x01", 2), at_ms(4'000'000'000'000), "client-1");
  s.will = StoredWill{will, 30};

  StoredSession v3;
  v3.client_id = "old-client";
  v3.version = protocol::ProtocolVersion::v311;  // never expires, online when stored
  StoredSubscription c;
  c.filter = "#";
  v3.subscriptions = {c};

  auto m1 = make_message("sensors/1/temp", "1", QoS::at_least_once, false);
  auto m2 = make_message("sensors/2/temp", "2", QoS::exactly_once, false,
                         std::string("\x26\x00\x01k\x00\x01v", 7));
  auto m3 = make_message("sensors/3/temp", "3", QoS::at_least_once, false);
  auto m4 = make_message("sensors/4/temp", "4", QoS::exactly_once, false);
  auto m5 = make_message("sensors/5/temp", "5", QoS::exactly_once, false);
  {
    auto p = open_store(path);
    p->session_upsert(s);
    p->session_upsert(v3);
    // In flight, sent in this order: id 7 (QoS 1), id 3 (QoS 2, later PUBREC'd), id 9.
    p->inflight_set("client-1", outbound(m4, QoS::at_least_once, 7, {42}));
    p->inflight_set("client-1", outbound(m5, QoS::exactly_once, 3));
    p->inflight_set("client-1", outbound(m1, QoS::at_least_once, 9));
    p->inflight_clear("client-1", 9);
    StoredOutbound rec;  // what the engine sends after PUBREC: id and state only
    rec.id = 3;
    rec.qos = QoS::exactly_once;
    rec.state = InflightState::pubrec_received;
    p->inflight_set("client-1", rec);
    // Queued with gaps in seq (QoS 0 entries and pops consume numbers).
    p->queue_push("client-1", 10, outbound(m1, QoS::at_least_once, 0, {42, 7}));
    p->queue_push("client-1", 12, outbound(m2, QoS::exactly_once));
    p->queue_push("client-1", 13, outbound(m3, QoS::at_least_once));
    p->queue_push("client-1", 15, outbound(m3, QoS::at_least_once));
    p->queue_pop("client-1", 13);
    p->incoming_qos2_add("client-1", 100);
    p->incoming_qos2_add("client-1", 5);
    p->incoming_qos2_add("client-1", 6);
    p->incoming_qos2_remove("client-1", 6);
    p->incoming_qos2_add("client-1", 5);  // again: no duplicate
  }
  std::uint64_t first_queued = 0;
  {
    auto p = open_store(path, nullptr, [] { return at_ms(1'700'000'000'123 + 1000); });
    LoadedState st = p->load();
    REQUIRE(st.sessions.size() == 2);
    const StoredSession* got = find_session(st, "client-1");
    REQUIRE(got != nullptr);
    CHECK(got->version == protocol::ProtocolVersion::v5);
    CHECK(got->expiry_s == std::optional<std::uint32_t>(3600));
    CHECK(got->disconnected_at == s.disconnected_at);
    REQUIRE(got->subscriptions.size() == 2);
    CHECK(got->subscriptions[0].filter == a.filter);
    CHECK(got->subscriptions[0].options == a.options);
    CHECK(got->subscriptions[0].subscription_id == 42);
    CHECK(got->subscriptions[1].filter == b.filter);
    CHECK(got->subscriptions[1].options == b.options);
    CHECK(got->subscriptions[1].subscription_id == 0);
    REQUIRE(got->will.has_value());
    check_same_message(*got->will->message, *will);
    CHECK(got->will->delay_s == 30);

    // In flight first (in send order), then queued in seq order.
    REQUIRE(got->outbound.size() == 5);
    CHECK(got->outbound[0].id == 7);
    CHECK(got->outbound[0].qos == QoS::at_least_once);
    CHECK(got->outbound[0].state == InflightState::publish_sent);
    CHECK(got->outbound[0].subscription_ids == std::vector<std::uint32_t>{42});
    REQUIRE(got->outbound[0].message != nullptr);
    check_same_message(*got->outbound[0].message, *m4);
    CHECK(got->outbound[1].id == 3);
    CHECK(got->outbound[1].state == InflightState::pubrec_received);
    CHECK(got->outbound[1].message == nullptr);
    CHECK(got->outbound[2].id == 0);
    CHECK(got->outbound[2].subscription_ids == std::vector<std::uint32_t>{42, 7});
    check_same_message(*got->outbound[2].message, *m1);
    CHECK(got->outbound[3].qos == QoS::exactly_once);
    check_same_message(*got->outbound[3].message, *m2);
    CHECK(payload_of(got->outbound[3].message) == "2");
    check_same_message(*got->outbound[4].message, *m3);
    CHECK(got->incoming_qos2 == std::vector<protocol::PacketId>{5, 100});

    const StoredSession* old = find_session(st, "old-client");
    REQUIRE(old != nullptr);
    CHECK(old->version == protocol::ProtocolVersion::v311);
    CHECK_FALSE(old->expiry_s.has_value());
    CHECK_FALSE(old->disconnected_at.has_value());
    CHECK_FALSE(old->will.has_value());
    REQUIRE(old->subscriptions.size() == 1);
    CHECK(old->outbound.empty());

    // The engine numbers loaded entries 1, 2, ... (in flight first): the queued ones are
    // 3, 4, 5 now, and popping 3 must remove m1.
    first_queued = 3;
    p->queue_pop("client-1", first_queued);
    p->queue_push("client-1", 6, outbound(m5, QoS::exactly_once));
  }
  auto p = open_store(path, nullptr, [] { return at_ms(1'700'000'000'123 + 2000); });
  LoadedState st = p->load();
  const StoredSession* got = find_session(st, "client-1");
  REQUIRE(got != nullptr);
  REQUIRE(got->outbound.size() == 5);
  check_same_message(*got->outbound[2].message, *m2);
  check_same_message(*got->outbound[3].message, *m3);
  check_same_message(*got->outbound[4].message, *m5);
}

TEST_CASE("session upsert replaces subscriptions and will; delete removes everything") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  StoredSession s;
  s.client_id = "c";
  s.version = protocol::ProtocolVersion::v5;
  s.expiry_s = 60;
  StoredSubscription a;
  a.filter = "a";
  StoredSubscription b;
  b.filter = "b";
  s.subscriptions = {a, b};
  s.will = StoredWill{make_message("w", "x", QoS::at_most_once, false, {}, {}, "c"), 0};
  StoredSession other;
  other.client_id = "other";
  other.subscriptions = {a};
  {
    auto p = open_store(path);
    p->session_upsert(s);
    p->session_upsert(other);
    s.subscriptions = {b};
    s.will.reset();
    s.expiry_s = 120;
    p->session_upsert(s);
    p->queue_push("other", 1, outbound(make_message("a", "1"), QoS::at_least_once));
    p->inflight_set("other", outbound(make_message("a", "2"), QoS::at_least_once, 1));
    p->incoming_qos2_add("other", 1);
    p->flush();
    CHECK(count_rows(path, "SELECT count(*) FROM subscriptions") == 2);
    p->session_delete("other");
  }
  CHECK(count_rows(path, "SELECT count(*) FROM outbound_queue") == 0);
  CHECK(count_rows(path, "SELECT count(*) FROM outbound_inflight") == 0);
  CHECK(count_rows(path, "SELECT count(*) FROM incoming_qos2") == 0);
  auto p = open_store(path);
  LoadedState st = p->load();
  REQUIRE(st.sessions.size() == 1);
  CHECK(st.sessions[0].client_id == "c");
  CHECK(st.sessions[0].expiry_s == std::optional<std::uint32_t>(120));
  REQUIRE(st.sessions[0].subscriptions.size() == 1);
  CHECK(st.sessions[0].subscriptions[0].filter == "b");
  CHECK_FALSE(st.sessions[0].will.has_value());
}

TEST_CASE("expiry across reopen: retained messages and sessions that expired while down") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  const std::int64_t t0 = 1'800'000'000'000;
  auto clock_ms = std::make_shared<std::atomic<std::int64_t>>(t0);
  auto clock = [clock_ms] { return at_ms(clock_ms->load()); };

  StoredSession short_lived;
  short_lived.client_id = "short";
  short_lived.expiry_s = 10;
  short_lived.disconnected_at = at_ms(t0);
  StoredSession long_lived = short_lived;
  long_lived.client_id = "long";
  long_lived.expiry_s = 1000;
  StoredSession forever = short_lived;
  forever.client_id = "forever";
  forever.expiry_s.reset();
  StoredSession online = short_lived;  // online at the crash: its expiry starts at restart
  online.client_id = "online";
  online.disconnected_at.reset();
  {
    auto p = open_store(path, nullptr, clock);
    p->retained_set(make_message("r/10s", "a", QoS::at_least_once, true, {}, at_ms(t0 + 10'000)));
    p->retained_set(make_message("r/100s", "b", QoS::at_least_once, true, {}, at_ms(t0 + 100'000)));
    p->retained_set(make_message("r/none", "c"));
    for (const auto* s : {&short_lived, &long_lived, &forever, &online}) p->session_upsert(*s);
    p->queue_push("short", 1, outbound(make_message("q", "1"), QoS::at_least_once));
  }
  auto topics = [](const LoadedState& st) {
    std::set<std::string> out;
    for (const auto& m : st.retained) out.insert(m->topic);
    return out;
  };
  auto clients = [](const LoadedState& st) {
    std::set<std::string> out;
    for (const auto& s : st.sessions) out.insert(s.client_id);
    return out;
  };
  {
    clock_ms->store(t0 + 5'000);
    auto p = open_store(path, nullptr, clock);
    LoadedState st = p->load();
    CHECK(topics(st) == std::set<std::string>{"r/10s", "r/100s", "r/none"});
    CHECK(clients(st) == std::set<std::string>{"short", "long", "forever", "online"});
  }
  {
    clock_ms->store(t0 + 10'001);
    auto p = open_store(path, nullptr, clock);
    LoadedState st = p->load();
    CHECK(topics(st) == std::set<std::string>{"r/100s", "r/none"});
    CHECK(clients(st) == std::set<std::string>{"long", "forever", "online"});
  }
  // Dropped for good: a later load with an earlier clock does not bring them back.
  CHECK(count_rows(path, "SELECT count(*) FROM retained") == 2);
  CHECK(count_rows(path, "SELECT count(*) FROM sessions") == 3);
  CHECK(count_rows(path, "SELECT count(*) FROM outbound_queue") == 0);
  {
    clock_ms->store(t0 + 2'000'000);
    auto p = open_store(path, nullptr, clock);
    LoadedState st = p->load();
    CHECK(topics(st) == std::set<std::string>{"r/none"});
    CHECK(clients(st) == std::set<std::string>{"forever", "online"});
  }
}

TEST_CASE("group commit: everything submitted while the writer is busy is one transaction") {
  TempDir dir;
  Waker waker;
  auto p = open_store(dir.file("wisp.db"), &waker);
  const auto before = p->transactions();
  std::vector<int> fired;
  p->hold_writer(true);  // stands in for "the writer is busy committing the previous batch"
  for (int i = 0; i < 1000; ++i) {
    p->retained_set(make_message("t/" + std::to_string(i), std::to_string(i)));
    if (i % 100 == 99) p->when_durable([&fired, i] { fired.push_back(i); });
  }
  p->drain_completions();
  CHECK(fired.empty());  // nothing is durable yet
  p->hold_writer(false);
  REQUIRE(run_loop_until(*p, waker, [&] { return fired.size() == 10; }));
  CHECK(p->transactions() - before == 1);
  CHECK(p->operations() >= 1000);
  for (int k = 0; k < 10; ++k) CHECK(fired[static_cast<std::size_t>(k)] == k * 100 + 99);
  CHECK(count_rows(dir.file("wisp.db"), "SELECT count(*) FROM retained") == 1000);
}

TEST_CASE("when_durable callbacks run on the draining thread, in order, after their commit") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  Waker waker;
  auto p = open_store(path, &waker);
  storage::OpenOptions ro;
  ro.create = false;
  auto reader = storage::Db::open(path, ro);  // a second connection sees only commits
  REQUIRE(reader.has_value());
  const auto loop_thread = std::this_thread::get_id();
  std::vector<int> order;
  int not_visible = 0;
  int wrong_thread = 0;
  const int n = 300;
  for (int i = 0; i < n; ++i) {
    p->retained_set(make_message("seq/" + std::to_string(i), std::to_string(i)));
    p->when_durable([&, i] {
      if (std::this_thread::get_id() != loop_thread) ++wrong_thread;
      storage::Query q = reader.value()->query("SELECT count(*) FROM retained WHERE topic = ?1");
      const std::string topic = "seq/" + std::to_string(i);
      q.bind(1, std::string_view(topic));
      if (!q.step() || q.int64(0) != 1) ++not_visible;
      order.push_back(i);
    });
    if (i % 37 == 0) p->drain_completions();  // the loop drains while more is submitted
  }
  REQUIRE(run_loop_until(*p, waker, [&] { return order.size() == static_cast<std::size_t>(n); }));
  CHECK(not_visible == 0);
  CHECK(wrong_thread == 0);
  bool in_order = true;
  for (int i = 0; i < n; ++i) in_order = in_order && order[static_cast<std::size_t>(i)] == i;
  CHECK(in_order);
  CHECK(p->transactions() >= 1);
  CHECK(p->transactions() <= static_cast<std::uint64_t>(n));
}

TEST_CASE("when_durable with nothing pending still comes back through the loop") {
  TempDir dir;
  Waker waker;
  auto p = open_store(dir.file("wisp.db"), &waker);
  bool fired = false;
  p->when_durable([&] { fired = true; });
  CHECK_FALSE(fired);  // never inline: the engine may be in the middle of a call
  REQUIRE(run_loop_until(*p, waker, [&] { return fired; }));
  CHECK(waker.wakes() >= 1);
}

TEST_CASE("closing commits everything submitted; undrained callbacks are not run") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  bool fired = false;
  {
    auto p = open_store(path);
    for (int i = 0; i < 500; ++i) p->retained_set(make_message("c/" + std::to_string(i), "x"));
    p->when_durable([&] { fired = true; });
  }
  CHECK_FALSE(fired);
  CHECK(count_rows(path, "SELECT count(*) FROM retained") == 500);
}

TEST_CASE("a batch that cannot be committed is reported and its callbacks are dropped") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  Waker waker;
  std::mutex m;
  std::vector<std::string> errors;
  PersistenceOptions o;
  o.path = path;
  o.wake_loop = waker.function();
  o.on_error = [&](const std::string& e) {
    std::lock_guard lk(m);
    errors.push_back(e);
  };
  auto opened = SqlitePersistence::open(o);
  REQUIRE(opened.has_value());
  auto& p = *opened.value();
  {
    storage::OpenOptions ro;
    ro.create = false;
    auto other = storage::Db::open(path, ro);
    REQUIRE(other.has_value());
    REQUIRE(other.value()->exec("DROP TABLE retained").has_value());
  }
  StoredSession s;
  s.client_id = "c";
  bool before = false;
  bool same_batch = false;
  bool next_batch = false;
  bool recovered = false;
  p.session_upsert(s);
  p.when_durable([&] { before = true; });  // vouches for the upsert only
  p.flush();
  p.hold_writer(true);
  p.retained_set(make_message("a", "1"));
  p.when_durable([&] { same_batch = true; });
  p.hold_writer(false);
  p.flush();
  SUBCASE("the failed write and its callback in one batch") {}
  SUBCASE("the callback in the batch after the failed write") {
    p.retained_set(make_message("b", "2"));
    p.flush();  // this batch fails alone
    p.when_durable([&] { next_batch = true; });
  }
  p.session_delete("c");  // later writes work again
  p.when_durable([&] { recovered = true; });
  REQUIRE(run_loop_until(p, waker, [&] { return recovered; }));
  CHECK(before);
  CHECK_FALSE(same_batch);
  CHECK_FALSE(next_batch);
  CHECK(p.failed_batches() >= 1);
  std::lock_guard lk(m);
  REQUIRE(errors.size() == p.failed_batches());
  CHECK(errors[0].find(path) != std::string::npos);
  CHECK(errors[0].find("retained") != std::string::npos);
}

TEST_CASE(":memory: databases work for everything but survival") {
  Waker waker;
  PersistenceOptions o;
  o.path = ":memory:";
  o.wake_loop = waker.function();
  auto opened = SqlitePersistence::open(o);
  REQUIRE(opened.has_value());
  auto& p = *opened.value();
  p.retained_set(make_message("m", "1"));
  StoredSession s;
  s.client_id = "c";
  p.session_upsert(s);
  p.queue_push("c", 1, outbound(make_message("m", "1"), QoS::at_least_once));
  bool fired = false;
  p.when_durable([&] { fired = true; });
  REQUIRE(run_loop_until(p, waker, [&] { return fired; }));
  LoadedState st = p.load();
  CHECK(st.retained.size() == 1);
  REQUIRE(st.sessions.size() == 1);
  CHECK(st.sessions[0].outbound.size() == 1);
}

TEST_CASE("the writer thread under load: producer, drains and commits interleave") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  Waker waker;
  auto p = open_store(path, &waker);
  StoredSession s;
  s.client_id = "sub";
  s.expiry_s = 100;
  p->session_upsert(s);
  std::size_t acked = 0;
  const std::size_t n = 3000;
  for (std::size_t i = 0; i < n; ++i) {
    auto m = make_message("load/" + std::to_string(i % 50), std::to_string(i));
    p->retained_set(m);
    p->queue_push("sub", i + 1, outbound(m, QoS::at_least_once));
    if (i >= 10) p->queue_pop("sub", i - 9);
    p->when_durable([&acked] { ++acked; });
    if (i % 64 == 0) p->drain_completions();
  }
  REQUIRE(run_loop_until(*p, waker, [&] { return acked == n; }));
  p.reset();
  auto again = open_store(path);
  LoadedState st = again->load();
  CHECK(st.retained.size() == 50);
  REQUIRE(st.sessions.size() == 1);
  REQUIRE(st.sessions[0].outbound.size() == 10);
  CHECK(payload_of(st.sessions[0].outbound.front().message) == std::to_string(n - 10));
  CHECK(payload_of(st.sessions[0].outbound.back().message) == std::to_string(n - 1));
}

TEST_CASE("database_path joins location and file") {
  CHECK(storage::database_path("./wisp-data", "wisp.db") == "./wisp-data/wisp.db");
  CHECK(storage::database_path("/var/lib/wisp/", "x.db") == "/var/lib/wisp/x.db");
  CHECK(storage::database_path("", "wisp.db") == "wisp.db");
}

TEST_CASE("set_wake_loop swaps the wake-up: installed late, removed before the loop goes") {
  TempDir dir;
  auto p = open_store(dir.file("wisp.db"));  // no wake-up yet (the Server does not exist)
  bool first = false;
  p->when_durable([&] { first = true; });
  p->flush();
  Waker waker;
  p->set_wake_loop(waker.function());
  p->drain_completions();  // what the loop does once it runs
  CHECK(first);
  bool second = false;
  p->when_durable([&] { second = true; });
  REQUIRE(run_loop_until(*p, waker, [&] { return second; }));
  const auto wakes = waker.wakes();
  p->set_wake_loop(nullptr);
  p->retained_set(make_message("after", "x"));
  p->when_durable([] {});
  p->flush();
  CHECK(waker.wakes() == wakes);
}

TEST_CASE("writes undone later in the same batch are not written; the outcome is unchanged") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  auto p = open_store(path);
  auto m1 = make_message("t/1", "1", QoS::at_least_once, false);
  auto m2 = make_message("t/2", "2", QoS::at_least_once, false);
  auto m3 = make_message("t/3", "3", QoS::at_least_once, false);
  auto m4 = make_message("t/4", "4", QoS::at_least_once, false);
  StoredSession c;
  c.client_id = "c";
  StoredSession d;
  d.client_id = "d";
  // Rows from an earlier batch, which the coalesced batch must still remove.
  p->session_upsert(c);
  p->inflight_set("c", outbound(m1, QoS::exactly_once, 1));
  p->queue_push("c", 1, outbound(m1, QoS::at_least_once));
  p->incoming_qos2_add("c", 1);
  p->retained_set(make_message("x", "old"));
  p->flush();
  const auto coalesced_before = p->coalesced();

  p->hold_writer(true);
  StoredOutbound rec;
  rec.id = 1;
  rec.qos = QoS::exactly_once;
  rec.state = InflightState::pubrec_received;
  p->inflight_set("c", rec);                                  // skipped: cleared below
  p->inflight_clear("c", 1);                                  // removes the earlier row
  p->inflight_set("c", outbound(m2, QoS::at_least_once, 2));  // skipped
  p->inflight_clear("c", 2);
  p->inflight_set("c", outbound(m3, QoS::at_least_once, 3));  // skipped: id 3 is reused
  p->inflight_clear("c", 3);
  p->inflight_set("c", outbound(m4, QoS::at_least_once, 3));  // stays
  p->queue_push("c", 2, outbound(m2, QoS::at_least_once));    // skipped
  p->queue_pop("c", 2);
  p->queue_pop("c", 1);
  p->incoming_qos2_add("c", 2);  // skipped
  p->incoming_qos2_remove("c", 2);
  p->incoming_qos2_remove("c", 1);
  p->incoming_qos2_add("c", 1);             // added again after its removal: stays
  p->retained_set(make_message("x", "a"));  // skipped: x is set again
  p->retained_set(make_message("x", "b"));
  p->retained_set(make_message("y", "y1"));  // skipped: y is deleted
  p->retained_delete("y");
  p->session_upsert(d);                                       // skipped
  p->queue_push("d", 1, outbound(m1, QoS::at_least_once));    // skipped
  p->inflight_set("d", outbound(m1, QoS::at_least_once, 5));  // skipped
  p->incoming_qos2_add("d", 5);                               // skipped
  p->session_delete("d");
  p->hold_writer(false);
  p->flush();
  CHECK(p->coalesced() - coalesced_before == 11);
  CHECK(p->failed_batches() == 0);

  LoadedState st = p->load();
  REQUIRE(st.sessions.size() == 1);
  const StoredSession& got = st.sessions[0];
  CHECK(got.client_id == "c");
  REQUIRE(got.outbound.size() == 1);
  CHECK(got.outbound[0].id == 3);
  check_same_message(*got.outbound[0].message, *m4);
  CHECK(got.incoming_qos2 == std::vector<protocol::PacketId>{1});
  REQUIRE(st.retained.size() == 1);
  CHECK(st.retained[0]->topic == "x");
  CHECK(payload_of(st.retained[0]) == "b");
}
