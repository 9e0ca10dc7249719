// Helpers for the storage tests: a temporary directory, message builders, and a fake loop
// wake-up that the test thread waits on (no sleeps).
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "broker/core/message.h"
#include "storage/sqlite_persistence.h"

namespace storage_test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "wisp-storage-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Stands in for lws_cancel_service(): counts wake-ups, lets the "loop" (the test thread) wait.
class Waker {
 public:
  std::function<void()> function() {
    return [this] {
      std::lock_guard lk(mutex_);
      ++wakes_;
      cv_.notify_all();
    };
  }
  // Waits until a wake-up newer than `seen` arrives (or the timeout); returns the count.
  std::uint64_t wait_after(std::uint64_t seen,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lk(mutex_);
    cv_.wait_for(lk, timeout, [&] { return wakes_ > seen; });
    return wakes_;
  }
  std::uint64_t wakes() {
    std::lock_guard lk(mutex_);
    return wakes_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t wakes_ = 0;
};

// Plays the loop: drains completions after each wake-up until `done()` or the deadline.
inline bool run_loop_until(storage::SqlitePersistence& p, Waker& waker,
                           const std::function<bool()>& done,
                           std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::uint64_t seen = 0;
  p.drain_completions();
  while (!done()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    seen = waker.wait_after(seen,
                            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
    p.drain_completions();
  }
  return true;
}

inline std::vector<std::uint8_t> bytes_of(const std::string& s) {
  return std::vector<std::uint8_t>(s.begin(), s.end());
}

// A message with `props` (the forwarded v5 property block) before `payload`.
inline broker::core::MessageRef make_message(std::string topic, const std::string& payload,
                                             protocol::QoS qos = protocol::QoS::at_least_once,
                                             bool retain = true, std::string props = {},
                                             std::optional<broker::core::TimePoint> expiry = {},
                                             std::string origin = "publisher") {
  auto m = std::make_shared<broker::core::Message>();
  m->topic = std::move(topic);
  m->qos = qos;
  m->retain = retain;
  m->expiry = expiry;
  m->origin = std::move(origin);
  m->bytes = bytes_of(props + payload);
  m->payload_offset = props.size();
  return m;
}

inline std::string payload_of(const broker::core::MessageRef& m) {
  auto p = m->payload();
  return std::string(p.begin(), p.end());
}

// A wall-clock time at millisecond precision (what the database keeps).
inline broker::core::TimePoint at_ms(std::int64_t ms) {
  return broker::core::TimePoint(std::chrono::milliseconds(ms));
}

// Every field the database keeps.
inline void check_same_message(const broker::core::Message& a, const broker::core::Message& b) {
  CHECK(a.topic == b.topic);
  CHECK(a.qos == b.qos);
  CHECK(a.retain == b.retain);
  CHECK(a.expiry == b.expiry);
  CHECK(a.origin == b.origin);
  CHECK(a.bytes == b.bytes);
  CHECK(a.payload_offset == b.payload_offset);
}

}  // namespace storage_test
