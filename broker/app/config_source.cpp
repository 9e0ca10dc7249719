// Config source and subcommand registry for the wisp executable.
#include "broker/app/config_source.h"

#include "storage/retained_cli.h"
#include "tls/cert_dev.h"
#include "tls/password_file.h"

namespace broker::app {

protocol::Result<Config, protocol::Error> load_configuration(const std::string& path) {
  if (path.empty()) return default_config();
  return load_config(path);
}

const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> kAll = {
      {"passwd", "manage a password file: [-c] FILE USER | -b FILE USER PASS | -D FILE USER",
       [](std::vector<std::string> args) { return tls::passwd_main(args); }},
      {"cert", "development certificates: dev --out DIR [--host NAME]... [--days N] [--force]",
       [](std::vector<std::string> args) { return tls::cert_dev_main(args); }},
      {"retained", "offline retained messages: clear FILTER --db FILE",
       [](std::vector<std::string> args) { return storage::retained_cli_main(std::move(args)); }},
  };
  return kAll;
}

}  // namespace broker::app
