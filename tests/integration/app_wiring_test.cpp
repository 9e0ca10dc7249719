// The composition root wires storage, security and the subcommands into `wisp`: retained
// messages and persistent sessions survive a restart, password files gate CONNECT, and
// `wisp passwd` / `wisp retained clear` / `wisp cert dev` run from the same binary.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "support/broker_process.h"
#include "support/clients.h"
#include "support/raw_client.h"

using namespace wisp_test;
using namespace std::chrono_literals;

TEST_CASE("app: retained messages and queued QoS 1 messages survive a restart") {
  BrokerOptions o;
  o.persistence = true;
  BrokerProcess b(o);
  REQUIRE(b.running());
  REQUIRE(pub(b.tcp_port, "keep/retained", "still-here", 1, 5, {"-r"}).exit_code == 0);
  // A persistent v5 session (expiry 1 h) subscribes, then goes offline; a message is queued.
  auto sub = run_command(
      {"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(b.tcp_port), "-V", "mqttv5", "-i",
       "durable", "-c", "-x", "3600", "-q", "1", "-t", "keep/queued", "-W", "1"},
      15s);
  REQUIRE(pub(b.tcp_port, "keep/queued", "waited-for-you", 1, 5).exit_code == 0);
  REQUIRE(b.restart());
  auto r = run_command({"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(b.tcp_port), "-V",
                        "mqttv5", "-t", "keep/retained", "-C", "1", "-W", "10"},
                       15s);
  CHECK(r.out == "still-here\n");
  auto q = run_command({"mosquitto_sub",
                        "-h",
                        "127.0.0.1",
                        "-p",
                        std::to_string(b.tcp_port),
                        "-V",
                        "mqttv5",
                        "-i",
                        "durable",
                        "-c",
                        "-x",
                        "3600",
                        "-q",
                        "1",
                        "-t",
                        "keep/queued",
                        "-C",
                        "1",
                        "-W",
                        "10"},
                       15s);
  CHECK(q.out == "waited-for-you\n");

  // wisp retained clear works on the stopped broker's database.
  REQUIRE(b.stop() == std::optional<int>(0));
  auto clear = run_command({wisp_binary(), "retained", "clear", "keep/#", "--db",
                            (b.dir / "data" / "wisp.db").string()});
  CHECK(clear.exit_code == 0);
  REQUIRE(b.restart());
  auto gone = run_command({"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(b.tcp_port),
                           "-t", "keep/retained", "--retained-only", "-W", "1"},
                          15s);
  CHECK(gone.out.empty());
}

TEST_CASE("app: wisp passwd writes a file that gates CONNECT") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("wisp-pw-" + std::to_string(::getpid()) + "-" + std::to_string(free_port()));
  std::filesystem::create_directories(dir);
  const auto pw = (dir / "passwords").string();
  REQUIRE(run_command({wisp_binary(), "passwd", "-c", "-b", pw, "alice", "s3cret"}).exit_code == 0);
  {
    BrokerProcess b(global_opts("allow_anonymous false\npassword_file " + pw + "\n"));
    REQUIRE(b.running());
    CHECK(pub(b.tcp_port, "t", "x", 1, 5, {"-u", "alice", "-P", "s3cret"}).exit_code == 0);
    CHECK(pub(b.tcp_port, "t", "x", 1, 5, {"-u", "alice", "-P", "wrong"}).exit_code != 0);
    CHECK(pub(b.tcp_port, "t", "x", 1, 5).exit_code != 0);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("app: wisp cert dev writes a development CA and server certificate") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("wisp-cert-" + std::to_string(::getpid()) + "-" + std::to_string(free_port()));
  auto r = run_command({wisp_binary(), "cert", "dev", "--out", dir.string()});
  CHECK(r.exit_code == 0);
  for (const char* f : {"ca.crt", "ca.key", "server.crt", "server.key"}) {
    CAPTURE(f);
    CHECK(std::filesystem::exists(dir / f));
  }
  std::filesystem::remove_all(dir);
}
