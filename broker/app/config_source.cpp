// Config source and subcommand registry for the wisp executable.
#include "broker/app/config_source.h"

namespace broker::app {

#if !WISP_HAVE_CONFIG_PARSER
namespace {
// Used only while the config module (wisp_config) is not part of the build: the same
// built-in defaults that default_config() documents in config.h.
Config builtin_defaults() {
  Config cfg;
  ListenerConfig tcp;
  tcp.port = 1883;
  tcp.bind_address = "127.0.0.1";
  tcp.protocol = ListenerProtocol::mqtt;
  ListenerConfig ws;
  ws.port = 8080;
  ws.bind_address = "127.0.0.1";
  ws.protocol = ListenerProtocol::websockets;
  cfg.listeners = {tcp, ws};
  return cfg;
}
}  // namespace
#endif

protocol::Result<Config, protocol::Error> load_configuration(const std::string& path) {
#if WISP_HAVE_CONFIG_PARSER
  if (path.empty()) return default_config();
  return load_config(path);
#else
  if (!path.empty()) {
    return protocol::fail(path + ": configuration files need the config module (wisp_config)");
  }
  return builtin_defaults();
#endif
}

const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> kAll = {};
  return kAll;
}

}  // namespace broker::app
