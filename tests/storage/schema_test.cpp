// Schema migrations (a v1 file upgrades, a newer file is refused) and damaged databases
// (not SQLite, truncated, corrupted pages): a clear error naming the file, or recovery.
#include "storage/schema.h"

#include <doctest/doctest.h>

#include <fstream>

#include "storage/sqlite_db.h"
#include "storage/sqlite_persistence.h"
#include "storage_test_support.h"

using storage::Db;
using storage::OpenOptions;
using storage::PersistenceOptions;
using storage::SqlitePersistence;
using namespace storage_test;

namespace {

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A closed database with `n` retained messages of ~1 KiB: several dozen pages.
void make_database(const std::string& path, int n) {
  PersistenceOptions o;
  o.path = path;
  auto p = SqlitePersistence::open(o);
  REQUIRE(p.has_value());
  for (int i = 0; i < n; ++i) {
    p.value()->retained_set(make_message("topic/" + std::to_string(i), std::string(1000, 'p')));
  }
  p.value()->flush();
}

protocol::Result<std::unique_ptr<SqlitePersistence>, protocol::Error> open_at(
    const std::string& path, bool recover) {
  PersistenceOptions o;
  o.path = path;
  o.recover_damaged = recover;
  return SqlitePersistence::open(o);
}

std::vector<std::filesystem::path> aside_files(const TempDir& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    if (e.path().filename().string().rfind("wisp.db.damaged-", 0) == 0) out.push_back(e.path());
  }
  return out;
}

}  // namespace

TEST_CASE("a new database is created at the latest schema version, in WAL mode") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  auto db = Db::open(path, OpenOptions{});
  REQUIRE(db.has_value());
  CHECK(db.value()->scalar("PRAGMA user_version") == storage::kSchemaVersion);
  storage::Query q = db.value()->query("PRAGMA journal_mode");
  REQUIRE(q.step());
  CHECK(q.text(0) == "wal");
}

TEST_CASE("synchronous follows persistence_sync") {
  TempDir dir;
  OpenOptions o;
  o.sync = storage::Sync::full;
  auto full = Db::open(dir.file("full.db"), o);
  REQUIRE(full.has_value());
  CHECK(full.value()->scalar("PRAGMA synchronous") == 2);  // FULL
  o.sync = storage::Sync::normal;
  auto normal = Db::open(dir.file("normal.db"), o);
  REQUIRE(normal.has_value());
  CHECK(normal.value()->scalar("PRAGMA synchronous") == 1);  // NORMAL
}

TEST_CASE("a version 1 file from an older Wisp upgrades and keeps its data") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  {
    OpenOptions o;
    o.target_version = 1;
    auto db = Db::open(path, o);
    REQUIRE(db.has_value());
    Db& d = *db.value();
    CHECK(d.scalar("PRAGMA user_version") == 1);
    CHECK(d.scalar("SELECT count(*) FROM sqlite_schema WHERE name = 'outbound_queue'") == 0);
    // Rows as Wisp v1 wrote them.
    REQUIRE(d.exec("INSERT INTO retained VALUES('old/topic', 1, NULL, 'pub', x'0102', 1);"
                   "INSERT INTO sessions(client_id, version, expiry_s) VALUES('old', 5, 600);"
                   "INSERT INTO subscriptions VALUES('old', 'old/#', 1, 0, 0, 0, 0);")
                .has_value());
  }
  PersistenceOptions o;
  o.path = path;
  auto p = SqlitePersistence::open(o);
  REQUIRE_MESSAGE(p.has_value(), (p ? std::string() : p.error().message));
  broker::core::LoadedState st = p.value()->load();
  REQUIRE(st.retained.size() == 1);
  CHECK(st.retained[0]->topic == "old/topic");
  CHECK(st.retained[0]->payload_offset == 1);
  CHECK(st.retained[0]->bytes == std::vector<std::uint8_t>{1, 2});
  REQUIRE(st.sessions.size() == 1);
  CHECK(st.sessions[0].subscriptions.size() == 1);
  // The v2 tables work.
  broker::core::StoredOutbound e;
  e.message = make_message("old/x", "q");
  e.qos = protocol::QoS::at_least_once;
  p.value()->queue_push("old", 1, e);
  p.value()->incoming_qos2_add("old", 9);
  p.value()->flush();
  CHECK(p.value()->failed_batches() == 0);
  p.value().reset();
  OpenOptions ro;
  ro.create = false;
  auto db = Db::open(path, ro);
  REQUIRE(db.has_value());
  CHECK(db.value()->scalar("PRAGMA user_version") == storage::kSchemaVersion);
  CHECK(db.value()->scalar("SELECT count(*) FROM outbound_queue") == 1);
  CHECK(db.value()->scalar("SELECT count(*) FROM incoming_qos2") == 1);
}

TEST_CASE("a version 2 file upgrades to v3: queue and retained rows kept, tables clustered") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  {
    OpenOptions o;
    o.target_version = 2;
    auto db = Db::open(path, o);
    REQUIRE(db.has_value());
    Db& d = *db.value();
    CHECK(d.scalar("PRAGMA user_version") == 2);
    CHECK(d.scalar("SELECT count(*) FROM sqlite_schema WHERE name = 'retained' AND "
                   "sql LIKE '%WITHOUT ROWID%'") == 0);
    // Rows as Wisp v2 wrote them, queue seqs out of line (renumbered at load).
    REQUIRE(d.exec("INSERT INTO retained VALUES('keep/me', 1, NULL, 'pub', x'0102', 1);"
                   "INSERT INTO retained VALUES('$SYS/broker/uptime', 0, NULL, '', x'0031', 1);"
                   "INSERT INTO sessions(client_id, version, expiry_s) VALUES('c', 5, 600);"
                   "INSERT INTO outbound_queue VALUES('c', 7, 1, 0, '3', 'a/b', 1, 0, NULL, "
                   "'p', x'00414243', 1);"
                   "INSERT INTO outbound_queue VALUES('c', 9, 1, 0, '', 'a/c', 1, 0, NULL, "
                   "'p', x'0044', 1);")
                .has_value());
  }
  {
    PersistenceOptions o;
    o.path = path;
    auto p = SqlitePersistence::open(o);
    REQUIRE_MESSAGE(p.has_value(), (p ? std::string() : p.error().message));
    broker::core::LoadedState st = p.value()->load();
    REQUIRE(st.retained.size() == 1);  // the stale $SYS/ row is dropped
    CHECK(st.retained[0]->topic == "keep/me");
    REQUIRE(st.sessions.size() == 1);
    REQUIRE(st.sessions[0].outbound.size() == 2);
    CHECK(st.sessions[0].outbound[0].message->topic == "a/b");
    CHECK(st.sessions[0].outbound[0].subscription_ids == std::vector<std::uint32_t>{3});
    CHECK(st.sessions[0].outbound[0].message->bytes == std::vector<std::uint8_t>{0, 'A', 'B', 'C'});
    CHECK(st.sessions[0].outbound[1].message->topic == "a/c");
    // Renumbered 1, 2: popping seq 1 removes the first.
    p.value()->queue_pop("c", 1);
    p.value()->flush();
    CHECK(p.value()->failed_batches() == 0);
  }
  OpenOptions ro;
  ro.create = false;
  auto db = Db::open(path, ro);
  REQUIRE(db.has_value());
  Db& d = *db.value();
  CHECK(d.scalar("PRAGMA user_version") == storage::kSchemaVersion);
  CHECK(d.scalar("SELECT count(*) FROM sqlite_schema WHERE name IN ('retained', "
                 "'outbound_queue') AND sql LIKE '%WITHOUT ROWID%'") == 2);
  CHECK(d.scalar("SELECT count(*) FROM sqlite_schema WHERE name LIKE '%_v3'") == 0);
  CHECK(d.scalar("SELECT count(*) FROM outbound_queue") == 1);
  CHECK(d.scalar("SELECT seq FROM outbound_queue WHERE topic = 'a/c'") == 2);
  CHECK(d.scalar("SELECT count(*) FROM retained") == 1);
}

TEST_CASE("a file from a newer Wisp is refused, not downgraded") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  {
    auto db = Db::open(path, OpenOptions{});
    REQUIRE(db.has_value());
    REQUIRE(db.value()->exec("PRAGMA user_version = 99").has_value());
  }
  auto p = open_at(path, true);  // not damaged: recovery does not apply
  REQUIRE_FALSE(p.has_value());
  CHECK(p.error().message.find(path) != std::string::npos);
  CHECK(p.error().message.find("newer") != std::string::npos);
  CHECK(aside_files(dir).empty());
}

TEST_CASE("damaged databases: a clear error naming the file, nothing started") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  SUBCASE("not an SQLite file") {
    write_file(path, std::string(4096, 'x') + "this is a text file, not a database\n");
  }
  SUBCASE("shorter than the header") { write_file(path, "SQLite format 3"); }
  SUBCASE("truncated to half") {
    make_database(path, 200);
    const std::string full = read_file(path);
    REQUIRE(full.size() > 100'000);
    write_file(path, full.substr(0, full.size() / 2));
  }
  SUBCASE("a corrupted b-tree page") {
    make_database(path, 200);
    std::string content = read_file(path);
    REQUIRE(content.size() > 8192);
    // Page 2 onwards holds the tables' b-trees: scribble over one page header.
    for (std::size_t i = 4096; i < 4096 + 64; ++i) content[i] = '\x7f';
    write_file(path, content);
  }
  const std::string before = read_file(path);
  auto p = open_at(path, false);
  REQUIRE_FALSE(p.has_value());
  INFO(p.error().message);
  CHECK(p.error().message.find(path) != std::string::npos);
  CHECK(p.error().message.find("damaged") != std::string::npos);
  CHECK(read_file(path) == before);  // untouched
  CHECK(aside_files(dir).empty());

  // With recovery: the file goes aside intact, the broker starts empty.
  auto r = open_at(path, true);
  REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
  const auto aside = aside_files(dir);
  REQUIRE(aside.size() == 1);
  CHECK(r.value()->recovered_from() == aside[0].string());
  CHECK(read_file(aside[0].string()) == before);
  broker::core::LoadedState st = r.value()->load();
  CHECK(st.retained.empty());
  CHECK(st.sessions.empty());
}

TEST_CASE("a path that cannot be a database is an error, not a recovery") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "wisp.db");
  auto p = open_at(dir.file("wisp.db"), true);
  REQUIRE_FALSE(p.has_value());
  CHECK(p.error().message.find(dir.file("wisp.db")) != std::string::npos);
  CHECK(std::filesystem::is_directory(dir.path() / "wisp.db"));
}

TEST_CASE("migrate refuses unknown target versions") {
  auto db = Db::open(":memory:", OpenOptions{});
  REQUIRE(db.has_value());
  CHECK_FALSE(storage::migrate(*db.value(), storage::kSchemaVersion + 1).has_value());
  CHECK(storage::migrate(*db.value()).has_value());  // already there: no-op
}
