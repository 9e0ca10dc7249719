// Where the running broker's Config comes from (file via the config module's parser, or the
// built-in defaults) and the registry of `wisp <subcommand>` tools.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "broker/app/config.h"
#include "protocol/result.h"

namespace broker::app {

// Empty path: the built-in defaults. Errors read "path:line: message".
protocol::Result<Config, protocol::Error> load_configuration(const std::string& path);

struct Subcommand {
  std::string name;
  std::string help;
  std::function<int(std::vector<std::string> args)> run;
};
const std::vector<Subcommand>& subcommands();

}  // namespace broker::app
