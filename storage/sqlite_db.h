// Db: one SQLite connection (RAII), its cached prepared statements, and Query, the binding and
// stepping helper. open_database() also checks the file (header, quick_check), sets WAL and
// the sync level, and runs the schema migrations. Only storage/sqlite_*.cpp include <sqlite3.h>.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "protocol/result.h"
#include "protocol/types.h"

struct sqlite3;
struct sqlite3_stmt;

namespace storage {

struct SqliteCloser {
  void operator()(sqlite3* db) const noexcept;
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept;
};
using DbHandle = std::unique_ptr<sqlite3, SqliteCloser>;
using StmtHandle = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// One use of a cached prepared statement: bind (1-based), step, read columns (0-based).
// The statement is reset and its bindings cleared when the Query goes away. Errors stick:
// after one, step() returns false and ok() is false; error() has SQLite's message.
class Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* stmt) noexcept;
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int index, std::int64_t value) noexcept;
  Query& bind(int index, std::string_view text) noexcept;
  Query& bind_blob(int index, protocol::ByteSpan bytes) noexcept;
  Query& bind_null(int index) noexcept;

  // true while a row is available; false when done or on error (check ok()).
  bool step() noexcept;
  // Steps to the end (for statements without rows).
  protocol::Status run() noexcept;

  bool is_null(int column) const noexcept;
  std::int64_t int64(int column) const noexcept;
  std::string text(int column) const;
  // Valid until the next step() or the end of the Query.
  protocol::ByteSpan blob(int column) const noexcept;

  bool ok() const noexcept { return rc_ == 0; }
  std::string error() const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int rc_ = 0;  // first error code, 0 if none
};

// Where open_database() may find trouble: a damaged file is recoverable (moved aside), other
// failures (permissions, missing directory we could not create) are not.
enum class OpenFailure { other, damaged };
struct OpenError {
  OpenFailure kind = OpenFailure::other;
  std::string message;  // names the file
};

enum class Sync : std::uint8_t { off, normal, full };  // off: benchmarks only

struct OpenOptions {
  bool create = true;        // false: the file must exist (offline tools)
  Sync sync = Sync::normal;  // PRAGMA synchronous
  bool quick_check = true;   // PRAGMA quick_check before use
  int target_version = -1;   // schema version to migrate to; -1 = latest (tests use 1)
};

class Db {
 public:
  // `path` is a file or ":memory:".
  static protocol::Result<std::unique_ptr<Db>, OpenError> open(const std::string& path,
                                                               const OpenOptions& options);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one or more statements without results.
  protocol::Status exec(const char* sql) noexcept;
  // A cached prepared statement for `sql` (a string literal: the pointer is the cache key).
  // A statement that fails to prepare gives a Query whose step() fails with the reason.
  Query query(const char* sql);
  // Single integer result of `sql` (PRAGMA user_version, count(*)); -1 on error.
  std::int64_t scalar(const char* sql) noexcept;

  const std::string& path() const noexcept { return path_; }
  sqlite3* raw() const noexcept { return db_.get(); }

 private:
  Db(DbHandle db, std::string path) noexcept;
  DbHandle db_;
  std::string path_;
  std::unordered_map<const char*, StmtHandle> cache_;
};

}  // namespace storage
