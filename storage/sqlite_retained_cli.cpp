// `wisp retained clear FILTER --db FILE`: delete retained messages under a filter, offline.
#include <cstdio>
#include <string>
#include <vector>

#include "protocol/topic.h"
#include "storage/retained_cli.h"
#include "storage/sqlite_db.h"

namespace storage {

namespace {

constexpr const char* kUsage =
    "usage: wisp retained clear FILTER --db FILE\n"
    "  Deletes every retained message whose topic matches FILTER (e.g. 'sensors/#') from the\n"
    "  database FILE (persistence_location/persistence_file) of a stopped broker.\n";

// The literal part of `filter` before its first wildcard, without a trailing '/': every
// matching topic starts with it ("a/b/#" also matches "a/b" [MQTT-4.7.1-2]).
std::string literal_prefix(std::string_view filter) {
  std::string prefix(filter.substr(0, filter.find_first_of("+#")));
  if (prefix.size() != filter.size() && !prefix.empty() && prefix.back() == '/') {
    prefix.pop_back();
  }
  return prefix;
}

// The smallest string greater than every string starting with `prefix`; empty if none.
std::string prefix_end(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty())
    prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

}  // namespace

protocol::Result<std::size_t, protocol::Error> clear_retained(const std::string& db_path,
                                                              std::string_view filter) {
  if (protocol::is_shared(filter) || !protocol::valid_topic_filter(filter)) {
    return protocol::fail("invalid topic filter '" + std::string(filter) + "'");
  }
  OpenOptions o;
  o.create = false;
  o.sync = Sync::full;
  auto opened = Db::open(db_path, o);
  if (!opened) return protocol::fail(opened.error().message);
  Db& db = *opened.value();
  if (auto st = db.exec("BEGIN IMMEDIATE"); !st) {
    return protocol::fail("database " + db_path + ": " + st.error().message);
  }
  std::vector<std::string> topics;
  {
    const std::string prefix = literal_prefix(filter);
    const std::string end = prefix_end(prefix);
    const bool exact = prefix.size() == filter.size();
    // The range uses the topic's primary-key index; topic_matches decides.
    Query q = exact            ? db.query("SELECT topic FROM retained WHERE topic = ?1")
              : prefix.empty() ? db.query("SELECT topic FROM retained")
              : end.empty()
                  ? db.query("SELECT topic FROM retained WHERE topic >= ?1")
                  : db.query("SELECT topic FROM retained WHERE topic >= ?1 AND topic < ?2");
    if (!prefix.empty()) q.bind(1, std::string_view(prefix));
    if (!exact && !prefix.empty() && !end.empty()) q.bind(2, std::string_view(end));
    while (q.step()) {
      std::string topic = q.text(0);
      if (protocol::topic_matches(filter, topic)) topics.push_back(std::move(topic));
    }
    if (!q.ok()) {
      (void)db.exec("ROLLBACK");
      return protocol::fail("database " + db_path + ": " + q.error());
    }
  }
  for (const std::string& topic : topics) {
    Query del = db.query("DELETE FROM retained WHERE topic = ?1");
    if (auto st = del.bind(1, std::string_view(topic)).run(); !st) {
      (void)db.exec("ROLLBACK");
      return protocol::fail("database " + db_path + ": " + st.error().message);
    }
  }
  if (auto st = db.exec("COMMIT"); !st) {
    (void)db.exec("ROLLBACK");
    return protocol::fail("database " + db_path + ": " + st.error().message);
  }
  return topics.size();
}

int retained_cli_main(std::vector<std::string> args) {
  std::size_t i = 0;
  if (i < args.size() && args[i] == "retained") ++i;
  if (i < args.size() && (args[i] == "-h" || args[i] == "--help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (i >= args.size() || args[i] != "clear") {
    std::fputs(
        i >= args.size() ? "wisp retained: missing command\n" : "wisp retained: unknown command\n",
        stderr);
    std::fputs(kUsage, stderr);
    return 2;
  }
  ++i;
  std::string filter;
  std::string db;
  bool have_filter = false;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--db") {
      if (i + 1 >= args.size()) {
        std::fputs("wisp retained clear: --db needs a FILE\n", stderr);
        return 2;
      }
      db = args[++i];
    } else if (a.rfind("--db=", 0) == 0) {
      db = a.substr(5);
    } else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (!have_filter && (a.empty() || a[0] != '-' || a == "-")) {
      filter = a;
      have_filter = true;
    } else {
      std::fprintf(stderr, "wisp retained clear: unexpected argument '%s'\n", a.c_str());
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (!have_filter || db.empty()) {
    std::fputs(!have_filter ? "wisp retained clear: missing FILTER\n"
                            : "wisp retained clear: missing --db FILE\n",
               stderr);
    std::fputs(kUsage, stderr);
    return 2;
  }
  auto n = clear_retained(db, filter);
  if (!n) {
    std::fprintf(stderr, "wisp retained clear: %s\n", n.error().message.c_str());
    return 1;
  }
  std::printf("deleted %zu retained message%s matching '%s' from %s\n", n.value(),
              n.value() == 1 ? "" : "s", filter.c_str(), db.c_str());
  return 0;
}

}  // namespace storage
