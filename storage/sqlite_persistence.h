// SqlitePersistence: the engine's Persistence on one SQLite file (WAL), written by a writer
// thread with group commit; when_durable() callbacks come back to the loop thread.
//
//   loop thread                         writer thread
//   retained_set() ... when_durable(cb)
//     -> pending_ (mutex + vector) ----> swap; BEGIN; ops...; COMMIT
//                                        completed_ += callbacks of the batch; wake_loop()
//   drain_completions() <-----------------
//     runs the callbacks, in submission order
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "broker/core/persistence.h"
#include "protocol/result.h"
#include "storage/sqlite_db.h"

namespace storage {

struct PersistenceOptions {
  std::string path;  // database file (see database_path()), or ":memory:"
  Sync sync = Sync::normal;
  // A damaged file is moved aside to "<path>.damaged-<UTC timestamp>" (with its -wal/-shm)
  // and an empty database is started; without it, open() fails with an error naming the file.
  bool recover_damaged = false;
  // Called on the writer thread after a commit that completed when_durable() callbacks; it
  // must make the loop thread call drain_completions() (the transport: lws_cancel_service).
  std::function<void()> wake_loop;
  // Called on the writer thread when a batch cannot be committed (disk full, I/O error). The
  // batch is rolled back and the when_durable() callback that follows each failed operation
  // is dropped, never run: the client gets no acknowledgement for what was not stored.
  // Later operations are tried again normally.
  std::function<void(const std::string&)> on_error;
  // Wall clock for load() (expiry of retained messages and sessions). Default: system_clock.
  std::function<broker::core::TimePoint()> now;
};

// "<location>/<file>" (persistence_location, persistence_file).
std::string database_path(std::string_view location, std::string_view file);

class SqlitePersistence final : public broker::core::Persistence {
 public:
  // Opens (creating the directory and file if needed), checks and migrates the database and
  // starts the writer thread. Errors name the file.
  static protocol::Result<std::unique_ptr<SqlitePersistence>, protocol::Error> open(
      PersistenceOptions options);
  // Commits everything submitted, then stops the writer. Undrained callbacks are dropped.
  ~SqlitePersistence() override;
  SqlitePersistence(const SqlitePersistence&) = delete;
  SqlitePersistence& operator=(const SqlitePersistence&) = delete;

  // broker::core::Persistence, loop thread only. Retained `$SYS/...` topics are not stored
  // (the engine republishes them every sys_interval); load() drops any an older file holds.
  void retained_set(const broker::core::MessageRef& message) override;
  void retained_delete(std::string_view topic) override;
  void session_upsert(const broker::core::StoredSession& session) override;
  void session_delete(std::string_view client_id) override;
  void queue_push(std::string_view client_id, std::uint64_t seq,
                  const broker::core::StoredOutbound& entry) override;
  void queue_pop(std::string_view client_id, std::uint64_t seq) override;
  void inflight_set(std::string_view client_id, const broker::core::StoredOutbound& entry) override;
  void inflight_clear(std::string_view client_id, protocol::PacketId id) override;
  void incoming_qos2_add(std::string_view client_id, protocol::PacketId id) override;
  void incoming_qos2_remove(std::string_view client_id, protocol::PacketId id) override;
  void when_durable(std::function<void()> callback) override;
  // Waits for everything submitted so far, then reads the whole state. Drops (and deletes)
  // expired retained messages, sessions whose expiry passed while the broker was down, and
  // rows of sessions that no longer exist. Queued entries come back numbered 1, 2, ... in
  // delivery order counting in-flight entries first (the order the engine numbers them, from
  // Session::next_seq = 1), and the stored rows are renumbered to match, so a later
  // queue_pop(client, seq) names the right row.
  broker::core::LoadedState load() override;

  // Loop thread: runs the when_durable() callbacks whose batches are committed.
  void drain_completions();
  // Any thread: replaces the wake-up function (nullptr: none). When this returns, the old
  // function is not running and will not be called again, so the app can install the
  // transport's wake-up once the Server exists and remove it before destroying the Server.
  void set_wake_loop(std::function<void()> wake_loop);

  // Non-empty when open() moved a damaged file aside: where it went.
  const std::string& recovered_from() const noexcept { return recovered_from_; }
  const std::string& path() const noexcept { return path_; }

  // Counters (any thread): committed transactions and operations, operations a later one
  // in the same batch made redundant (not written), failed batches.
  std::uint64_t transactions() const;
  std::uint64_t operations() const;
  std::uint64_t coalesced() const;
  std::uint64_t failed_batches() const;
  // Blocks the calling thread until every operation submitted before the call is committed
  // (or failed). For tests, benchmarks and shutdown; the loop uses when_durable().
  void flush();
  // Tests and benchmarks: while held, the writer starts no new batch, so everything
  // submitted meanwhile goes into one transaction.
  void hold_writer(bool hold);

  struct RetainedSet {
    broker::core::MessageRef message;
  };
  struct RetainedDelete {
    std::string topic;
  };
  struct SessionUpsert {
    broker::core::StoredSession session;
  };
  struct SessionDelete {
    std::string client_id;
  };
  struct QueuePush {
    std::string client_id;
    std::uint64_t seq;
    broker::core::StoredOutbound entry;
  };
  struct QueuePop {
    std::string client_id;
    std::uint64_t seq;
  };
  struct InflightSet {
    std::string client_id;
    broker::core::StoredOutbound entry;
  };
  struct InflightClear {
    std::string client_id;
    protocol::PacketId id;
  };
  struct Qos2Add {
    std::string client_id;
    protocol::PacketId id;
  };
  struct Qos2Remove {
    std::string client_id;
    protocol::PacketId id;
  };
  struct Durable {
    std::function<void()> callback;
  };
  using Op = std::variant<RetainedSet, RetainedDelete, SessionUpsert, SessionDelete, QueuePush,
                          QueuePop, InflightSet, InflightClear, Qos2Add, Qos2Remove, Durable>;

 private:
  SqlitePersistence(std::unique_ptr<Db> db, PersistenceOptions options);
  void submit(Op op);
  void writer_main();
  protocol::Status apply(const Op& op);
  protocol::Status commit(std::vector<Op>& batch);
  broker::core::TimePoint now() const;

  std::unique_ptr<Db> db_;  // used by the writer and by load(), under db_mutex_
  std::mutex db_mutex_;
  PersistenceOptions options_;
  std::string path_;
  std::string recovered_from_;

  std::mutex wake_mutex_;  // held while wake_loop_ runs
  std::function<void()> wake_loop_;

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::vector<Op> pending_;
  std::vector<std::function<void()>> completed_;
  std::uint64_t submitted_ = 0;  // operations submitted
  std::uint64_t finished_ = 0;   // operations committed or failed
  std::uint64_t transactions_ = 0;
  std::uint64_t operations_ = 0;
  std::uint64_t failed_batches_ = 0;
  std::uint64_t coalesced_ = 0;
  std::uint64_t coalesced_in_batch_ = 0;  // writer thread only
  bool hold_ = false;
  bool stop_ = false;

  bool segment_failed_ = false;  // writer thread only: an operation since the last
                                 // when_durable() failed to commit

  std::thread writer_;  // last: starts after everything above is constructed
};

}  // namespace storage
