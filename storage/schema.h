// Schema versions and migrations of the Wisp database (PRAGMA user_version). Each migration
// runs in its own transaction; a file from an older Wisp is upgraded in place at open.
#pragma once

#include "protocol/result.h"

namespace storage {

class Db;

// v1: retained messages, sessions (with will), subscriptions.
// v2: per-session outbound queue, outbound in-flight, incoming QoS 2 packet ids.
// v3: outbound_queue and retained as WITHOUT ROWID tables clustered on their primary key.
inline constexpr int kSchemaVersion = 3;

// Migrates `db` from its current version up to `target` (kSchemaVersion by default).
// A file newer than this build (user_version > kSchemaVersion) is refused.
protocol::Status migrate(Db& db, int target = kSchemaVersion);

}  // namespace storage
