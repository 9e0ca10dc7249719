// Config parser: include_dir (Mosquitto's order, scoping per file, errors in included files).
#include <doctest/doctest.h>

#include "broker/app/config.h"
#include "config_test_util.h"

using namespace broker::app;
using namespace config_test;

namespace {

// The ports of the listeners, in the order they were declared.
std::vector<int> ports(const Config& c) {
  std::vector<int> out;
  for (const auto& l : c.listeners) out.push_back(l.port);
  return out;
}

}  // namespace

TEST_CASE("include_dir loads .conf files in Mosquitto's order") {
  TempDir dir;
  // The example from mosquitto.conf(5): b.conf, A.conf, 01.conf, a.conf, B.conf, 00.conf load
  // as 00.conf 01.conf A.conf a.conf B.conf b.conf.
  dir.write("conf.d/b.conf", "listener 2005\n");
  dir.write("conf.d/A.conf", "listener 2002\n");
  dir.write("conf.d/01.conf", "listener 2001\n");
  dir.write("conf.d/a.conf", "listener 2003\n");
  dir.write("conf.d/B.conf", "listener 2004\n");
  dir.write("conf.d/00.conf", "listener 2000\n");
  // Not loaded: other extensions, a bare ".conf", a directory named like a config file.
  dir.write("conf.d/README", "this is not a config file\n");
  dir.write("conf.d/c.conf.disabled", "garbage\n");
  dir.write("conf.d/.conf", "garbage\n");
  dir.mkdir("conf.d/sub.conf");
  const Config c = parse_ok(dir, "include_dir " + dir.str("conf.d") + "\n");
  CHECK(ports(c) == std::vector<int>{2000, 2001, 2002, 2003, 2004, 2005});
  CHECK(dir.relative(c.listeners[2].file) == "conf.d/A.conf:1");
}

TEST_CASE("several include_dir lines are processed in order, each where it appears") {
  TempDir dir;
  dir.write("one.d/B.conf", "listener 3002\n");
  dir.write("one.d/C.conf", "listener 3003\n");
  dir.write("two.d/A.conf", "listener 3001\n");
  dir.write("two.d/D.conf", "listener 3004\n");
  const Config c = parse_ok(dir,
                            "listener 3000\n"
                            "include_dir " +
                                dir.str("one.d") + "\n" + "include_dir " + dir.str("two.d") + "\n" +
                                "listener 3005\n");
  CHECK(ports(c) == std::vector<int>{3000, 3002, 3003, 3001, 3004, 3005});
}

TEST_CASE("each file starts at global scope, the main file's listener scope resumes after") {
  TempDir dir;
  dir.write("conf.d/tls.conf",
            "# listener keys before a listener in this file go to the default listener\n"
            "certfile /c.pem\n"
            "keyfile /k.pem\n"
            "listener 8883\n"
            "mount_point inc/\n");
  const Config c = parse_ok(dir,
                            "port 1883\n"
                            "listener 9001\n"
                            "protocol websockets\n"
                            "include_dir " +
                                dir.str("conf.d") +
                                "\n"
                                "max_connections 7\n");  // still listener 9001's
  REQUIRE(c.listeners.size() == 3);
  CHECK(c.listeners[0].port == 1883);  // the default listener
  REQUIRE(c.listeners[0].tls.has_value());
  CHECK(c.listeners[0].tls->certfile == "/c.pem");
  CHECK(c.listeners[1].port == 9001);
  CHECK(c.listeners[1].policy.max_connections == 7);
  CHECK_FALSE(c.listeners[1].tls.has_value());
  CHECK(c.listeners[2].port == 8883);
  CHECK(c.listeners[2].policy.mount_point == "inc/");
  CHECK(c.max_connections == 0);
}

TEST_CASE("errors and warnings in included files name that file and line") {
  TempDir dir;
  dir.write("conf.d/10-ok.conf", "listener 1883\nallow_anonymous true\n");
  dir.write("conf.d/20-bad.conf", "# bad\n\nmax_inflight_messages many\n");
  CHECK(parse_error(dir, "include_dir " + dir.str("conf.d") + "\n") ==
        "conf.d/20-bad.conf:3: 'max_inflight_messages' must be an integer from 0 to 65535, not "
        "'many'");

  TempDir dir2;
  dir2.write("conf.d/x.conf", "\nconnection bridge1\n");
  const Config c = parse_ok(dir2, "include_dir " + dir2.str("conf.d") + "\n");
  CHECK(warnings_of(dir2, c) ==
        std::vector<std::string>{"conf.d/x.conf:2: 'connection' is not supported by Wisp yet; "
                                 "ignored"});
}

TEST_CASE("include_dir errors") {
  TempDir dir;
  CHECK(parse_error(dir, "\ninclude_dir " + dir.str("missing") + "\n") ==
        "wisp.conf:2: 'include_dir' 'missing' is not a readable directory");
  CHECK(parse_error(dir, "include_dir\n") == "wisp.conf:1: 'include_dir' needs a directory");

  dir.write("nested.d/a.conf", "include_dir " + dir.str("nested.d") + "\n");
  CHECK(parse_error(dir, "include_dir " + dir.str("nested.d") + "\n") ==
        "nested.d/a.conf:1: 'include_dir' is only allowed in the main configuration file");

  const std::string main = dir.write("self.d/main.conf", "include_dir " + dir.str("self.d") + "\n");
  CHECK(load_error(dir, main) ==
        "self.d/main.conf:1: 'include_dir' 'self.d' contains the main configuration file");

  dir.write("dup.d/a.conf", "persistence_location /data\n");
  CHECK(parse_error(dir,
                    "persistence_location /var/lib/wisp\ninclude_dir " + dir.str("dup.d") + "\n") ==
        "dup.d/a.conf:1: duplicate 'persistence_location' (first set at wisp.conf:1)");
}
