// The ACL matrix decided by our AclFile must equal what Mosquitto 2 does with the same
// acl_file: a real /usr/sbin/mosquitto on an ephemeral loopback port is probed with real
// clients (tests/security/acl_probe.py, Debian's python3-paho-mqtt) for read and write.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>

#include <sstream>

#include "broker/security/acl_file.h"
#include "tests/tls/test_util.h"
#include "tls/password_file.h"

using namespace std::chrono_literals;
using broker::core::Access;
using broker::security::AclFile;
using test_util::shell_quote;

namespace {

const char* const kAcl = R"(topic read public/#
topic readwrite anon/#
user alice
topic readwrite alice/#
topic deny alice/secret/#
topic read shared/+/status
user bob
topic shared/bob/#
topic deny shared/#
user root
topic readwrite #
pattern readwrite sync/%c/#
pattern readwrite devices/%c/#
pattern read users/%u/inbox
pattern deny devices/%c/locked
pattern write out/%u/%c
)";

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

struct Who {
  std::string client_id;
  std::optional<std::string> user;
  std::string password;
};

}  // namespace

TEST_CASE("our ACL decisions equal Mosquitto 2's for the same acl_file") {
  REQUIRE(std::filesystem::exists("/usr/sbin/mosquitto"));
  REQUIRE(std::filesystem::exists("/usr/bin/python3"));
  REQUIRE(test_util::run("/usr/bin/python3 -c 'import paho.mqtt.client'").exit_code == 0);
  test_util::TempDir dir;
  test_util::write_file(dir.file("acl"), kAcl);
  {
    std::istringstream in;
    std::ostringstream out, err;
    for (const char* u : {"alice", "bob", "carol", "root"}) {
      std::vector<std::string> args = {"-b",           "-I", "1000",
                                       dir.file("pw"), u,    std::string(u) + "-pw"};
      if (std::string(u) == "alice") args.insert(args.begin(), "-c");
      REQUIRE(tls::passwd_main(args, in, out, err) == 0);
    }
  }
  const int port = free_port();
  REQUIRE(port > 0);
  const struct passwd* pw = ::getpwuid(::getuid());
  test_util::write_file(dir.file("mosquitto.conf"),
                        "listener " + std::to_string(port) +
                            " 127.0.0.1\nallow_anonymous true\npassword_file " + dir.file("pw") +
                            "\nacl_file " + dir.file("acl") +
                            "\npersistence false\nlog_dest stderr\nuser " +
                            (pw != nullptr ? pw->pw_name : "root") + "\n");
  test_util::Child broker({"/usr/sbin/mosquitto", "-c", dir.file("mosquitto.conf")});
  REQUIRE_MESSAGE(broker.wait_for_output(" running", 10s), broker.output());

  const std::vector<Who> clients = {
      {"c-alice", "alice", "alice-pw"}, {"alicephone", "alice", "alice-pw"},
      {"c-bob", "bob", "bob-pw"},       {"dev7", "carol", "carol-pw"},
      {"dev9", std::nullopt, ""},
  };
  const std::vector<std::string> topics = {
      "public/news",     "anon/x",
      "alice/x",         "alice/secret/a",
      "shared/x/status", "shared/bob/x",
      "devices/dev7/t",  "devices/dev7/locked",
      "devices/dev9/t",  "users/carol/inbox",
      "out/carol/dev7",  "devices/alicephone/x",
      "other/x",         "alice",
  };
  struct Case {
    const Who* who;
    std::string topic;
    Access access;
  };
  std::vector<Case> cases;
  std::string json = "[";
  for (const auto& w : clients) {
    for (const auto& t : topics) {
      for (Access a : {Access::read, Access::write}) {
        cases.push_back({&w, t, a});
        if (json.size() > 1) json += ",";
        json += R"({"client_id":")" + w.client_id + R"(","user":)" +
                (w.user ? "\"" + *w.user + "\"" : std::string("null")) + R"(,"password":")" +
                w.password + R"(","topic":")" + t + R"(","access":")" +
                (a == Access::read ? "read" : "write") + "\"}";
      }
    }
  }
  json += "]";
  test_util::write_file(dir.file("cases.json"), json);
  const std::string probe = std::string(WISP_SOURCE_DIR) + "/tests/security/acl_probe.py";
  auto r = test_util::run("/usr/bin/python3 " + shell_quote(probe) + " " + std::to_string(port) +
                              " " + shell_quote(dir.file("cases.json")) + " root root-pw",
                          120);
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);

  auto acl = AclFile::load(dir.file("acl"));
  REQUIRE(acl);
  std::istringstream lines(r.output);
  std::size_t index = 0;
  int seen = 0;
  std::size_t checked = 0;
  std::size_t allowed = 0;
  while (lines >> index >> seen) {
    REQUIRE(index < cases.size());
    const Case& c = cases[index];
    const std::optional<std::string_view> user =
        c.who->user ? std::optional<std::string_view>(*c.who->user) : std::nullopt;
    const bool ours = acl->allowed(c.who->client_id, user, c.topic, c.access);
    CAPTURE(c.who->client_id);
    CAPTURE(c.topic);
    CAPTURE(c.access == Access::read ? "read" : "write");
    CHECK(ours == (seen == 1));
    ++checked;
    allowed += ours ? 1 : 0;
  }
  CHECK(checked == cases.size());
  CHECK(allowed > 10);  // the matrix exercises both outcomes
  CHECK(allowed < checked - 10);
}
