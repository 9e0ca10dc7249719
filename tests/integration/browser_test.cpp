// A real browser (headless Chromium) loads the demo page from the broker's http_dir, receives
// a message published by mosquitto_pub and publishes one that mosquitto_sub receives. The
// test waits on the page's DOM through the DevTools protocol (a promise evaluated in the page
// resolves when the message is shown), so nothing depends on timing.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "support/broker_process.h"
#include "support/clients.h"
#include "support/raw_client.h"

using namespace wisp_test;
using namespace std::chrono_literals;

namespace {

std::string chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return {};
}

// Evaluates `expression` (which may return a promise) in the page; returns the raw JSON reply.
std::optional<std::string> cdp_evaluate(WsClient& ws, int id, const std::string& expression) {
  std::string escaped;
  for (char c : expression) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c == '\n' ? ' ' : c;
  }
  const std::string msg = "{\"id\":" + std::to_string(id) +
                          ",\"method\":\"Runtime.evaluate\",\"params\":{\"expression\":\"" +
                          escaped + "\",\"awaitPromise\":true,\"returnByValue\":true}}";
  if (!ws.send_frame(1, std::span(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size())))
    return std::nullopt;
  const std::string tag = "\"id\":" + std::to_string(id) + ",";
  for (int frames = 0; frames < 1000; ++frames) {
    auto f = ws.read_frame(40000ms);
    if (!f) return std::nullopt;
    std::string text(f->payload.begin(), f->payload.end());
    if (text.find(tag) != std::string::npos) return text;
  }
  return std::nullopt;
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
  Process chrome({browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage", "--remote-debugging-port=0",
                  "--user-data-dir=" + profile.string(), url},
                 {{"HOME", b.dir.string()}});
  REQUIRE(chrome.started());
  auto listening = chrome.wait_line_containing("DevTools listening on ws://", 60s, true);
  REQUIRE(listening);
  // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/..."
  const auto host = listening->find("127.0.0.1:");
  REQUIRE(host != std::string::npos);
  const auto devtools_port = static_cast<std::uint16_t>(std::stoi(listening->substr(host + 10)));
  // The page target's WebSocket path from /json/list.
  std::string page_path;
  for (int i = 0; i < 100 && page_path.empty(); ++i) {  // the target appears with the page
    auto list = http_get(devtools_port, "/json/list");
    if (!list) continue;
    const auto p = list->body.find("/devtools/page/");
    if (p == std::string::npos) {
      chrome.wait_line([](const std::string&) { return false; }, 100ms, true);  // bounded retry
      continue;
    }
    page_path = list->body.substr(p, list->body.find('"', p) - p);
  }
  REQUIRE(!page_path.empty());
  WsClient::Options o;
  o.path = page_path;
  o.protocols = std::nullopt;
  auto cdp = WsClient::connect(devtools_port, o);
  REQUIRE(cdp.ok());
  // The promise lives in the current document; if it is replaced (the page was still
  // loading), the evaluation fails and is retried on the new one.
  std::optional<std::string> reply;
  for (int attempt = 1; attempt <= 20; ++attempt) {
    reply = cdp_evaluate(cdp, attempt, R"(new Promise((resolve) => {
      const text = () => { const el = document.getElementById('received');
                           return el ? el.textContent : ''; };
      const check = () => text().includes('hello-browser-123') ? resolve('RECEIVED ' + text())
                                                                : setTimeout(check, 20);
      check();
      setTimeout(() => resolve('TIMEOUT ' + (document.body ? document.body.innerText : '')),
                 30000);
    }))");
    if (!reply || reply->find("RECEIVED") != std::string::npos ||
        reply->find("TIMEOUT") != std::string::npos) {
      break;
    }
  }
  REQUIRE(reply);
  CHECK_MESSAGE(reply->find("RECEIVED demo/to-browser hello-browser-123") != std::string::npos,
                *reply);
  CHECK(sub->wait_line_containing("demo/from-browser hi-from-page-456", 30s));
}
