// wisp: the broker executable. CLI (CLI11): run the broker, check a config, or dispatch a
// subcommand (each later tool registers one in subcommands()).
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "broker/app/composition.h"
#include "broker/app/config.h"
#include "broker/app/config_source.h"
#include "broker/app/logging.h"

#ifndef WISP_VERSION
#define WISP_VERSION "0.0.0"
#endif

namespace {

using broker::app::Config;

// Tens of thousands of sockets need more than the usual 1024 descriptors.
void raise_fd_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

void apply_port(Config& cfg, std::uint16_t port) {
  for (auto& l : cfg.listeners) {
    if (l.protocol == broker::app::ListenerProtocol::mqtt && !l.tls) {
      l.port = port;
      l.policy.name.clear();
      return;
    }
  }
  broker::app::ListenerConfig l;
  l.port = port;
  l.bind_address = "127.0.0.1";
  cfg.listeners.insert(cfg.listeners.begin(), std::move(l));
}

// With the built-in defaults, the WebSocket port serves the demo page (build/www) if present.
void serve_demo_page(Config& cfg) {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return;
  const auto www = exe.parent_path() / "www";
  if (!std::filesystem::exists(www / "index.html", ec)) return;
  for (auto& l : cfg.listeners) {
    if (l.protocol == broker::app::ListenerProtocol::websockets && l.http_dir.empty()) {
      l.http_dir = www.string();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wisp " WISP_VERSION
               ": MQTT 3.1.1/5.0 broker (MQTT over TCP and WebSocket, one event loop)"};
  app.set_version_flag("--version", "wisp " WISP_VERSION);
  std::string config_path;
  int port = 0;
  bool verbose = false;
  bool test_config = false;
  std::string event_lib = "libev";
  app.add_option("-c,--config", config_path, "mosquitto.conf-syntax configuration file")
      ->check(CLI::ExistingFile);
  app.add_option("-p,--port", port, "port of the MQTT/TCP listener (default 1883)")
      ->check(CLI::Range(1, 65535));
  app.add_flag("-v,--verbose", verbose, "debug logging");
  app.add_flag("--test-config", test_config, "check the configuration and exit");
  app.add_option("--event-lib", event_lib, "event backend: libev (epoll, default) or poll")
      ->check(CLI::IsMember({"poll", "libev"}));

  // Subcommands (wisp passwd, wisp cert dev, ...) come from the modules that implement them.
  for (const auto& sub : broker::app::subcommands()) {
    auto* cmd = app.add_subcommand(sub.name, sub.help);
    cmd->allow_extras();
    cmd->prefix_command();
  }
  app.require_subcommand(0, 1);

  CLI11_PARSE(app, argc, argv);

  for (const auto& sub : broker::app::subcommands()) {
    if (auto* cmd = app.get_subcommand(sub.name); cmd->parsed()) return sub.run(cmd->remaining());
  }

  auto loaded = broker::app::load_configuration(config_path);
  if (!loaded) {
    std::fprintf(stderr, "wisp: %s\n", loaded.error().message.c_str());
    return 1;
  }
  Config cfg = std::move(loaded.value());
  if (config_path.empty()) serve_demo_page(cfg);
  if (port != 0) apply_port(cfg, static_cast<std::uint16_t>(port));
  // `log_type debug` / `all` in the file mean the same as -v.
  for (const auto& t : cfg.log_type) cfg.verbose = cfg.verbose || t == "debug" || t == "all";
  if (verbose) cfg.verbose = true;

  if (test_config) {
    for (const auto& w : cfg.warnings) std::fprintf(stderr, "wisp: warning: %s\n", w.c_str());
    std::printf("%s: configuration OK (%zu listener(s))\n",
                config_path.empty() ? "built-in defaults" : config_path.c_str(),
                cfg.listeners.size());
    return 0;
  }

  if (auto st = broker::app::setup_logging(cfg.log_dest, cfg.verbose); !st) {
    std::fprintf(stderr, "wisp: %s\n", st.error().message.c_str());
    return 1;
  }
  for (const auto& w : cfg.warnings) spdlog::warn("{}", w);
  spdlog::info("wisp {} starting ({})", WISP_VERSION,
               config_path.empty() ? std::string("built-in defaults") : config_path);
  raise_fd_limit();
  const auto lib =
      event_lib == "poll" ? broker::transport::EventLib::poll : broker::transport::EventLib::libev;
  return broker::app::run_broker(std::move(cfg), lib);
}
