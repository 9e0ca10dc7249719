// wisp-bench: MQTT load generator (see runner.h and `wisp-bench --help`).
#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "options.h"
#include "runner.h"

int main(int argc, char** argv) {
  // Connection storms need many descriptors: use whatever the hard limit allows.
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  const wisp_bench::ParseResult parsed = wisp_bench::parse_options(args);
  if (!parsed.options) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message << "\n";
    return parsed.exit_code;
  }
  wisp_bench::Summary summary;
  const int rc = wisp_bench::run_bench(*parsed.options, summary);
  std::cout << wisp_bench::format_summary_line(summary) << std::endl;
  if (!parsed.options->json_file.empty()) {
    std::ofstream f(parsed.options->json_file);
    f << wisp_bench::format_summary_json(summary) << "\n";
    if (!f) {
      std::cerr << "wisp-bench: cannot write " << parsed.options->json_file << "\n";
      return 1;
    }
  }
  return rc;
}
