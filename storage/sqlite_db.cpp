// Db and Query: the thin RAII layer over the SQLite C API, and the checks done at open.
#include "storage/sqlite_db.h"

#include <sqlite3.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "storage/schema.h"

namespace storage {

using protocol::ByteSpan;
using protocol::Status;

void SqliteCloser::operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
void StmtFinalizer::operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }

// ---- Query --------------------------------------------------------------------------------

Query::Query(sqlite3* db, sqlite3_stmt* stmt) noexcept : db_(db), stmt_(stmt) {
  if (stmt_ == nullptr) rc_ = SQLITE_ERROR;
}

Query::~Query() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Query& Query::bind(int index, std::int64_t value) noexcept {
  if (rc_ == 0) {
    const int rc = sqlite3_bind_int64(stmt_, index, value);
    if (rc != SQLITE_OK) rc_ = rc;
  }
  return *this;
}

Query& Query::bind(int index, std::string_view text) noexcept {
  if (rc_ == 0) {
    // SQLITE_STATIC: the caller's text outlives the step (it is bound and stepped in one go).
    const int rc =
        sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
    if (rc != SQLITE_OK) rc_ = rc;
  }
  return *this;
}

Query& Query::bind_blob(int index, ByteSpan bytes) noexcept {
  if (rc_ == 0) {
    static const std::uint8_t kEmpty = 0;  // a zero-length blob must not bind as NULL
    const void* data = bytes.empty() ? &kEmpty : bytes.data();
    const int rc = sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_STATIC);
    if (rc != SQLITE_OK) rc_ = rc;
  }
  return *this;
}

Query& Query::bind_null(int index) noexcept {
  if (rc_ == 0) {
    const int rc = sqlite3_bind_null(stmt_, index);
    if (rc != SQLITE_OK) rc_ = rc;
  }
  return *this;
}

bool Query::step() noexcept {
  if (rc_ != 0) return false;
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) rc_ = rc;
  return false;
}

Status Query::run() noexcept {
  while (step()) {
  }
  if (!ok()) return protocol::fail(error());
  return protocol::ok();
}

bool Query::is_null(int column) const noexcept {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Query::int64(int column) const noexcept { return sqlite3_column_int64(stmt_, column); }

std::string Query::text(int column) const {
  const auto* p = sqlite3_column_text(stmt_, column);
  const int n = sqlite3_column_bytes(stmt_, column);
  if (p == nullptr || n <= 0) return {};
  return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}

ByteSpan Query::blob(int column) const noexcept {
  const void* p = sqlite3_column_blob(stmt_, column);
  const int n = sqlite3_column_bytes(stmt_, column);
  if (p == nullptr || n <= 0) return {};
  return {static_cast<const std::uint8_t*>(p), static_cast<std::size_t>(n)};
}

std::string Query::error() const {
  if (rc_ == 0) return {};
  std::string msg = sqlite3_errstr(rc_);
  if (db_ != nullptr && sqlite3_errcode(db_) == rc_) {
    msg += ": ";
    msg += sqlite3_errmsg(db_);
  }
  return msg;
}

// ---- Db -----------------------------------------------------------------------------------

namespace {

bool is_damage(int rc) noexcept {
  const int primary = rc & 0xff;
  return primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT;
}

protocol::Unexpected<OpenError> open_error(OpenFailure kind, const std::string& path,
                                           std::string_view what) {
  std::string msg = "database ";
  msg += path;
  msg += kind == OpenFailure::damaged ? " is damaged: " : ": ";
  msg += what;
  return {OpenError{kind, std::move(msg)}};
}

// A non-empty file must start with the SQLite header; SQLite itself would accept some
// garbage files as empty databases until the first write.
bool has_sqlite_header(const std::string& path, std::uintmax_t size) {
  static constexpr char kMagic[16] = "SQLite format 3";  // 15 chars + NUL = the 16-byte magic
  if (size < 100) return false;                          // shorter than the database header
  std::ifstream in(path, std::ios::binary);
  char head[16] = {};
  if (!in.read(head, sizeof head)) return false;
  return std::memcmp(head, kMagic, sizeof head) == 0;
}

}  // namespace

Db::Db(DbHandle db, std::string path) noexcept : db_(std::move(db)), path_(std::move(path)) {}
Db::~Db() {
  cache_.clear();  // statements before the connection
}

protocol::Result<std::unique_ptr<Db>, OpenError> Db::open(const std::string& path,
                                                          const OpenOptions& options) {
  const bool memory = path == ":memory:";
  if (!memory) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path p(path);
    const bool exists = fs::exists(p, ec);
    if (!exists) {
      if (!options.create) return open_error(OpenFailure::other, path, "no such file");
      if (p.has_parent_path()) {
        fs::create_directories(p.parent_path(), ec);
        if (ec) {
          return open_error(
              OpenFailure::other, path,
              "cannot create directory " + p.parent_path().string() + ": " + ec.message());
        }
      }
    } else {
      if (fs::is_directory(p, ec)) return open_error(OpenFailure::other, path, "is a directory");
      const auto size = fs::file_size(p, ec);
      if (ec) return open_error(OpenFailure::other, path, ec.message());
      if (size > 0 && !has_sqlite_header(path, size)) {
        return open_error(
            OpenFailure::damaged, path,
            size < 100 ? "truncated (shorter than the SQLite header)" : "not an SQLite database");
      }
    }
  }

  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | (options.create ? SQLITE_OPEN_CREATE : 0) |
                    SQLITE_OPEN_NOMUTEX;  // our own mutex serialises the connection
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  DbHandle handle(raw);
  if (rc != SQLITE_OK) {
    std::string what = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    return open_error(is_damage(rc) ? OpenFailure::damaged : OpenFailure::other, path, what);
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  std::unique_ptr<Db> db(new Db(std::move(handle), path));

  // Each step below fails with SQLITE_NOTADB/CORRUPT on a damaged file.
  auto step_failed = [&](const char* what) -> protocol::Unexpected<OpenError> {
    const int code = sqlite3_extended_errcode(raw);
    return open_error(is_damage(code) ? OpenFailure::damaged : OpenFailure::other, path,
                      std::string(what) + ": " + sqlite3_errmsg(raw));
  };
  if (!memory) {
    std::string mode;
    {
      Query q = db->query("PRAGMA journal_mode=WAL");
      if (q.step()) mode = q.text(0);
      if (!q.ok()) return step_failed("cannot set WAL mode");
    }
    if (mode != "wal") return open_error(OpenFailure::other, path, "WAL mode refused: " + mode);
  }
  if (options.quick_check) {
    Query q = db->query("PRAGMA quick_check");
    std::string first;
    int rows = 0;
    while (q.step()) {
      if (rows++ == 0) first = q.text(0);
    }
    if (!q.ok()) return step_failed("integrity check failed");
    if (rows != 1 || first != "ok") {
      return open_error(OpenFailure::damaged, path, "integrity check failed: " + first);
    }
  }
  const char* sync = options.sync == Sync::full     ? "PRAGMA synchronous=FULL"
                     : options.sync == Sync::normal ? "PRAGMA synchronous=NORMAL"
                                                    : "PRAGMA synchronous=OFF";
  if (auto st = db->exec(sync); !st) return step_failed("cannot set synchronous");
  // Throughput, not durability: a bigger page cache for the writer, temporary b-trees in
  // memory, and fewer (larger) WAL checkpoints, each of which costs the writer an fsync; the
  // WAL file is truncated back to 64 MiB after a checkpoint. synchronous keeps its meaning.
  if (auto st = db->exec("PRAGMA cache_size=-32768; PRAGMA temp_store=MEMORY; "
                         "PRAGMA wal_autocheckpoint=8192; PRAGMA journal_size_limit=67108864");
      !st) {
    return step_failed("cannot tune the connection");
  }
  if (auto st = migrate(*db, options.target_version < 0 ? kSchemaVersion : options.target_version);
      !st) {
    const int code = sqlite3_extended_errcode(raw);
    return open_error(is_damage(code) ? OpenFailure::damaged : OpenFailure::other, path,
                      st.error().message);
  }
  return db;
}

Status Db::exec(const char* sql) noexcept {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return protocol::ok();
  std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return protocol::fail(std::move(msg));
}

Query Db::query(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) !=
        SQLITE_OK) {
      return Query(db_.get(), nullptr);
    }
    it = cache_.emplace(sql, StmtHandle(stmt)).first;
  }
  return Query(db_.get(), it->second.get());
}

std::int64_t Db::scalar(const char* sql) noexcept {
  Query q = query(sql);
  if (!q.step()) return -1;
  return q.int64(0);
}

}  // namespace storage
