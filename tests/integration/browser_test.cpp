// A real browser (headless Chromium) loads the demo page from the broker's http_dir, receives
// a message published by mosquitto_pub and publishes one that mosquitto_sub receives.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "support/broker_process.h"
#include "support/clients.h"

using namespace wisp_test;
using namespace std::chrono_literals;

namespace {
std::string chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return {};
}
}  // namespace

TEST_CASE("browser: MQTT.js in Chromium talks to mosquitto clients both ways") {
  const std::string browser = chromium();
  if (browser.empty() || !std::filesystem::exists(std::string(WISP_WWW_DIR) + "/mqtt.min.js")) {
    MESSAGE("chromium or the demo page bundle is missing; skipped");
    return;
  }
  BrokerProcess b(ws_opts(std::string("http_dir ") + WISP_WWW_DIR + "\n"));
  REQUIRE(b.running());
  // mosquitto -> browser: a retained message is waiting when the page subscribes.
  REQUIRE(pub(b.tcp_port, "demo/to-browser", "hello-browser-123", 1, 4, {"-r"}).exit_code == 0);
  // browser -> mosquitto: a synced subscriber sees what the page publishes.
  auto sub = start_sub(b.tcp_port, {"demo/from-browser"}, 1, 5);
  REQUIRE(sub);

  const auto profile = b.dir / "chromium-profile";
  const std::string url =
      "http://127.0.0.1:" + std::to_string(b.ws_port) +
      "/index.html?sub=demo/to-browser&pub=demo/from-browser&msg=hi-from-page-456";
  auto r = run_command(
      {browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
       "--disable-background-networking", "--disable-component-update", "--disable-sync",
       "--disable-dev-shm-usage", "--user-data-dir=" + profile.string(),
       "--virtual-time-budget=10000", "--dump-dom", url},
      90s, {{"HOME", b.dir.string()}});
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK_MESSAGE(r.out.find("demo/to-browser hello-browser-123") != std::string::npos, r.out);
  CHECK(sub->wait_line_containing("demo/from-browser hi-from-page-456", 20s));
}
