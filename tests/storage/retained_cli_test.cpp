// `wisp retained clear FILTER --db FILE`: what matches goes, in one transaction; bad usage
// and bad files give clear errors.
#include "storage/retained_cli.h"

#include <doctest/doctest.h>

#include <fstream>
#include <set>

#include "storage/sqlite_db.h"
#include "storage/sqlite_persistence.h"
#include "storage_test_support.h"

using namespace storage_test;

namespace {

const std::vector<std::string> kTopics = {
    "sensors", "sensors/a", "sensors/a/b",   "sensors/b/temp", "sensorsX",          "sensors-2/a",
    "other/a", "a",         "$SYS/broker/x", "x/sensors/a",    "sensors/a/b/c/d/e",
};

void populate(const std::string& path) {
  {
    storage::PersistenceOptions o;
    o.path = path;
    auto p = storage::SqlitePersistence::open(o);
    REQUIRE(p.has_value());
    for (const auto& t : kTopics) {
      if (!t.starts_with("$SYS/")) p.value()->retained_set(make_message(t, "v"));
    }
  }
  // SqlitePersistence does not store $SYS/ topics, but a file from an older Wisp may hold
  // them: the CLI must still see them.
  storage::OpenOptions o;
  o.create = false;
  auto db = storage::Db::open(path, o);
  REQUIRE(db.has_value());
  REQUIRE(db.value()
              ->exec("INSERT INTO retained(topic, qos, expiry_ms, origin, body, payload_offset) "
                     "VALUES('$SYS/broker/x', 0, NULL, '', x'0076', 1)")
              .has_value());
}

std::set<std::string> remaining(const std::string& path) {
  storage::OpenOptions o;
  o.create = false;
  auto db = storage::Db::open(path, o);
  REQUIRE(db.has_value());
  std::set<std::string> out;
  storage::Query q = db.value()->query("SELECT topic FROM retained");
  while (q.step()) out.insert(q.text(0));
  return out;
}

std::set<std::string> all_but(std::initializer_list<std::string> gone) {
  std::set<std::string> out(kTopics.begin(), kTopics.end());
  for (const auto& g : gone) out.erase(g);
  return out;
}

}  // namespace

TEST_CASE("retained clear deletes exactly what the filter matches") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  populate(path);
  SUBCASE("multi-level wildcard includes the parent level [MQTT-4.7.1-2]") {
    auto n = storage::clear_retained(path, "sensors/#");
    REQUIRE(n.has_value());
    CHECK(n.value() == 5);
    CHECK(remaining(path) ==
          all_but({"sensors", "sensors/a", "sensors/a/b", "sensors/b/temp", "sensors/a/b/c/d/e"}));
  }
  SUBCASE("single-level wildcard") {
    auto n = storage::clear_retained(path, "sensors/+/temp");
    REQUIRE(n.has_value());
    CHECK(n.value() == 1);
    CHECK(remaining(path) == all_but({"sensors/b/temp"}));
  }
  SUBCASE("a topic name is an exact match") {
    auto n = storage::clear_retained(path, "sensors/a");
    REQUIRE(n.has_value());
    CHECK(n.value() == 1);
    CHECK(remaining(path) == all_but({"sensors/a"}));
  }
  SUBCASE("'#' spares $-topics [MQTT-4.7.2-1]") {
    auto n = storage::clear_retained(path, "#");
    REQUIRE(n.has_value());
    CHECK(n.value() == kTopics.size() - 1);
    CHECK(remaining(path) == std::set<std::string>{"$SYS/broker/x"});
  }
  SUBCASE("'+/a' from the top") {
    auto n = storage::clear_retained(path, "+/a");
    REQUIRE(n.has_value());
    CHECK(n.value() == 3);
    CHECK(remaining(path) == all_but({"sensors/a", "sensors-2/a", "other/a"}));
  }
  SUBCASE("$SYS/# reaches $-topics") {
    auto n = storage::clear_retained(path, "$SYS/#");
    REQUIRE(n.has_value());
    CHECK(n.value() == 1);
  }
  SUBCASE("nothing matches") {
    auto n = storage::clear_retained(path, "nothing/#");
    REQUIRE(n.has_value());
    CHECK(n.value() == 0);
    CHECK(remaining(path) == all_but({}));
  }
}

TEST_CASE("retained_cli_main: usage, output and errors") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  populate(path);
  CHECK(storage::retained_cli_main({"clear", "sensors/#", "--db", path}) == 0);
  CHECK(remaining(path).count("sensors/a") == 0);
  CHECK(storage::retained_cli_main({"retained", "clear", "--db=" + path, "other/#"}) == 0);
  CHECK(remaining(path).count("other/a") == 0);

  CHECK(storage::retained_cli_main({}) == 2);
  CHECK(storage::retained_cli_main({"list"}) == 2);
  CHECK(storage::retained_cli_main({"clear", "--db", path}) == 2);   // no filter
  CHECK(storage::retained_cli_main({"clear", "a/#"}) == 2);          // no --db
  CHECK(storage::retained_cli_main({"clear", "a/#", "--db"}) == 2);  // --db without file
  CHECK(storage::retained_cli_main({"clear", "a", "b", "--db", path}) == 2);
  CHECK(storage::retained_cli_main({"--help"}) == 0);

  CHECK(storage::retained_cli_main({"clear", "a/#/b", "--db", path}) == 1);  // invalid filter
  CHECK(storage::retained_cli_main({"clear", "$share/g/a", "--db", path}) == 1);
  const std::string missing = dir.file("missing.db");
  CHECK(storage::retained_cli_main({"clear", "#", "--db", missing}) == 1);
  CHECK_FALSE(std::filesystem::exists(missing));  // an offline tool never creates a database
  auto err = storage::clear_retained(missing, "#");
  REQUIRE_FALSE(err.has_value());
  CHECK(err.error().message.find(missing) != std::string::npos);
}

TEST_CASE("retained clear on a damaged file names it and changes nothing") {
  TempDir dir;
  const std::string path = dir.file("wisp.db");
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(8192, 'z');
  }
  auto n = storage::clear_retained(path, "#");
  REQUIRE_FALSE(n.has_value());
  CHECK(n.error().message.find(path) != std::string::npos);
  CHECK(n.error().message.find("damaged") != std::string::npos);
  CHECK(storage::retained_cli_main({"clear", "#", "--db", path}) == 1);
}
