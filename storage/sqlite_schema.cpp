// The schema, one migration per version. Never edit a released migration: add the next one.
//
// Message columns (retained, queue, inflight, will) store the engine's Message as is:
//   topic, qos, expiry_ms (absolute, ms since the Unix epoch, NULL = none), origin,
//   body = [forwarded v5 properties | payload], payload_offset.
#include <sqlite3.h>

#include <string>

#include "storage/schema.h"
#include "storage/sqlite_db.h"

namespace storage {

namespace {

constexpr const char* kMigrations[] = {
    // v1: retained messages, sessions with their will, subscriptions.
    R"sql(
CREATE TABLE retained(
  topic TEXT PRIMARY KEY NOT NULL,
  qos INTEGER NOT NULL,
  expiry_ms INTEGER,
  origin TEXT NOT NULL,
  body BLOB NOT NULL,
  payload_offset INTEGER NOT NULL
);
CREATE TABLE sessions(
  client_id TEXT PRIMARY KEY NOT NULL,
  version INTEGER NOT NULL,
  expiry_s INTEGER,
  disconnected_ms INTEGER,
  will_topic TEXT,
  will_qos INTEGER,
  will_retain INTEGER,
  will_expiry_ms INTEGER,
  will_body BLOB,
  will_payload_offset INTEGER,
  will_delay_s INTEGER
);
CREATE TABLE subscriptions(
  client_id TEXT NOT NULL,
  filter TEXT NOT NULL,
  qos INTEGER NOT NULL,
  no_local INTEGER NOT NULL,
  retain_as_published INTEGER NOT NULL,
  retain_handling INTEGER NOT NULL,
  subscription_id INTEGER NOT NULL,
  PRIMARY KEY(client_id, filter)
);
)sql",
    // v2: what a persistent session is owed and owes: queued and in-flight outbound
    // messages, incoming QoS 2 ids awaiting PUBREL.
    R"sql(
CREATE TABLE outbound_queue(
  client_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  subscription_ids TEXT NOT NULL,
  topic TEXT,
  msg_qos INTEGER,
  msg_retain INTEGER,
  expiry_ms INTEGER,
  origin TEXT,
  body BLOB,
  payload_offset INTEGER,
  PRIMARY KEY(client_id, seq)
);
CREATE TABLE outbound_inflight(
  client_id TEXT NOT NULL,
  packet_id INTEGER NOT NULL,
  state INTEGER NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  subscription_ids TEXT NOT NULL,
  topic TEXT,
  msg_qos INTEGER,
  msg_retain INTEGER,
  expiry_ms INTEGER,
  origin TEXT,
  body BLOB,
  payload_offset INTEGER,
  PRIMARY KEY(client_id, packet_id)
);
CREATE TABLE incoming_qos2(
  client_id TEXT NOT NULL,
  packet_id INTEGER NOT NULL,
  PRIMARY KEY(client_id, packet_id)
) WITHOUT ROWID;
)sql",
    // v3: the hot tables clustered on their key (WITHOUT ROWID): a queued message or a
    // retained message is one b-tree insert instead of a table row plus an index entry.
    R"sql(
CREATE TABLE outbound_queue_v3(
  client_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  subscription_ids TEXT NOT NULL,
  topic TEXT,
  msg_qos INTEGER,
  msg_retain INTEGER,
  expiry_ms INTEGER,
  origin TEXT,
  body BLOB,
  payload_offset INTEGER,
  PRIMARY KEY(client_id, seq)
) WITHOUT ROWID;
INSERT INTO outbound_queue_v3 SELECT client_id, seq, qos, retain, subscription_ids, topic,
  msg_qos, msg_retain, expiry_ms, origin, body, payload_offset FROM outbound_queue;
DROP TABLE outbound_queue;
ALTER TABLE outbound_queue_v3 RENAME TO outbound_queue;
CREATE TABLE retained_v3(
  topic TEXT PRIMARY KEY NOT NULL,
  qos INTEGER NOT NULL,
  expiry_ms INTEGER,
  origin TEXT NOT NULL,
  body BLOB NOT NULL,
  payload_offset INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO retained_v3 SELECT topic, qos, expiry_ms, origin, body, payload_offset FROM retained;
DROP TABLE retained;
ALTER TABLE retained_v3 RENAME TO retained;
)sql",
};
static_assert(std::size(kMigrations) == kSchemaVersion);

}  // namespace

protocol::Status migrate(Db& db, int target) {
  if (target < 0 || target > kSchemaVersion) {
    return protocol::fail("no schema version " + std::to_string(target));
  }
  const std::int64_t current = db.scalar("PRAGMA user_version");
  if (current < 0)
    return protocol::fail(std::string("cannot read the schema version: ") +
                          sqlite3_errmsg(db.raw()));
  if (current > kSchemaVersion) {
    return protocol::fail("schema version " + std::to_string(current) +
                          " is newer than this Wisp supports (" + std::to_string(kSchemaVersion) +
                          ")");
  }
  for (std::int64_t v = current; v < target; ++v) {
    // DDL is transactional in SQLite: a migration applies fully or not at all.
    if (auto st = db.exec("BEGIN IMMEDIATE"); !st) return st;
    auto st = db.exec(kMigrations[v]);
    if (st) {
      const std::string set_version = "PRAGMA user_version=" + std::to_string(v + 1);
      st = db.exec(set_version.c_str());
    }
    if (st) st = db.exec("COMMIT");
    if (!st) {
      (void)db.exec("ROLLBACK");
      return protocol::fail("migration to schema version " + std::to_string(v + 1) +
                            " failed: " + st.error().message);
    }
  }
  return protocol::ok();
}

}  // namespace storage
