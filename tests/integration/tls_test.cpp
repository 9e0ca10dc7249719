// TLS listeners (lws on OpenSSL) with a `wisp cert dev` certificate: MQTT over TLS, and the
// one-port TLS listener serving MQTT/TLS, WSS and HTTPS; plaintext on a TLS port fails.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "support/broker_process.h"
#include "support/clients.h"
#include "support/raw_client.h"

using namespace wisp_test;
using namespace std::chrono_literals;

TEST_CASE("tls: MQTT over TLS, WSS and MQTT/TLS on the one-port listener") {
  // Certificates first (they live in a dir the broker config points at).
  const auto certs = std::filesystem::temp_directory_path() /
                     ("wisp-tls-" + std::to_string(::getpid()) + "-" + std::to_string(free_port()));
  REQUIRE(run_command({wisp_binary(), "cert", "dev", "--out", certs.string()}).exit_code == 0);
  const std::string tls_lines = "certfile " + (certs / "server.crt").string() + "\nkeyfile " +
                                (certs / "server.key").string() + "\n";
  BrokerOptions o;
  o.tcp = tls_lines;
  o.ws = tls_lines;
  {
    BrokerProcess b(o);
    REQUIRE(b.running());
    const std::string ca = (certs / "ca.crt").string();
    const std::vector<std::string> tls = {"--cafile", ca, "-h", "localhost"};
    // Plaintext MQTT on a TLS port does not get through.
    CHECK(pub(b.tcp_port, "t", "plain", 0, 4).exit_code != 0);
    auto retained = tls;
    retained.push_back("-r");
    REQUIRE(pub(b.tcp_port, "tls/retained", "secret-hello", 1, 5, retained).exit_code == 0);
    auto got = run_command({"mosquitto_sub", "-p", std::to_string(b.tcp_port), "--cafile", ca, "-h",
                            "localhost", "-t", "tls/retained", "-C", "1", "-W", "10"},
                           15s);
    CHECK(got.out == "secret-hello\n");
    // The same message from the one-port TLS listener, natively over TLS ...
    auto one = run_command({"mosquitto_sub", "-p", std::to_string(b.ws_port), "--cafile", ca, "-h",
                            "localhost", "-t", "tls/retained", "-C", "1", "-W", "10"},
                           15s);
    CHECK(one.out == "secret-hello\n");
    // ... and Paho Python over wss:// to a TLS subscriber and back.
    for (int version : {4, 5}) {
      CAPTURE(version);
      auto r = run_command({python(), clients_dir() + "/paho_roundtrip.py", "--sub",
                            "wss:" + std::to_string(b.ws_port) + ":/mqtt", "--pub",
                            "tls:" + std::to_string(b.tcp_port), "--version",
                            std::to_string(version), "--cafile", ca},
                           60s);
      CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
    }
  }
  std::filesystem::remove_all(certs);
}
