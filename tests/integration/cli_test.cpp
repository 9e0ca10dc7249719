// The wisp command line: --version, --help, --test-config, -p, config errors, logging, and
// graceful shutdown on SIGTERM/SIGINT.
#include <doctest/doctest.h>
#include <signal.h>

#include <fstream>

#include "support/broker_process.h"
#include "support/clients.h"
#include "support/mqtt_bytes.h"

using namespace wisp_test;
using namespace std::chrono_literals;

TEST_CASE("cli: --version and --help") {
  auto v = run_command({wisp_binary(), "--version"});
  CHECK(v.exit_code == 0);
  CHECK(v.out.rfind("wisp ", 0) == 0);
  auto h = run_command({wisp_binary(), "--help"});
  CHECK(h.exit_code == 0);
  for (const char* opt : {"-c", "-p", "-v", "--version", "--test-config"}) {
    CAPTURE(opt);
    CHECK(h.out.find(opt) != std::string::npos);
  }
  auto bad = run_command({wisp_binary(), "--no-such-option"});
  CHECK(bad.exit_code != 0);
}

TEST_CASE("cli: --test-config accepts a good file and names file:line in a bad one") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("wisp-cli-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "good.conf") << "listener 18830 127.0.0.1\nprotocol mqtt\n";
  std::ofstream(dir / "bad.conf") << "listener 18830 127.0.0.1\nno_such_key 1\n";
  auto good = run_command({wisp_binary(), "--test-config", "-c", (dir / "good.conf").string()});
  CHECK(good.exit_code == 0);
  auto bad = run_command({wisp_binary(), "--test-config", "-c", (dir / "bad.conf").string()});
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("bad.conf:2") != std::string::npos);
  // Running with the bad file fails the same way, before binding anything.
  auto run_bad = run_command({wisp_binary(), "-c", (dir / "bad.conf").string()}, 10s);
  CHECK(run_bad.exit_code != 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("cli: -p sets the MQTT/TCP port of the defaults") {
  // The built-in defaults also listen on 127.0.0.1:8080; skip if something else holds it.
  if (!TcpClient::connect(8080, 500ms)) {
    const std::uint16_t port = free_port();
    // The defaults keep data in ./wisp-data: run in a temp dir.
    const auto cwd = std::filesystem::temp_directory_path() /
                     ("wisp-cli-p-" + std::to_string(getpid()) + "-" + std::to_string(port));
    std::filesystem::create_directories(cwd);
    struct Cleanup {
      std::filesystem::path dir;
      ~Cleanup() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    } cleanup{cwd};
    Process p({wisp_binary(), "-p", std::to_string(port)}, {}, cwd.string());
    auto ready = p.wait_line(
        [](const std::string& l) {
          return l.find("wisp ready") != std::string::npos ||
                 l.find("cannot listen") != std::string::npos;
        },
        10s, true);
    REQUIRE(ready);
    if (ready->find("wisp ready") != std::string::npos) {
      auto c = TcpClient::connect(port);
      REQUIRE(c);
      REQUIRE(c->send_all(mqtt_connect("cli-p")));
      auto ack = read_packet(*c);
      REQUIRE(ack);
      CHECK(ack->type() == 2);
      p.signal(SIGTERM);
      CHECK(p.wait_exit(10s) == std::optional<int>(0));
    }
  }
}

TEST_CASE("cli: one log line per connect and disconnect") {
  BrokerProcess b;
  REQUIRE(b.running());
  auto r = pub(b.tcp_port, "log/t", "x", 0, 5, {"-i", "log-client-42"});
  CHECK(r.exit_code == 0);
  CHECK(b.wait_log("log-client-42"));
  b.stop();
  std::size_t lines = 0;
  for (const auto& l : b.process().lines(true))
    lines += l.find("log-client-42") != std::string::npos;
  CHECK(lines >= 2);
}

TEST_CASE("shutdown: SIGTERM sends 5.0 clients DISCONNECT 0x8B and exits 0") {
  BrokerProcess b;
  REQUIRE(b.running());
  auto v5 = TcpClient::connect(b.tcp_port);
  REQUIRE(v5);
  REQUIRE(v5->send_all(mqtt_connect("v5-client", 5)));
  auto ack = read_packet(*v5);
  REQUIRE(ack);
  auto v5ws = WsClient::connect(b.ws_port, {});
  REQUIRE(v5ws.ok());
  REQUIRE(v5ws.send_binary(mqtt_connect("v5-ws-client", 5)));
  REQUIRE(read_packet(v5ws));
  auto v3 = TcpClient::connect(b.tcp_port);
  REQUIRE(v3);
  REQUIRE(v3->send_all(mqtt_connect("v3-client", 4)));
  REQUIRE(read_packet(*v3));

  SUBCASE("SIGTERM") { b.process().signal(SIGTERM); }
  SUBCASE("SIGINT") { b.process().signal(SIGINT); }
  auto d = read_packet(*v5);
  REQUIRE(d);
  CHECK(d->type() == 14);
  REQUIRE(!d->body.empty());
  CHECK(d->body[0] == 0x8B);
  auto dws = read_packet(v5ws);
  REQUIRE(dws);
  CHECK(dws->type() == 14);
  CHECK(v3->wait_closed());
  CHECK(b.process().wait_exit(10s) == std::optional<int>(0));
}
