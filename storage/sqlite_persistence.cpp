// SqlitePersistence: batching, the writer thread, the SQL of every operation, and load().
#include "storage/sqlite_persistence.h"

#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "storage/schema.h"

namespace storage {

using broker::core::InflightState;
using broker::core::LoadedState;
using broker::core::Message;
using broker::core::MessageRef;
using broker::core::StoredOutbound;
using broker::core::StoredSession;
using broker::core::TimePoint;
using protocol::Status;

namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

// A row of a per-client table: (client id, packet id or seq). Views into the batch.
struct RowKey {
  std::string_view client;
  std::uint64_t n;
  bool operator==(const RowKey&) const = default;
};
struct RowKeyHash {
  std::size_t operator()(const RowKey& k) const noexcept {
    return std::hash<std::string_view>{}(k.client) ^ (std::hash<std::uint64_t>{}(k.n) * 31);
  }
};

// Marks the writes a later operation of the same batch undoes, so they never reach SQLite:
// an in-flight entry set then cleared (a live subscriber acked it before the commit), a
// queue entry pushed then popped, a QoS 2 id added then removed, a retained topic set again
// or deleted, anything of a session deleted later. The undoing operation itself still runs
// (it may remove a row from an earlier batch), so the outcome is exactly that of running
// every operation in order.
std::vector<bool> redundant_writes(const std::vector<SqlitePersistence::Op>& batch) {
  using P = SqlitePersistence;
  std::vector<bool> skip(batch.size(), false);
  std::unordered_set<RowKey, RowKeyHash> inflight_cleared;
  std::unordered_set<RowKey, RowKeyHash> queue_popped;
  std::unordered_set<RowKey, RowKeyHash> qos2_removed;
  std::unordered_set<std::string_view> sessions_deleted;
  std::unordered_set<std::string_view> retained_later;
  for (std::size_t i = batch.size(); i-- > 0;) {
    skip[i] = std::visit(Overloaded{
                             [&](const P::RetainedSet& o) {
                               return !retained_later.insert(o.message->topic).second;
                             },
                             [&](const P::RetainedDelete& o) {
                               retained_later.insert(o.topic);
                               return false;
                             },
                             [&](const P::SessionUpsert& o) {
                               return sessions_deleted.contains(o.session.client_id);
                             },
                             [&](const P::SessionDelete& o) {
                               sessions_deleted.insert(o.client_id);
                               return false;
                             },
                             [&](const P::QueuePush& o) {
                               return sessions_deleted.contains(o.client_id) ||
                                      queue_popped.contains(RowKey{o.client_id, o.seq});
                             },
                             [&](const P::QueuePop& o) {
                               queue_popped.insert(RowKey{o.client_id, o.seq});
                               return false;
                             },
                             [&](const P::InflightSet& o) {
                               return sessions_deleted.contains(o.client_id) ||
                                      inflight_cleared.contains(RowKey{o.client_id, o.entry.id});
                             },
                             [&](const P::InflightClear& o) {
                               inflight_cleared.insert(RowKey{o.client_id, o.id});
                               return false;
                             },
                             [&](const P::Qos2Add& o) {
                               return sessions_deleted.contains(o.client_id) ||
                                      qos2_removed.contains(RowKey{o.client_id, o.id});
                             },
                             [&](const P::Qos2Remove& o) {
                               qos2_removed.insert(RowKey{o.client_id, o.id});
                               return false;
                             },
                             [&](const P::Durable&) { return false; },
                         },
                         batch[i]);
  }
  return skip;
}

// The engine republishes its retained $SYS/... statistics every sys_interval: storing them
// would only cost writes, and stale figures must not come back after a restart.
bool is_sys_topic(std::string_view topic) { return topic.starts_with("$SYS/"); }

std::int64_t to_ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint from_ms(std::int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}

std::string encode_ids(const std::vector<std::uint32_t>& ids) {
  std::string out;
  for (std::uint32_t id : ids) {
    if (!out.empty()) out += ',';
    out += std::to_string(id);
  }
  return out;
}

std::vector<std::uint32_t> decode_ids(std::string_view text) {
  std::vector<std::uint32_t> ids;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view part = text.substr(0, comma);
    std::uint32_t v = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (ec == std::errc() && p == part.data() + part.size() && v != 0) ids.push_back(v);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return ids;
}

protocol::QoS to_qos(std::int64_t v) {
  return v >= 2   ? protocol::QoS::exactly_once
         : v == 1 ? protocol::QoS::at_least_once
                  : protocol::QoS::at_most_once;
}

void bind_opt_ms(Query& q, int index, const std::optional<TimePoint>& t) {
  if (t) {
    q.bind(index, to_ms(*t));
  } else {
    q.bind_null(index);
  }
}

// Binds the 7 message columns of the outbound tables, starting at `first`:
//   topic, msg_qos, msg_retain, expiry_ms, origin, body, payload_offset
void bind_outbound_message(Query& q, int first, const Message* m) {
  if (m == nullptr) {
    for (int i = 0; i < 7; ++i) q.bind_null(first + i);
    return;
  }
  q.bind(first, std::string_view(m->topic));
  q.bind(first + 1, static_cast<std::int64_t>(m->qos));
  q.bind(first + 2, std::int64_t{m->retain ? 1 : 0});
  bind_opt_ms(q, first + 3, m->expiry);
  q.bind(first + 4, std::string_view(m->origin));
  q.bind_blob(first + 5, protocol::ByteSpan(m->bytes));
  q.bind(first + 6, static_cast<std::int64_t>(m->payload_offset));
}

// Reads topic, qos, retain, expiry_ms, origin, body, payload_offset from column `first`.
// NULL topic (a QoS 2 flow past PUBREC keeps only its id) or a bad offset: nullptr.
MessageRef read_message(const Query& q, int first, bool retain_column) {
  if (q.is_null(first)) return nullptr;
  int c = first;
  auto m = std::make_shared<Message>();
  m->topic = q.text(c++);
  m->qos = to_qos(q.int64(c++));
  m->retain = retain_column ? q.int64(c++) != 0 : true;
  if (!q.is_null(c)) m->expiry = from_ms(q.int64(c));
  ++c;
  m->origin = q.text(c++);
  const protocol::ByteSpan body = q.blob(c++);
  m->bytes.assign(body.begin(), body.end());
  const std::int64_t offset = q.int64(c);
  if (offset < 0 || static_cast<std::uint64_t>(offset) > m->bytes.size()) return nullptr;
  m->payload_offset = static_cast<std::size_t>(offset);
  return m;
}

std::string utc_stamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// Moves `path` (and its -wal/-shm companions) to "<path>.damaged-<stamp>[-n]".
protocol::Result<std::string, protocol::Error> move_aside(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string target = path + ".damaged-" + utc_stamp();
  for (int n = 1; fs::exists(target, ec); ++n) {
    target = path + ".damaged-" + utc_stamp() + "-" + std::to_string(n);
  }
  fs::rename(path, target, ec);
  if (ec) return protocol::fail("cannot move " + path + " aside: " + ec.message());
  for (const char* suffix : {"-wal", "-shm"}) {
    if (fs::exists(path + suffix, ec)) {
      fs::rename(path + suffix, target + suffix, ec);
      if (ec) return protocol::fail("cannot move " + path + suffix + " aside: " + ec.message());
    }
  }
  return target;
}

}  // namespace

std::string database_path(std::string_view location, std::string_view file) {
  if (location.empty()) return std::string(file);
  return (std::filesystem::path(location) / std::filesystem::path(file)).string();
}

// ---- open / close -------------------------------------------------------------------------

protocol::Result<std::unique_ptr<SqlitePersistence>, protocol::Error> SqlitePersistence::open(
    PersistenceOptions options) {
  OpenOptions o;
  o.sync = options.sync;
  auto db = Db::open(options.path, o);
  std::string recovered;
  if (!db && db.error().kind == OpenFailure::damaged) {
    if (!options.recover_damaged) {
      return protocol::fail("persistence: " + db.error().message +
                            " (the broker does not start on a damaged database; "
                            "persistence_recover true moves it aside and starts empty)");
    }
    auto moved = move_aside(options.path);
    if (!moved) return protocol::fail("persistence: " + moved.error().message);
    recovered = std::move(moved.value());
    db = Db::open(options.path, o);
  }
  if (!db) return protocol::fail("persistence: " + db.error().message);
  std::unique_ptr<SqlitePersistence> p(
      new SqlitePersistence(std::move(db.value()), std::move(options)));
  p->recovered_from_ = std::move(recovered);
  return p;
}

SqlitePersistence::SqlitePersistence(std::unique_ptr<Db> db, PersistenceOptions options)
    : db_(std::move(db)), options_(std::move(options)), path_(options_.path) {
  wake_loop_ = std::move(options_.wake_loop);
  writer_ = std::thread([this] { writer_main(); });
}

SqlitePersistence::~SqlitePersistence() {
  {
    std::lock_guard lk(mutex_);
    stop_ = true;
    hold_ = false;
  }
  work_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

TimePoint SqlitePersistence::now() const {
  return options_.now ? options_.now() : std::chrono::system_clock::now();
}

// ---- loop-thread side ---------------------------------------------------------------------

void SqlitePersistence::submit(Op op) {
  bool was_empty = false;
  {
    std::lock_guard lk(mutex_);
    was_empty = pending_.empty();
    pending_.push_back(std::move(op));
    ++submitted_;
  }
  // A non-empty pending_ has already woken the writer (or the writer is busy and looks again
  // before it waits): one wake-up per batch, not per operation.
  if (was_empty) work_cv_.notify_one();
}

void SqlitePersistence::retained_set(const MessageRef& message) {
  if (!message || is_sys_topic(message->topic)) return;
  submit(RetainedSet{message});
}
void SqlitePersistence::retained_delete(std::string_view topic) {
  if (is_sys_topic(topic)) return;
  submit(RetainedDelete{std::string(topic)});
}
void SqlitePersistence::session_upsert(const StoredSession& session) {
  submit(SessionUpsert{session});
}
void SqlitePersistence::session_delete(std::string_view client_id) {
  submit(SessionDelete{std::string(client_id)});
}
void SqlitePersistence::queue_push(std::string_view client_id, std::uint64_t seq,
                                   const StoredOutbound& entry) {
  submit(QueuePush{std::string(client_id), seq, entry});
}
void SqlitePersistence::queue_pop(std::string_view client_id, std::uint64_t seq) {
  submit(QueuePop{std::string(client_id), seq});
}
void SqlitePersistence::inflight_set(std::string_view client_id, const StoredOutbound& entry) {
  submit(InflightSet{std::string(client_id), entry});
}
void SqlitePersistence::inflight_clear(std::string_view client_id, protocol::PacketId id) {
  submit(InflightClear{std::string(client_id), id});
}
void SqlitePersistence::incoming_qos2_add(std::string_view client_id, protocol::PacketId id) {
  submit(Qos2Add{std::string(client_id), id});
}
void SqlitePersistence::incoming_qos2_remove(std::string_view client_id, protocol::PacketId id) {
  submit(Qos2Remove{std::string(client_id), id});
}
void SqlitePersistence::when_durable(std::function<void()> callback) {
  if (!callback) return;
  submit(Durable{std::move(callback)});
}

void SqlitePersistence::drain_completions() {
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard lk(mutex_);
    ready.swap(completed_);
  }
  for (auto& cb : ready) cb();
}

void SqlitePersistence::set_wake_loop(std::function<void()> wake_loop) {
  std::lock_guard lk(wake_mutex_);
  wake_loop_ = std::move(wake_loop);
}

void SqlitePersistence::flush() {
  std::unique_lock lk(mutex_);
  const std::uint64_t target = submitted_;
  if (hold_) {
    hold_ = false;
    work_cv_.notify_all();
  }
  done_cv_.wait(lk, [&] { return finished_ >= target; });
}

void SqlitePersistence::hold_writer(bool hold) {
  {
    std::lock_guard lk(mutex_);
    hold_ = hold;
  }
  work_cv_.notify_all();
}

std::uint64_t SqlitePersistence::transactions() const {
  std::lock_guard lk(mutex_);
  return transactions_;
}
std::uint64_t SqlitePersistence::operations() const {
  std::lock_guard lk(mutex_);
  return operations_;
}
std::uint64_t SqlitePersistence::coalesced() const {
  std::lock_guard lk(mutex_);
  return coalesced_;
}
std::uint64_t SqlitePersistence::failed_batches() const {
  std::lock_guard lk(mutex_);
  return failed_batches_;
}

// ---- writer thread ------------------------------------------------------------------------

void SqlitePersistence::writer_main() {
  std::vector<Op> batch;
  std::vector<std::function<void()>> callbacks;
  for (;;) {
    {
      std::unique_lock lk(mutex_);
      work_cv_.wait(lk, [&] { return stop_ || (!hold_ && !pending_.empty()); });
      if (pending_.empty()) return;  // stop_ with nothing left to write
      batch.swap(pending_);
    }
    Status st = commit(batch);
    std::uint64_t data_ops = 0;
    for (Op& op : batch) {
      if (auto* d = std::get_if<Durable>(&op)) {
        // A callback vouches for the operations submitted since the previous one (the
        // engine's pattern: a publish's writes, then its when_durable); they may have been
        // in an earlier batch, so the failure mark carries over batches.
        if (!segment_failed_) callbacks.push_back(std::move(d->callback));
        segment_failed_ = false;
      } else {
        ++data_ops;
        if (!st) segment_failed_ = true;
      }
    }
    const bool wake = !callbacks.empty();
    if (!st && options_.on_error) {
      options_.on_error("persistence: " + path_ + ": " + st.error().message);
    }
    {
      std::lock_guard lk(mutex_);
      finished_ += batch.size();
      if (st) {
        if (data_ops != 0) ++transactions_;
        operations_ += data_ops - coalesced_in_batch_;
        coalesced_ += coalesced_in_batch_;
        for (auto& cb : callbacks) completed_.push_back(std::move(cb));
      } else {
        ++failed_batches_;
      }
    }
    done_cv_.notify_all();
    batch.clear();
    callbacks.clear();
    if (wake) {
      std::lock_guard lk(wake_mutex_);
      if (wake_loop_) wake_loop_();
    }
  }
}

Status SqlitePersistence::commit(std::vector<Op>& batch) {
  coalesced_in_batch_ = 0;
  const bool any = std::any_of(batch.begin(), batch.end(),
                               [](const Op& op) { return !std::holds_alternative<Durable>(op); });
  if (!any) return protocol::ok();
  const std::vector<bool> skip = redundant_writes(batch);
  std::lock_guard lk(db_mutex_);
  if (auto st = db_->exec("BEGIN IMMEDIATE"); !st) return st;
  std::uint64_t skipped = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (skip[i]) {
      ++skipped;
      continue;
    }
    if (auto st = apply(batch[i]); !st) {
      (void)db_->exec("ROLLBACK");
      return st;
    }
  }
  coalesced_in_batch_ = skipped;
  if (auto st = db_->exec("COMMIT"); !st) {
    (void)db_->exec("ROLLBACK");
    return st;
  }
  return protocol::ok();
}

Status SqlitePersistence::apply(const Op& op) {
  Db& db = *db_;
  return std::visit(
      Overloaded{
          [&](const RetainedSet& o) -> Status {
            const Message& m = *o.message;
            Query q = db.query(
                "INSERT OR REPLACE INTO retained(topic, qos, expiry_ms, origin, body, "
                "payload_offset) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
            q.bind(1, std::string_view(m.topic)).bind(2, static_cast<std::int64_t>(m.qos));
            bind_opt_ms(q, 3, m.expiry);
            q.bind(4, std::string_view(m.origin)).bind_blob(5, protocol::ByteSpan(m.bytes));
            q.bind(6, static_cast<std::int64_t>(m.payload_offset));
            return q.run();
          },
          [&](const RetainedDelete& o) -> Status {
            Query q = db.query("DELETE FROM retained WHERE topic = ?1");
            return q.bind(1, std::string_view(o.topic)).run();
          },
          [&](const SessionUpsert& o) -> Status {
            const StoredSession& s = o.session;
            {
              Query q = db.query(
                  "INSERT INTO sessions(client_id, version, expiry_s, disconnected_ms, "
                  "will_topic, will_qos, will_retain, will_expiry_ms, will_body, "
                  "will_payload_offset, will_delay_s) "
                  "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                  "ON CONFLICT(client_id) DO UPDATE SET version = excluded.version, "
                  "expiry_s = excluded.expiry_s, disconnected_ms = excluded.disconnected_ms, "
                  "will_topic = excluded.will_topic, will_qos = excluded.will_qos, "
                  "will_retain = excluded.will_retain, will_expiry_ms = excluded.will_expiry_ms, "
                  "will_body = excluded.will_body, "
                  "will_payload_offset = excluded.will_payload_offset, "
                  "will_delay_s = excluded.will_delay_s");
              q.bind(1, std::string_view(s.client_id))
                  .bind(2, static_cast<std::int64_t>(s.version));
              if (s.expiry_s) {
                q.bind(3, static_cast<std::int64_t>(*s.expiry_s));
              } else {
                q.bind_null(3);
              }
              bind_opt_ms(q, 4, s.disconnected_at);
              const Message* w = s.will && s.will->message ? s.will->message.get() : nullptr;
              if (w != nullptr) {
                q.bind(5, std::string_view(w->topic)).bind(6, static_cast<std::int64_t>(w->qos));
                q.bind(7, std::int64_t{w->retain ? 1 : 0});
                bind_opt_ms(q, 8, w->expiry);
                q.bind_blob(9, protocol::ByteSpan(w->bytes));
                q.bind(10, static_cast<std::int64_t>(w->payload_offset));
                q.bind(11, static_cast<std::int64_t>(s.will->delay_s));
              } else {
                for (int i = 5; i <= 11; ++i) q.bind_null(i);
              }
              if (auto st = q.run(); !st) return st;
            }
            {
              Query q = db.query("DELETE FROM subscriptions WHERE client_id = ?1");
              if (auto st = q.bind(1, std::string_view(s.client_id)).run(); !st) return st;
            }
            for (const auto& sub : s.subscriptions) {
              Query q = db.query(
                  "INSERT OR REPLACE INTO subscriptions(client_id, filter, qos, no_local, "
                  "retain_as_published, retain_handling, subscription_id) "
                  "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
              q.bind(1, std::string_view(s.client_id)).bind(2, std::string_view(sub.filter));
              q.bind(3, static_cast<std::int64_t>(sub.options.qos));
              q.bind(4, std::int64_t{sub.options.no_local ? 1 : 0});
              q.bind(5, std::int64_t{sub.options.retain_as_published ? 1 : 0});
              q.bind(6, std::int64_t{sub.options.retain_handling});
              q.bind(7, std::int64_t{sub.subscription_id});
              if (auto st = q.run(); !st) return st;
            }
            return protocol::ok();
          },
          [&](const SessionDelete& o) -> Status {
            static constexpr const char* kDeletes[] = {
                "DELETE FROM sessions WHERE client_id = ?1",
                "DELETE FROM subscriptions WHERE client_id = ?1",
                "DELETE FROM outbound_queue WHERE client_id = ?1",
                "DELETE FROM outbound_inflight WHERE client_id = ?1",
                "DELETE FROM incoming_qos2 WHERE client_id = ?1",
            };
            for (const char* sql : kDeletes) {
              Query q = db.query(sql);
              if (auto st = q.bind(1, std::string_view(o.client_id)).run(); !st) return st;
            }
            return protocol::ok();
          },
          [&](const QueuePush& o) -> Status {
            Query q = db.query(
                "INSERT OR REPLACE INTO outbound_queue(client_id, seq, qos, retain, "
                "subscription_ids, topic, msg_qos, msg_retain, expiry_ms, origin, body, "
                "payload_offset) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
            const std::string ids = encode_ids(o.entry.subscription_ids);
            q.bind(1, std::string_view(o.client_id)).bind(2, static_cast<std::int64_t>(o.seq));
            q.bind(3, static_cast<std::int64_t>(o.entry.qos));
            q.bind(4, std::int64_t{o.entry.retain ? 1 : 0}).bind(5, std::string_view(ids));
            bind_outbound_message(q, 6, o.entry.message.get());
            return q.run();
          },
          [&](const QueuePop& o) -> Status {
            Query q = db.query("DELETE FROM outbound_queue WHERE client_id = ?1 AND seq = ?2");
            q.bind(1, std::string_view(o.client_id)).bind(2, static_cast<std::int64_t>(o.seq));
            return q.run();
          },
          [&](const InflightSet& o) -> Status {
            // ON CONFLICT keeps the row (and its rowid, which orders redelivery) on a state
            // change; a QoS 2 flow past PUBREC arrives without its message (columns NULL).
            Query q = db.query(
                "INSERT INTO outbound_inflight(client_id, packet_id, state, qos, retain, "
                "subscription_ids, topic, msg_qos, msg_retain, expiry_ms, origin, body, "
                "payload_offset) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
                "ON CONFLICT(client_id, packet_id) DO UPDATE SET state = excluded.state, "
                "qos = excluded.qos, retain = excluded.retain, "
                "subscription_ids = excluded.subscription_ids, topic = excluded.topic, "
                "msg_qos = excluded.msg_qos, msg_retain = excluded.msg_retain, "
                "expiry_ms = excluded.expiry_ms, origin = excluded.origin, body = excluded.body, "
                "payload_offset = excluded.payload_offset");
            const std::string ids = encode_ids(o.entry.subscription_ids);
            q.bind(1, std::string_view(o.client_id)).bind(2, std::int64_t{o.entry.id});
            q.bind(3, static_cast<std::int64_t>(o.entry.state));
            q.bind(4, static_cast<std::int64_t>(o.entry.qos));
            q.bind(5, std::int64_t{o.entry.retain ? 1 : 0}).bind(6, std::string_view(ids));
            bind_outbound_message(q, 7, o.entry.message.get());
            return q.run();
          },
          [&](const InflightClear& o) -> Status {
            Query q =
                db.query("DELETE FROM outbound_inflight WHERE client_id = ?1 AND packet_id = ?2");
            return q.bind(1, std::string_view(o.client_id)).bind(2, std::int64_t{o.id}).run();
          },
          [&](const Qos2Add& o) -> Status {
            Query q = db.query(
                "INSERT OR IGNORE INTO incoming_qos2(client_id, packet_id) VALUES(?1, ?2)");
            return q.bind(1, std::string_view(o.client_id)).bind(2, std::int64_t{o.id}).run();
          },
          [&](const Qos2Remove& o) -> Status {
            Query q = db.query("DELETE FROM incoming_qos2 WHERE client_id = ?1 AND packet_id = ?2");
            return q.bind(1, std::string_view(o.client_id)).bind(2, std::int64_t{o.id}).run();
          },
          [&](const Durable&) -> Status { return protocol::ok(); },
      },
      op);
}

// ---- load ---------------------------------------------------------------------------------

LoadedState SqlitePersistence::load() {
  flush();
  LoadedState out;
  std::lock_guard lk(db_mutex_);
  Db& db = *db_;
  auto report = [&](const std::string& what) {
    if (options_.on_error) options_.on_error("persistence: " + path_ + ": load: " + what);
  };
  if (auto st = db.exec("BEGIN IMMEDIATE"); !st) {
    report(st.error().message);
    return out;
  }
  const std::int64_t now_ms = to_ms(now());

  // What expired while the broker was down goes first, so it is neither loaded nor kept.
  {
    Query q = db.query("DELETE FROM retained WHERE expiry_ms IS NOT NULL AND expiry_ms <= ?1");
    if (auto st = q.bind(1, now_ms).run(); !st) report(st.error().message);
  }
  {
    Query q = db.query(
        "DELETE FROM sessions WHERE expiry_s IS NOT NULL AND disconnected_ms IS NOT NULL "
        "AND disconnected_ms + expiry_s * 1000 <= ?1");
    if (auto st = q.bind(1, now_ms).run(); !st) report(st.error().message);
  }
  for (const char* sql : {
           // Stored by an older Wisp; the engine publishes fresh ones.
           "DELETE FROM retained WHERE substr(topic, 1, 5) = '$SYS/'",
           "DELETE FROM subscriptions WHERE client_id NOT IN (SELECT client_id FROM sessions)",
           "DELETE FROM outbound_queue WHERE client_id NOT IN (SELECT client_id FROM sessions)",
           "DELETE FROM outbound_inflight WHERE client_id NOT IN "
           "(SELECT client_id FROM sessions)",
           "DELETE FROM incoming_qos2 WHERE client_id NOT IN (SELECT client_id FROM sessions)",
       }) {
    if (auto st = db.exec(sql); !st) report(st.error().message);
  }

  {
    Query q = db.query("SELECT topic, qos, expiry_ms, origin, body, payload_offset FROM retained");
    while (q.step()) {
      if (MessageRef m = read_message(q, 0, false)) out.retained.push_back(std::move(m));
    }
    if (!q.ok()) report(q.error());
  }

  std::unordered_map<std::string, std::size_t> index;
  {
    Query q = db.query(
        "SELECT client_id, version, expiry_s, disconnected_ms, will_topic, will_qos, "
        "will_retain, will_expiry_ms, will_body, will_payload_offset, will_delay_s "
        "FROM sessions ORDER BY rowid");
    while (q.step()) {
      StoredSession s;
      s.client_id = q.text(0);
      const std::int64_t v = q.int64(1);
      s.version = v == 5   ? protocol::ProtocolVersion::v5
                  : v == 3 ? protocol::ProtocolVersion::v31
                           : protocol::ProtocolVersion::v311;
      if (!q.is_null(2)) s.expiry_s = static_cast<std::uint32_t>(q.int64(2));
      if (!q.is_null(3)) s.disconnected_at = from_ms(q.int64(3));
      if (!q.is_null(4)) {
        auto m = std::make_shared<Message>();
        m->topic = q.text(4);
        m->qos = to_qos(q.int64(5));
        m->retain = q.int64(6) != 0;
        if (!q.is_null(7)) m->expiry = from_ms(q.int64(7));
        m->origin = s.client_id;
        const protocol::ByteSpan body = q.blob(8);
        m->bytes.assign(body.begin(), body.end());
        const std::int64_t offset = q.int64(9);
        if (offset >= 0 && static_cast<std::uint64_t>(offset) <= m->bytes.size()) {
          m->payload_offset = static_cast<std::size_t>(offset);
          s.will = broker::core::StoredWill{std::move(m), static_cast<std::uint32_t>(q.int64(10))};
        }
      }
      index.emplace(s.client_id, out.sessions.size());
      out.sessions.push_back(std::move(s));
    }
    if (!q.ok()) report(q.error());
  }
  {
    Query q = db.query(
        "SELECT client_id, filter, qos, no_local, retain_as_published, retain_handling, "
        "subscription_id FROM subscriptions ORDER BY rowid");
    while (q.step()) {
      auto it = index.find(q.text(0));
      if (it == index.end()) continue;
      broker::core::StoredSubscription sub;
      sub.filter = q.text(1);
      sub.options.qos = to_qos(q.int64(2));
      sub.options.no_local = q.int64(3) != 0;
      sub.options.retain_as_published = q.int64(4) != 0;
      sub.options.retain_handling = static_cast<std::uint8_t>(q.int64(5));
      sub.subscription_id = static_cast<std::uint32_t>(q.int64(6));
      out.sessions[it->second].subscriptions.push_back(std::move(sub));
    }
    if (!q.ok()) report(q.error());
  }
  {
    // In flight first, in the order they were sent (rowid survives state changes).
    Query q = db.query(
        "SELECT client_id, packet_id, state, qos, retain, subscription_ids, topic, msg_qos, "
        "msg_retain, expiry_ms, origin, body, payload_offset FROM outbound_inflight "
        "ORDER BY rowid");
    while (q.step()) {
      auto it = index.find(q.text(0));
      if (it == index.end()) continue;
      StoredOutbound e;
      e.id = static_cast<protocol::PacketId>(q.int64(1));
      e.state = q.int64(2) == static_cast<std::int64_t>(InflightState::pubrec_received)
                    ? InflightState::pubrec_received
                    : InflightState::publish_sent;
      e.qos = to_qos(q.int64(3));
      e.retain = q.int64(4) != 0;
      e.subscription_ids = decode_ids(q.text(5));
      e.message = read_message(q, 6, true);
      // Without its message only a QoS 2 flow past PUBREC can continue.
      if (!e.message && e.state != InflightState::pubrec_received) continue;
      out.sessions[it->second].outbound.push_back(std::move(e));
    }
    if (!q.ok()) report(q.error());
  }
  {
    struct Renumber {
      std::string client_id;
      std::int64_t old_seq;
      std::int64_t new_seq;
    };
    std::vector<Renumber> renumber;
    std::unordered_set<std::string> renumber_clients;
    Query q = db.query(
        "SELECT client_id, seq, qos, retain, subscription_ids, topic, msg_qos, msg_retain, "
        "expiry_ms, origin, body, payload_offset FROM outbound_queue ORDER BY client_id, seq");
    while (q.step()) {
      std::string client = q.text(0);
      auto it = index.find(client);
      if (it == index.end()) continue;
      StoredOutbound e;
      e.qos = to_qos(q.int64(2));
      e.retain = q.int64(3) != 0;
      e.subscription_ids = decode_ids(q.text(4));
      e.message = read_message(q, 5, true);
      const std::int64_t old_seq = q.int64(1);
      if (!e.message) continue;
      auto& outbound = out.sessions[it->second].outbound;
      outbound.push_back(std::move(e));
      const auto new_seq = static_cast<std::int64_t>(outbound.size());
      if (new_seq != old_seq) renumber_clients.insert(client);
      renumber.push_back(Renumber{std::move(client), old_seq, new_seq});
    }
    if (!q.ok()) report(q.error());
    for (const std::string& client : renumber_clients) {
      // Negative first, then the final numbers: no primary key collision on the way.
      Query neg = db.query("UPDATE outbound_queue SET seq = -1 - seq WHERE client_id = ?1");
      if (auto st = neg.bind(1, std::string_view(client)).run(); !st) report(st.error().message);
    }
    for (const Renumber& r : renumber) {
      if (!renumber_clients.contains(r.client_id)) continue;
      Query up = db.query("UPDATE outbound_queue SET seq = ?3 WHERE client_id = ?1 AND seq = ?2");
      up.bind(1, std::string_view(r.client_id)).bind(2, -1 - r.old_seq).bind(3, r.new_seq);
      if (auto st = up.run(); !st) report(st.error().message);
    }
    // Rows whose message could not be read were not renumbered: they go.
    if (!renumber_clients.empty()) {
      Query del = db.query("DELETE FROM outbound_queue WHERE seq < 0");
      if (auto st = del.run(); !st) report(st.error().message);
    }
  }
  {
    Query q =
        db.query("SELECT client_id, packet_id FROM incoming_qos2 ORDER BY client_id, packet_id");
    while (q.step()) {
      auto it = index.find(q.text(0));
      if (it == index.end()) continue;
      out.sessions[it->second].incoming_qos2.push_back(static_cast<protocol::PacketId>(q.int64(1)));
    }
    if (!q.ok()) report(q.error());
  }
  if (auto st = db.exec("COMMIT"); !st) {
    report(st.error().message);
    (void)db.exec("ROLLBACK");
  }
  return out;
}

}  // namespace storage
