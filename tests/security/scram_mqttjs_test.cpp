// SCRAM-SHA-512 interop: the real wisp binary with a Mosquitto password file, and MQTT.js 5 with
// an independently written SCRAM client (scram_mqttjs_client.js) over TCP on 127.0.0.1.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/tls/test_util.h"

using namespace std::chrono_literals;
using test_util::shell_quote;

namespace {

// mosquitto_passwd 2.0.11: alice / secret ($7$, 101 iterations).
const std::string kPasswords =
    "alice:$7$101$AKWeCOSnFEMRHni9$6AeaTAwiRDm5fFrY64G7cEsijFzB8iPCMX4F6Y06KKGdnAdWHIqX9y+"
    "dCGzsiO12xAf+Qet+VYEbzuaCdXuyZg==\n";

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
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

}  // namespace

TEST_CASE("MQTT.js SCRAM-SHA-512 against wisp: success, wrong password, re-auth, bad method") {
  const auto node = test_util::run("command -v node");
  REQUIRE_MESSAGE(node.exit_code == 0, "node is needed for this test");
  const std::string node_bin = node.output.substr(0, node.output.find('\n'));
  const std::string client =
      std::string(WISP_SOURCE_DIR) + "/tests/security/scram_mqttjs_client.js";
  const std::string mqttjs = std::string(WISP_SOURCE_DIR) + "/tests/node/node_modules/mqtt";

  test_util::TempDir dir;
  test_util::write_file(dir.file("pw"), kPasswords);
  int port = 0;
  std::unique_ptr<test_util::Child> wisp;
  for (int attempt = 0; attempt < 3 && !wisp; ++attempt) {  // a lost port race: try another
    port = free_port();
    REQUIRE(port != 0);
    test_util::write_file(dir.file("wisp.conf"),
                          "persistence false\npersistence_location " + dir.file("data") +
                              "\nallow_anonymous false\npassword_file " + dir.file("pw") +
                              "\nlistener " + std::to_string(port) + " 127.0.0.1\nprotocol mqtt\n");
    auto child = std::make_unique<test_util::Child>(
        std::vector<std::string>{WISP_BINARY, "-c", dir.file("wisp.conf")});
    if (child->wait_for_output("wisp ready", 10s)) wisp = std::move(child);
  }
  REQUIRE_MESSAGE(wisp, "wisp did not start");

  auto js = [&](const std::string& user, const std::string& password, const char* bits,
                bool reauth = false) {
    return test_util::run(shell_quote(node_bin) + " " + shell_quote(client) + " " +
                              shell_quote(mqttjs) + " " + std::to_string(port) + " " +
                              shell_quote(user) + " " + shell_quote(password) + " " + bits +
                              (reauth ? " reauth" : ""),
                          20)
        .output;
  };
  const std::string ok = js("alice", "secret", "512");
  CHECK_MESSAGE(ok.find("CONNACK 0 server verified") != std::string::npos, ok);
  const std::string wrong = js("alice", "nope", "512");
  CHECK_MESSAGE(wrong.find("ERROR 134") != std::string::npos, wrong);  // 0x86
  const std::string again = js("alice", "secret", "512", true);
  CHECK_MESSAGE(again.find("REAUTH OK server verified") != std::string::npos, again);
  const std::string sha256 = js("alice", "secret", "256");               // no scram_file configured
  CHECK_MESSAGE(sha256.find("ERROR 140") != std::string::npos, sha256);  // 0x8C
  CHECK(wisp->wait_for_output("auth SCRAM-SHA-512", 5s));
}
