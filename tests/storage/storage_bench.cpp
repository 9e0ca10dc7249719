// storage_bench: how fast SqlitePersistence stores retained messages (the engine's pattern:
// retained_set + when_durable per QoS 1 publish, acks released by drain_completions) with
// synchronous off / normal / full, and how long startup takes on a large database.
//   storage_bench [--dir DIR] [--messages N] [--window W] [--load N] [--payload BYTES]
//   storage_bench --only retained|live|queue  (one scenario; the others are skipped)
//   storage_bench --make-db FILE --load N     (a database with N retained messages)
// Not a ctest; the figures go in README.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>

#include "storage/sqlite_persistence.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Waker {
  std::mutex mutex;
  std::condition_variable cv;
  std::uint64_t wakes = 0;
  std::function<void()> function() {
    return [this] {
      std::lock_guard lk(mutex);
      ++wakes;
      cv.notify_all();
    };
  }
  std::uint64_t wait_after(std::uint64_t seen) {
    std::unique_lock lk(mutex);
    cv.wait_for(lk, std::chrono::seconds(30), [&] { return wakes > seen; });
    return wakes;
  }
};

broker::core::MessageRef message(std::size_t i, std::size_t payload) {
  auto m = std::make_shared<broker::core::Message>();
  m->topic = "bench/" + std::to_string(i / 1000) + "/" + std::to_string(i);
  m->qos = protocol::QoS::at_least_once;
  m->retain = true;
  m->origin = "bench";
  m->bytes.assign(payload, static_cast<std::uint8_t>('a' + i % 26));
  return m;
}

const char* name(storage::Sync s) {
  return s == storage::Sync::off ? "off" : s == storage::Sync::normal ? "normal" : "full";
}

// `window` publishes may await their ack at once (many publishers, or one with a large
// in-flight window); window 1 is one publisher waiting for each PUBACK.
void throughput(const std::string& path, storage::Sync sync, std::size_t n, std::size_t window,
                std::size_t payload) {
  Waker waker;
  storage::PersistenceOptions o;
  o.path = path;
  o.sync = sync;
  o.wake_loop = waker.function();
  auto opened = storage::SqlitePersistence::open(o);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    std::exit(1);
  }
  auto& p = *opened.value();
  std::size_t acked = 0;
  std::size_t sent = 0;
  std::uint64_t seen = 0;
  const auto tx_before = p.transactions();
  const auto start = Clock::now();
  while (acked < n) {
    while (sent < n && sent - acked < window) {
      p.retained_set(message(sent, payload));
      p.when_durable([&acked] { ++acked; });
      ++sent;
    }
    seen = waker.wait_after(seen);
    p.drain_completions();
  }
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  const auto tx = p.transactions() - tx_before;
  std::printf(
      "%-8s %-7s window %5zu: %8zu msgs in %7.3f s = %9.0f msgs/s (%llu transactions, "
      "%.1f msgs/transaction)\n",
      path == ":memory:" ? "memory" : "file", name(sync), window, n, s, static_cast<double>(n) / s,
      static_cast<unsigned long long>(tx),
      tx == 0 ? 0.0 : static_cast<double>(n) / static_cast<double>(tx));
}

// A live persistent subscriber: each publish is set in flight to it and made durable before
// the publisher's PUBACK; the subscriber acknowledges each message soon after (here: by the
// next publish), usually before the batch commits, so set + clear coalesce.
void live_subscriber(const std::string& path, storage::Sync sync, std::size_t n, std::size_t window,
                     std::size_t payload) {
  Waker waker;
  storage::PersistenceOptions o;
  o.path = path;
  o.sync = sync;
  o.wake_loop = waker.function();
  auto opened = storage::SqlitePersistence::open(o);
  if (!opened) std::exit(1);
  auto& p = *opened.value();
  broker::core::StoredSession s;
  s.client_id = "subscriber";
  p.session_upsert(s);
  p.flush();
  std::size_t acked = 0;
  std::size_t sent = 0;
  std::uint64_t seen = 0;
  const auto start = Clock::now();
  while (acked < n) {
    while (sent < n && sent - acked < window) {
      broker::core::StoredOutbound e;
      e.message = message(sent, payload);
      e.qos = protocol::QoS::at_least_once;
      e.id = static_cast<protocol::PacketId>(sent % 65535 + 1);
      p.inflight_set("subscriber", e);
      if (sent > 0)
        p.inflight_clear("subscriber", static_cast<protocol::PacketId>((sent - 1) % 65535 + 1));
      p.when_durable([&acked] { ++acked; });
      ++sent;
    }
    seen = waker.wait_after(seen);
    p.drain_completions();
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "live subscriber %-7s window %5zu: %8zu msgs in %7.3f s = %9.0f msgs/s (%llu of %llu "
      "writes coalesced away)\n",
      name(sync), window, n, secs, static_cast<double>(n) / secs,
      static_cast<unsigned long long>(p.coalesced()),
      static_cast<unsigned long long>(p.operations() + p.coalesced()));
}

// An offline persistent subscriber: each QoS 1 publish is queued for it and made durable
// before the publisher's PUBACK.
void offline_queue(const std::string& path, storage::Sync sync, std::size_t n, std::size_t window,
                   std::size_t payload) {
  Waker waker;
  storage::PersistenceOptions o;
  o.path = path;
  o.sync = sync;
  o.wake_loop = waker.function();
  auto opened = storage::SqlitePersistence::open(o);
  if (!opened) std::exit(1);
  auto& p = *opened.value();
  broker::core::StoredSession s;
  s.client_id = "offline-subscriber";
  p.session_upsert(s);
  p.flush();
  std::size_t acked = 0;
  std::size_t sent = 0;
  std::uint64_t seen = 0;
  const auto start = Clock::now();
  while (acked < n) {
    while (sent < n && sent - acked < window) {
      broker::core::StoredOutbound e;
      e.message = message(sent, payload);
      e.qos = protocol::QoS::at_least_once;
      p.queue_push("offline-subscriber", sent + 1, e);
      p.when_durable([&acked] { ++acked; });
      ++sent;
    }
    seen = waker.wait_after(seen);
    p.drain_completions();
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("offline queue   %-7s window %5zu: %8zu msgs in %7.3f s = %9.0f msgs/s\n", name(sync),
              window, n, secs, static_cast<double>(n) / secs);
}

void startup(const std::string& path, std::size_t n, std::size_t payload) {
  std::filesystem::remove(path);
  {
    storage::PersistenceOptions o;
    o.path = path;
    o.sync = storage::Sync::off;
    auto p = storage::SqlitePersistence::open(o);
    if (!p) std::exit(1);
    const auto start = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      p.value()->retained_set(message(i, payload));
      if (i % 100'000 == 99'999) p.value()->flush();
    }
    p.value()->flush();
    std::printf("wrote %zu retained messages in %.2f s\n", n,
                std::chrono::duration<double>(Clock::now() - start).count());
  }
  const auto size = std::filesystem::file_size(path);
  const auto t0 = Clock::now();
  storage::PersistenceOptions o;
  o.path = path;
  auto p = storage::SqlitePersistence::open(o);
  if (!p) std::exit(1);
  const auto t1 = Clock::now();
  auto state = p.value()->load();
  const auto t2 = Clock::now();
  std::printf(
      "startup with %zu retained (%.0f MiB file): open+quick_check %.2f s, load %.2f s, "
      "total %.2f s (%zu loaded)\n",
      n, static_cast<double>(size) / (1024.0 * 1024.0),
      std::chrono::duration<double>(t1 - t0).count(),
      std::chrono::duration<double>(t2 - t1).count(),
      std::chrono::duration<double>(t2 - t0).count(), state.retained.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/wisp-storage-bench";
  std::size_t n = 100'000;
  std::size_t window = 1000;
  std::size_t load = 1'000'000;
  std::size_t payload = 100;
  std::string make_db;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const char* v = argv[i + 1];
    if (a == "--dir") {
      dir = v;
    } else if (a == "--messages") {
      n = std::strtoull(v, nullptr, 10);
    } else if (a == "--window") {
      window = std::strtoull(v, nullptr, 10);
    } else if (a == "--load") {
      load = std::strtoull(v, nullptr, 10);
    } else if (a == "--make-db") {
      make_db = v;
    } else if (a == "--only") {
      only = v;
    } else if (a == "--payload") {
      payload = std::strtoull(v, nullptr, 10);
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (!make_db.empty()) {  // a database with `--load` retained messages, for broker tests
    storage::PersistenceOptions o;
    o.path = make_db;
    o.sync = storage::Sync::off;
    auto p = storage::SqlitePersistence::open(o);
    if (!p) {
      std::fprintf(stderr, "%s\n", p.error().message.c_str());
      return 1;
    }
    for (std::size_t i = 0; i < load; ++i) p.value()->retained_set(message(i, payload));
    p.value()->flush();
    std::printf("%s: %zu retained messages\n", make_db.c_str(), load);
    return 0;
  }
  std::filesystem::create_directories(dir);
  const bool all = only.empty();
  std::printf("%zu-byte payloads\n", payload);
  if (all || only == "retained") throughput(":memory:", storage::Sync::off, n, window, payload);
  for (auto sync : {storage::Sync::off, storage::Sync::normal, storage::Sync::full}) {
    if (!all && only != "retained") break;
    const std::string path = dir + "/tp-" + name(sync) + ".db";
    std::filesystem::remove(path);
    throughput(path, sync, n, window, payload);
    std::filesystem::remove(path);
    throughput(path, sync, std::min<std::size_t>(n, 2000), 1, payload);
  }
  for (auto sync : {storage::Sync::normal, storage::Sync::full}) {
    const std::string path = dir + "/live-" + name(sync) + ".db";
    std::filesystem::remove(path);
    if (all || only == "live") live_subscriber(path, sync, n, window, payload);
    const std::string qpath = dir + "/queue-" + name(sync) + ".db";
    std::filesystem::remove(qpath);
    if (all || only == "queue") offline_queue(qpath, sync, n, window, payload);
  }
  if (all && load > 0) startup(dir + "/load.db", load, payload);
  std::filesystem::remove_all(dir);
  return 0;
}
